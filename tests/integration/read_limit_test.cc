// Read limits through the real daemon on real files (BACKY_TEST_XFS): a job's `read-limit` holds
// its rate while a job without one, running at the same time, is unaffected; the global
// `read-limit` is shared evenly by the backups running under it; status and metrics show the
// limits and the time throttled; a file source reads with the idle I/O class while it runs and
// the worker thread gets its priority back afterwards.
//
// The sources are written just before (so they are in the page cache): an unlimited run is fast
// and the limit is all that makes a run slow. Each test prints what it measured.
#include <dirent.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "daemon_support.h"
#include "support/test_env.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace backy::test {

namespace {

constexpr uint64_t MiB = 1 << 20;
constexpr int kIoprioClassIdle = 3;

struct LimitDaemon {
  TempDir dir{xfs_mount(), "limits"};
  std::string socket = (dir / "backyd.sock").string();
  std::unique_ptr<Child> daemon;

  ~LimitDaemon() {
    if (!daemon) return;
    daemon->signal(SIGTERM);
    CHECK(daemon->wait(30) == 0);
    INFO(read_text(dir / "backyd.log"));
  }
  // Starts backyd; `global` and `jobs` are YAML lines under global: and jobs: (indented). New
  // jobs run at once: every job's first run starts with the daemon.
  void start(const std::string& global, const std::string& jobs, int workers = 2) {
    const fs::path config = write_config(
        dir.path(), "global:\n  base-dir: " + (dir / "base").string() + "\n  socket: " + socket +
                        "\n  worker-limit: " + std::to_string(workers) + "\n" + global +
                        "schedules:\n  daily:\n    daily: {interval: 1d, keep: 5}\njobs:\n" + jobs);
    daemon = std::make_unique<Child>(std::vector<std::string>{BACKYD_PATH, "-c", config.string()},
                                     dir / "backyd.log");
    REQUIRE(eventually(20, [&] { return ctl({"version"}).exit_code == 0; }));
  }
  // Writes the source of file job `name` and returns its lines; `extra` lines go under the job.
  std::string job(const std::string& name, uint64_t bytes, uint64_t seed,
                  const std::string& extra = "") {
    write_random(dir / (name + ".img"), 0, bytes, seed);
    return "  " + name + ":\n    schedule: daily\n    source: {type: file, filename: " +
           (dir / (name + ".img")).string() + "}\n" + extra;
  }
  ProcessResult ctl(std::vector<std::string> args) const { return backyctl(socket, args); }
  json job_status(const std::string& job) const { return job_status_of(socket, job); }
  // The job's one revision, once its first run (which starts with the daemon) has committed.
  Revision first_revision(const std::string& job) const {
    REQUIRE(eventually(120, [&] { return revisions_of(dir / "base" / job).size() == 1; }));
    return revisions_of(dir / "base" / job).front();
  }
};

// The I/O scheduling classes of the threads of process `pid` (ioprio_get per thread id).
std::vector<int> thread_io_classes(pid_t pid) {
  std::vector<int> out;
  const fs::path tasks = fs::path("/proc") / std::to_string(pid) / "task";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(tasks, ec)) {
    const long v = ::syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */,
                             std::stoi(e.path().filename().string()));
    if (v >= 0) out.push_back(static_cast<int>(v >> 13));
  }
  return out;
}

}  // namespace

TEST_CASE("a job's read-limit holds its rate, a job without one at the same time is unaffected",
          "[daemon][limits]") {
  const uint64_t rate = 20 * MiB;
  const uint64_t bytes = 160 * MiB;
  LimitDaemon d;
  d.start("", d.job("limited", bytes, 21, "    read-limit: 20MiB\n") + d.job("free", bytes, 22));
  // Both start with the daemon. While the limited one runs, status shows its limit and the time
  // it waited.
  json st;
  REQUIRE(eventually(30, [&] {
    st = d.job_status("limited");
    return st["state"] == "running" && st.contains("progress") &&
           st["progress"]["throttled"].get<double>() > 0.5;
  }));
  INFO(st.dump());
  CHECK(st["read_limit"] == rate);
  CHECK(st["io_priority"] == "idle");
  CHECK(st["throttled"].get<double>() > 0.5);
  CHECK(d.ctl({"status"}).out.find("read-limit 20.0 MiB/s, io-priority idle, throttled ") !=
        std::string::npos);

  const Revision limited = d.first_revision("limited");
  const Revision free = d.first_revision("free");
  const double expected = double(limited.stats.bytes_read) / double(rate);
  std::cout << "read-limit 20 MiB/s: " << limited.stats.bytes_read / MiB << " MiB read in "
            << limited.stats.duration << " s (expected " << expected << " s, "
            << (limited.stats.duration / expected - 1) * 100 << "%); unlimited job at the same "
            << "time: " << free.stats.bytes_read / MiB << " MiB in " << free.stats.duration
            << " s\n";
  CHECK(limited.stats.bytes_read == bytes);
  CHECK(limited.stats.duration == Approx(expected).epsilon(0.15));
  CHECK(free.stats.bytes_read == bytes);
  CHECK(free.stats.duration < 0.25 * limited.stats.duration);

  // After the run: the time throttled in status (the last run), and in the metrics.
  REQUIRE(eventually(10, [&] { return d.job_status("limited")["state"] != "running"; }));
  st = d.job_status("limited");
  CHECK(st["last_run"]["throttled"].get<double>() > 0.5 * expected);
  CHECK(st["throttled"] == st["last_run"]["throttled"]);
  CHECK(d.job_status("free")["throttled"] == 0);
  CHECK(d.job_status("free")["read_limit"].is_null());
  const std::string metrics = d.ctl({"metrics"}).out;
  CHECK(metrics.find("backy_job_read_limit_bytes{job=\"limited\"} 20971520\n") !=
        std::string::npos);
  CHECK(metrics.find("backy_job_read_limit_bytes{job=\"free\"} 0\n") != std::string::npos);
  CHECK(metrics.find("backy_job_throttled_seconds_total{job=\"limited\"} ") != std::string::npos);
  CHECK(metrics.find("backy_read_limit_bytes 0\n") != std::string::npos);
  CHECK(d.ctl({"status", "limited"}).out.find("read-limit 20.0 MiB/s, io-priority idle") !=
        std::string::npos);
}

TEST_CASE("the global read-limit is shared evenly by the backups running under it",
          "[daemon][limits]") {
  const uint64_t bytes = 64 * MiB;
  LimitDaemon d;
  d.start("  read-limit: 20MiB\n", d.job("a", bytes, 31) + d.job("b", bytes, 32));
  const Revision a = d.first_revision("a");
  const Revision b = d.first_revision("b");
  // Together 128 MiB at 20 MiB/s: 6.4 s, each at about half the rate all along.
  const double expected = double(a.stats.bytes_read + b.stats.bytes_read) / double(20 * MiB);
  std::cout << "global read-limit 20 MiB/s, two jobs of 64 MiB at once: " << a.stats.duration
            << " s and " << b.stats.duration << " s (expected " << expected << " s each)\n";
  CHECK(a.stats.duration == Approx(expected).epsilon(0.15));
  CHECK(b.stats.duration == Approx(expected).epsilon(0.15));
  CHECK(a.stats.duration == Approx(b.stats.duration).epsilon(0.15));
  CHECK(d.ctl({"metrics"}).out.find("backy_read_limit_bytes 20971520\n") != std::string::npos);
  CHECK(d.ctl({"status"}).out.find("read-limit 20.0 MiB/s shared by all running backups") !=
        std::string::npos);
}

TEST_CASE("a file source reads with the idle I/O class, and the worker gets its own back",
          "[daemon][limits]") {
  LimitDaemon d;
  d.start("", d.job("idle", 48 * MiB, 41, "    read-limit: 8MiB\n"), 1);
  const pid_t pid = d.daemon->pid();
  // While the (throttled, 6 s) run goes, exactly one thread of the daemon is in the idle class:
  // the worker reading the file.
  REQUIRE(eventually(20, [&] { return d.job_status("idle")["state"] == "running"; }));
  std::vector<int> during;
  REQUIRE(eventually(5, [&] {
    during = thread_io_classes(pid);
    return std::count(during.begin(), during.end(), kIoprioClassIdle) == 1;
  }));
  d.first_revision("idle");
  REQUIRE(eventually(10, [&] { return d.job_status("idle")["state"] != "running"; }));
  const std::vector<int> after = thread_io_classes(pid);
  CHECK_FALSE(after.empty());
  CHECK(std::count(after.begin(), after.end(), kIoprioClassIdle) == 0);
}

}  // namespace backy::test

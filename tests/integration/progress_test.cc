// Progress of a running backup and `run` semantics, with a real daemon and a source that is
// really slow: a block device (a loop device over a file of random data) whose reads the kernel
// throttles (the blkio cgroup's read_bps_device), so a full backup takes several seconds.
//
// What a person and a script see while a backup runs: `status --json` with progress and start,
// `run --wait` on the running job following that very run, `run` without --wait saying
// "already" as a success, `run --all --wait` running every job, each result printed once, and the
// daemon's log with progress lines (BACKYD_PROGRESS_LOG_SECONDS shortens the 30 s interval).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "daemon_support.h"
#include "support/test_env.h"
#include "throttled_device.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace backy::test {

namespace {

constexpr uint64_t kSourceBytes = 96 << 20;
constexpr uint64_t kReadBytesPerSecond = 16 << 20;  // a full run: 6 s

struct SlowDaemon {
  TempDir dir{xfs_mount(), "progress"};
  ThrottledDevice slow;
  std::string socket;
  std::unique_ptr<Child> daemon;

  SlowDaemon() : slow(source(), kReadBytesPerSecond) {
    write_random(dir / "fast.img", 0, 4 << 20, 7);
    socket = (dir / "backyd.sock").string();
    const fs::path config = write_config(
        dir.path(), "global:\n  base-dir: " + (dir / "base").string() + "\n  socket: " + socket +
                        "\n  worker-limit: 2\nschedules:\n  daily:\n    daily: {interval: 1d, "
                        "keep: 5}\njobs:\n  slow:\n    schedule: daily\n    source: {type: file, "
                        "filename: " +
                        slow.device() +
                        "}\n  fast:\n    schedule: daily\n    source: {type: file, filename: " +
                        (dir / "fast.img").string() + "}\n");
    // Born in the throttled group (a new job runs at once: no read may escape the throttle).
    slow.join(::getpid());
    daemon = std::make_unique<Child>(
        std::vector<std::string>{BACKYD_PATH, "-c", config.string()}, dir / "backyd.log",
        std::map<std::string, std::string>{{"BACKYD_PROGRESS_LOG_SECONDS", "1"}});
    ThrottledDevice::leave(std::to_string(::getpid()));
    REQUIRE(eventually(20, [&] { return ctl({"version"}).exit_code == 0; }));
  }
  ~SlowDaemon() {
    daemon->signal(SIGTERM);
    CHECK(daemon->wait(30) == 0);
  }

  fs::path source() {
    write_random(dir / "slow.img", 0, kSourceBytes, 11);
    return dir / "slow.img";
  }
  ProcessResult ctl(std::vector<std::string> args) const { return backyctl(socket, args); }
  json job_status(const std::string& job) const { return job_status_of(socket, job); }
  std::vector<Revision> revisions(const std::string& job) const {
    return revisions_of(dir / "base" / job);
  }
  std::string log() const { return read_text(dir / "backyd.log"); }
};

}  // namespace

TEST_CASE("a slow backup shows its progress, and run --wait follows the run already going",
          "[daemon][progress]") {
  SlowDaemon d;
  // The first run of the new job started at once; status shows how far it got.
  json st;
  REQUIRE(eventually(20, [&] {
    st = d.job_status("slow");
    return st["state"] == "running" && st.contains("progress") && st["progress"]["done"] > 0;
  }));
  INFO(st.dump());
  CHECK(st["progress"]["total"] == kSourceBytes);
  CHECK(st["progress"]["done"] < st["progress"]["total"]);
  CHECK(st["progress"]["rate"] > 0);
  CHECK(st["progress"]["eta"] > 0);
  CHECK(st["running_since"].is_string());
  CHECK(st["next_time"].is_null());  // not a time in the past
  ProcessResult table = d.ctl({"status"});
  CHECK(table.out.find("slow: running since ") != std::string::npos);

  // run --wait on the running job: no conflict, the outcome of that very run.
  ProcessResult wait = d.ctl({"run", "slow", "--wait"});
  INFO(wait.err);
  REQUIRE(wait.exit_code == 0);
  CHECK(wait.err.find("slow: already running") != std::string::npos);
  CHECK(wait.err.find("% (") != std::string::npos);  // a progress line (not a terminal: plain)
  CHECK(wait.err.find("finished") == std::string::npos);
  CHECK(count_of(wait.out, "slow: finished, revision ") == 1);
  const auto revs = d.revisions("slow");
  REQUIRE(revs.size() == 1);
  CHECK(wait.out.find(revs[0].uuid) != std::string::npos);

  // The log: progress lines of a run longer than the interval, and a final line with figures.
  const std::string log = d.log();
  CHECK(log.find("[slow] progress: ") != std::string::npos);
  CHECK(log.find("run ok: revision " + revs[0].uuid + ", 96.0 MiB image, 96.0 MiB read at ") !=
        std::string::npos);
}

TEST_CASE("run without --wait on a running job is a success, run --all --wait runs every job",
          "[daemon][progress]") {
  SlowDaemon d;
  REQUIRE(eventually(60, [&] { return d.revisions("slow").size() == 1; }));
  REQUIRE(eventually(60, [&] { return d.revisions("fast").size() == 1; }));
  REQUIRE(eventually(30, [&] { return d.job_status("slow")["state"] != "running"; }));

  d.slow.drop_cache();
  ProcessResult first = d.ctl({"run", "slow"});
  REQUIRE(first.exit_code == 0);
  CHECK(first.out == "slow: queued\n");
  ProcessResult again = d.ctl({"run", "slow"});
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  CHECK(again.out.find("slow: already ") == 0);  // queued or running, and no error
  json again_json = json::parse(d.ctl({"run", "slow", "--json"}).out);
  CHECK(again_json["jobs"][0].contains("already"));

  // --all --wait: waits for slow's run that is going, and runs fast; each result once.
  ProcessResult all = d.ctl({"run", "--all", "--wait"});
  INFO(all.err);
  REQUIRE(all.exit_code == 0);
  CHECK(count_of(all.out, "slow: finished, revision ") == 1);
  CHECK(count_of(all.out, "fast: finished, revision ") == 1);
  CHECK(all.err.find("finished") == std::string::npos);
  CHECK(d.revisions("slow").size() == 2);  // the run asked for twice ran once
  CHECK(d.revisions("fast").size() == 2);
}

}  // namespace backy::test

// Fast and slow lanes through the real daemon on real files: with worker-limit 1, a full backup
// that is slow for real (its source a loop device whose reads the kernel throttles) fills the slow
// lane, a second new job waits behind it, and jobs whose history says they are quick keep
// finishing one after another meanwhile. Then a reload with a larger worker-limit starts the
// waiting slow job beside the running one, which goes on undisturbed.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <nlohmann/json.hpp>

#include "daemon_support.h"
#include "support/test_env.h"
#include "throttled_device.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace backy::test {

namespace {

constexpr uint64_t kSlowBytes = 64 << 20;
constexpr uint64_t kReadBytesPerSecond = 2 << 20;  // the slow full: 32 s
const std::vector<std::string> kFastJobs = {"quick1", "quick2", "quick3"};

std::string config_text(const fs::path& dir, const std::string& socket, const std::string& device,
                        int worker_limit) {
  std::string yaml = "global:\n  base-dir: " + (dir / "base").string() + "\n  socket: " + socket +
                     "\n  worker-limit: " + std::to_string(worker_limit) +
                     "\nschedules:\n  daily:\n    daily: {interval: 1d, keep: 30}\njobs:\n";
  for (const char* slow : {"big1", "big2"})
    yaml += std::string("  ") + slow +
            ":\n    schedule: daily\n    source: {type: file, filename: " + device + "}\n";
  for (const auto& fast : kFastJobs)
    yaml += "  " + fast + ":\n    schedule: daily\n    source: {type: file, filename: " +
            (dir / (fast + ".img")).string() + "}\n";
  return yaml;
}

}  // namespace

TEST_CASE("quick jobs keep finishing in the fast lane while fulls fill the slow lane",
          "[daemon][lanes]") {
  TempDir dir{xfs_mount(), "lanes"};
  write_random(dir / "big.img", 0, kSlowBytes, 5);
  ThrottledDevice slow(dir / "big.img", kReadBytesPerSecond);
  for (size_t i = 0; i < kFastJobs.size(); ++i)
    write_random(dir / (kFastJobs[i] + ".img"), 0, 4 << 20, 20 + i);
  const std::string socket = (dir / "backyd.sock").string();
  const fs::path config =
      write_config(dir.path(), config_text(dir.path(), socket, slow.device(), 1));
  auto ctl = [&](std::vector<std::string> args) { return backyctl(socket, args); };
  auto status = [&] { return status_of(socket); };
  auto job_of = job_in;

  // The quick jobs' history: one quick run each, before the daemon starts.
  {
    std::vector<std::string> once = {BACKYD_PATH, "-c", config.string(), "--once"};
    once.insert(once.end(), kFastJobs.begin(), kFastJobs.end());
    ProcessResult r = run(once);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }

  // Born in the throttled group: the new jobs' first runs start at once, none may read unthrottled.
  slow.join(::getpid());
  Daemon d(config, dir / "backyd.log");
  ThrottledDevice::leave(std::to_string(::getpid()));
  REQUIRE(eventually(20, [&] { return ctl({"version"}).exit_code == 0; }));

  // One new job runs in the slow lane, the other waits for its slot.
  json st;
  REQUIRE(eventually(20, [&] {
    st = status();
    return st["summary"]["lanes"]["slow"]["running"] == 1;
  }));
  INFO(st.dump());
  CHECK(st["summary"]["lanes"]["slow"]["slots"] == 1);
  CHECK(st["summary"]["lanes"]["slow"]["queued"] == 1);
  CHECK(st["summary"]["lanes"]["fast"]["running"] == 0);
  const json big1 = job_of(st, "big1"), big2 = job_of(st, "big2");
  CHECK(big1["lane"] == "slow");
  CHECK(big2["lane"] == "slow");
  const std::string running = big1["state"] == "running" ? "big1" : "big2";
  const std::string waiting = running == "big1" ? "big2" : "big1";
  CHECK(job_of(st, running)["state"] == "running");
  CHECK(job_of(st, waiting)["state"] == "queued");
  const json started = job_of(st, running)["running_since"];
  for (const auto& fast : kFastJobs) CHECK(job_of(st, fast)["lane"] == "fast");
  ProcessResult table = ctl({"status"});
  CHECK(table.out.find("lanes: fast 0/1 running 0 queued, slow 1/1 running 1 queued") !=
        std::string::npos);
  const std::string metrics = ctl({"metrics"}).out;
  CHECK(metrics.find("backy_lane_running{lane=\"slow\"} 1") != std::string::npos);
  CHECK(metrics.find("backy_lane_queued{lane=\"slow\"} 1") != std::string::npos);
  CHECK(metrics.find("backy_lane_slots{lane=\"fast\"} 1") != std::string::npos);

  // Two rounds of every quick job, each waited for, while the full still runs.
  int finished = 0;
  double longest = 0, total = 0;
  for (int round = 0; round < 2; ++round)
    for (const auto& fast : kFastJobs) {
      const auto t0 = std::chrono::steady_clock::now();
      ProcessResult r = ctl({"run", fast, "--wait"});
      const double took =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      INFO(fast << ": " << r.out << r.err);
      REQUIRE(r.exit_code == 0);
      CHECK(r.out.find(fast + ": finished, revision ") != std::string::npos);
      ++finished;
      longest = std::max(longest, took);
      total += took;
    }
  st = status();
  INFO(st.dump());
  // All of them finished while the slow lane stayed busy with the same run.
  REQUIRE(job_of(st, running)["state"] == "running");
  CHECK(job_of(st, running)["running_since"] == started);
  CHECK(job_of(st, waiting)["state"] == "queued");
  CHECK(revisions_of(dir / "base" / running).empty());
  for (const auto& fast : kFastJobs) CHECK(revisions_of(dir / "base" / fast).size() == 3);
  CHECK(finished == 6);
  CHECK(longest < 20);
  WARN("lanes: " << finished << " quick runs finished while the slow lane was full, " << total
                 << " s in all, the longest " << longest << " s");

  // A reload with two slots per lane: the waiting full starts, the running one goes on.
  write_config(dir.path(), config_text(dir.path(), socket, slow.device(), 2));
  ProcessResult reload = ctl({"reload"});
  INFO(reload.out << reload.err);
  REQUIRE(reload.exit_code == 0);
  REQUIRE(eventually(20, [&] {
    st = status();
    return job_of(st, waiting)["state"] == "running";
  }));
  CHECK(st["summary"]["lanes"]["slow"]["slots"] == 2);
  CHECK(st["summary"]["lanes"]["slow"]["running"] == 2);
  CHECK(job_of(st, running)["state"] == "running");
  CHECK(job_of(st, running)["running_since"] == started);
  CHECK(d.log().find("cancel") == std::string::npos);
  CHECK(d.stop() == 0);
}

}  // namespace backy::test

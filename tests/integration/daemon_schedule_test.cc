// backyd on real files: many jobs on a short schedule, worker-limit 2. Every job gets its runs
// on its slots, never more than two run at once (proved from the .rev files), and a job whose
// source is missing backs off while the others continue.
#include <catch2/catch.hpp>

#include "daemon_support.h"
#include "schedule/schedule.h"

using namespace backy;
using namespace backy::test;

TEST_CASE(
    "daemon: jobs run on time, at most worker-limit at once per lane, a failing job backs off",
    "[daemon]") {
  TempDir dir(xfs_mount(), "daemon-sched");
  constexpr int kJobs = 8;
  constexpr double kInterval = 4;
  std::string jobs;
  for (int i = 0; i < kJobs; ++i) {
    const std::string name = "vm" + std::to_string(i);
    write_random(dir / (name + ".img"), 0, 16 << 20, static_cast<uint64_t>(i + 1));
    jobs += "  " + name + ": {schedule: fast, source: {type: file, filename: " +
            (dir / (name + ".img")).string() + "}}\n";
  }
  jobs += "  broken: {schedule: fast, source: {type: file, filename: " +
          (dir / "missing.img").string() + "}}\n";
  const auto config =
      write_config(dir.path(), "global:\n  base-dir: " + (dir / "base").string() +
                                   "\n  worker-limit: 2\n  socket: " + (dir / "sock").string() +
                                   "\nschedules:\n  fast:\n    t: {interval: 4s, "
                                   "keep: 1000}\njobs:\n" +
                                   jobs);
  const double t0 = unix_seconds(Clock::now());
  Daemon d(config, dir / "backyd.log");
  std::this_thread::sleep_for(std::chrono::seconds(21));
  const double t1 = unix_seconds(Clock::now());
  REQUIRE(d.stop(30) == std::optional<int>(0));
  INFO(d.log());

  Schedule schedule{{"t", TagSpec{Seconds(4), 1000}}};
  std::vector<Revision> all;
  for (int i = 0; i < kJobs; ++i) {
    const std::string name = "vm" + std::to_string(i);
    auto revs = revisions_of(dir / "base" / name);
    INFO(name);
    // The catch-up run at startup, then one per 4 s slot: 21 s hold at least 5 slots.
    REQUIRE(revs.size() >= 5);
    CHECK(unix_seconds(revs.front().timestamp) - t0 < 3.0);
    const double spread = static_cast<double>(job_spread(name, schedule).count());
    for (size_t k = 1; k < revs.size(); ++k) {
      const double ts = unix_seconds(revs[k].timestamp);
      // Started on its slot: at most 1.5 s late (worker-limit 2, runs of ~0.1-0.3 s).
      const double late = std::fmod(ts - spread, kInterval);
      CHECK(late < 1.5);
      // No slot skipped.
      CHECK(ts - unix_seconds(revs[k - 1].timestamp) < kInterval + 1.5);
    }
    // And none missed at the end: the last one is within one interval of the stop.
    CHECK(t1 - unix_seconds(revs.back().timestamp) < kInterval + 1.5);
    all.insert(all.end(), revs.begin(), revs.end());
  }
  // Never more than worker-limit at once in each backup lane (daemon/lane.h: the first runs, with
  // no history, are slow-lane; the quick ones after them fast-lane, so up to 2 x worker-limit
  // run at once), and the limit was reached (the startup burst). A revision's interval is its
  // whole run, lock and clean-up included (RevisionStats::duration).
  const int overlap = max_overlap(all);
  CHECK(overlap >= 2);
  CHECK(overlap <= 4);

  // The failing job tried once, is now waiting 2 minutes, and did not hold anyone up.
  const std::string log = d.log();
  CHECK(count_of(log, "[broken] backup started") == 1);
  CHECK(count_of(log, "[broken] failure 1 in a row; next try at ") == 1);
  CHECK(count_of(log, " (in 2m00s, tags t)") == 1);
  CHECK(revisions_of(dir / "base" / "broken").empty());
  CHECK(count_of(log, "backup failed") == 1);
}

// `backyd --once` as upstream backy's `backup` command, with a schedule of seconds on real files:
// it runs only what is due, with exactly those tags, and expires what the schedule no longer keeps.
#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "repo/repository.h"
#include "schedule/schedule.h"
#include "support/test_env.h"

using namespace backy;
using namespace backy::test;
namespace fs = std::filesystem;

namespace {

std::set<std::string> tags_of(const Repository& repo, const std::string& uuid) {
  return repo.find(uuid).tags;
}

}  // namespace

TEST_CASE("backyd --once runs what is due with those tags and expires the rest",
          "[integration][xfs]") {
  TempDir t(xfs_mount(), "sched");
  const fs::path img = t / "vm.img";
  write_random(img, 0, 8 * 1024 * 1024, 1);
  const fs::path cfg = write_config(
      t.path(),
      "global: {base-dir: " + (t / "base").string() + "}\n" +
          "schedules: {s: {fast: {interval: 5s, keep: 2}, slow: {interval: 1h, keep: 1}}}\n" +
          "jobs: {vm: {schedule: s, source: {type: file, filename: " + img.string() + "}}}\n");
  auto once = [&](std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {BACKYD_PATH, "-c", cfg.string(), "--once", "vm"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run(argv);
  };
  Repository repo(t / "base" / "vm");

  // No revisions: runs now with every tag.
  ProcessResult r1 = once();
  INFO(r1.err);
  REQUIRE(r1.exit_code == 0);
  REQUIRE(repo.revisions().size() == 1);
  const std::string first = repo.revisions()[0].uuid;
  CHECK(tags_of(repo, first) == std::set<std::string>{"fast", "slow"});

  // Nothing due right after: nothing happens, and stderr says so and when the next run is. Two
  // moments make `fast` due, and the run must come before both: its revision 5 s old (so no
  // waiting for a slot, which may be nearly 5 s away), and the second of a regular slot of
  // `fast` (so, when a slot is that second or the next, just after it).
  const Schedule schedule = {{"fast", {Seconds(5), 2}}, {"slow", {Seconds(3600), 1}}};
  const DueRun slot =
      next_regular_run(schedule, job_spread("vm", schedule), Clock::now() - Seconds(1));
  if (slot.time < Clock::now() + Seconds(1))
    std::this_thread::sleep_until(slot.time + std::chrono::milliseconds(1100));
  ProcessResult quiet = once();
  CHECK(quiet.exit_code == 0);
  CHECK(quiet.err.find("nothing due for vm (next: fast at ") != std::string::npos);
  CHECK(quiet.err.find("); use --tags to run anyway") != std::string::npos);
  CHECK(repo.revisions().size() == 1);

  // A manual revision: never expires.
  REQUIRE(once({"--tags", "manual:before-upgrade"}).exit_code == 0);
  ProcessResult bogus = once({"--tags", "hourly"});
  CHECK(bogus.exit_code == 1);
  CHECK(bogus.err.find("hourly") != std::string::npos);

  // Three more runs of `fast`, each once it is due.
  std::vector<std::string> fast_runs;
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5500));
    ProcessResult r = once();
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    fast_runs.push_back(repo.revisions().back().uuid);
    CHECK(tags_of(repo, fast_runs.back()) == std::set<std::string>{"fast"});
  }
  // fast keeps the newest 2 (and whatever is younger than 2 x 5 s); the oldest fast-only
  // revision lost its only tag and is gone; the first keeps `slow`; the manual one stays.
  std::set<std::string> left;
  for (const auto& r : repo.revisions()) left.insert(r.uuid);
  CHECK_FALSE(left.contains(fast_runs[0]));
  CHECK(left.contains(fast_runs[1]));
  CHECK(left.contains(fast_runs[2]));
  REQUIRE(left.contains(first));
  CHECK(tags_of(repo, first) == std::set<std::string>{"slow"});
  bool manual_kept = false;
  for (const auto& r : repo.revisions())
    manual_kept = manual_kept || r.tags.contains("manual:before-upgrade");
  CHECK(manual_kept);
  CHECK(repo.revisions().size() == 4);
  CHECK_FALSE(fs::exists(repo.image_path(fast_runs[0])));
}

// A run's recorded duration and its phases (docs/storage.md, "A run's duration and its
// phases"), seen from outside: backyd on the real XFS mount with a file source, driven through
// backyctl. The duration covers the run from before its start to after its commit, the phases
// sum to it, and `status JOB` prints them.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "backup/run_clock.h"
#include "integration/ctl_support.h"
#include "repo/repository.h"
#include "support/test_env.h"
#include "util/text.h"

namespace fs = std::filesystem;
using namespace backy;
using namespace backy::test;

namespace {

constexpr uint64_t MiB = 1024 * 1024;

// When `link` was made (lstat; the kernel's coarse clock, which is never ahead of the time).
TimePoint made_at(const fs::path& link) {
  struct stat st {};
  REQUIRE(::lstat(link.c_str(), &st) == 0);
  return TimePoint(std::chrono::duration_cast<Clock::duration>(
      std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
}

// The newest revision of `job_dir`, checked against what can be seen of its run from outside:
// its start (the .rev's timestamp, taken after the run's clock started) and its commit
// (`latest`, made by the commit before the clean-up) lie within its duration, and every phase
// is there and they sum to it.
Revision check_newest(const fs::path& job_dir) {
  const std::vector<Revision> revs = Repository(job_dir).revisions();
  REQUIRE(!revs.empty());
  const Revision& r = revs.back();
  REQUIRE(fs::read_symlink(job_dir / "latest") == r.uuid);
  const double to_commit =
      std::chrono::duration<double>(made_at(job_dir / "latest") - r.timestamp).count();
  const RevisionStats& st = r.stats;
  INFO("revision " << r.uuid << ": " << st.duration << " s, " << to_commit
                   << " s from its start to its commit");
  CHECK(to_commit > 0);
  CHECK(st.duration >= to_commit);
  REQUIRE(st.phases.size() == kPhases.size());
  double sum = 0;
  for (const auto& [phase, secs] : st.phases) {
    INFO(to_string(phase) << ": " << secs);
    CHECK(secs >= 0);
    sum += secs;
  }
  CHECK(sum == Approx(st.duration).epsilon(0.10));
  // What this run certainly did: read, apply, flush, commit.
  for (Phase p : {Phase::read, Phase::write, Phase::flush, Phase::commit}) {
    INFO(to_string(p));
    CHECK(st.phases.at(p) > 0);
  }
  return r;
}

}  // namespace

TEST_CASE(
    "a run's recorded duration covers it from start to clean-up, and status JOB shows "
    "its phases",
    "[integration][xfs]") {
  TempDir src(xfs_mount(), "phases");
  const fs::path img = src / "vm.img";
  make_sparse(img, 96 * MiB);
  write_random(img, 0, 48 * MiB, test_seed("phases"));
  CtlTestDaemon d({{"vm", img.string()}});
  const fs::path job_dir = d.dir() / "base" / "vm";
  REQUIRE(d.wait_revisions("vm", 1));  // the first run starts at once: nothing is there yet
  REQUIRE(d.wait_idle("vm"));          // and is over, with its clean-up
  const Revision full = check_newest(job_dir);
  CHECK(full.parent.empty());

  // An incremental, timed from outside: its duration is within the wall time of `run --wait`.
  for (int i = 0; i < 64; ++i) write_random(img, uint64_t(i) * 700 * 1024, 4096, 1000 + i);
  const auto t0 = std::chrono::steady_clock::now();
  ProcessResult run_wait = d.ctl({"run", "vm", "--tags", "manual:phases", "--wait"});
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(run_wait.err);
  REQUIRE(run_wait.exit_code == 0);
  const Revision incr = check_newest(job_dir);
  CHECK(incr.parent == full.uuid);
  CHECK(incr.stats.duration <= wall);

  // status JOB: the newest run's split under the table, in the run's order; its JSON has each.
  ProcessResult text = d.ctl({"status", "vm"});
  INFO(text.out);
  REQUIRE(text.exit_code == 0);
  const size_t line = text.out.find("newest run " + phase_duration(incr.stats.duration) + ": ");
  REQUIRE(line != std::string::npos);
  size_t at = line;
  for (Phase p : kPhases) {
    const std::string part =
        std::string(to_string(p)) + " " + phase_duration(incr.stats.phases.at(p));
    const size_t found = text.out.find(part, at);
    INFO(part);
    CHECK(found != std::string::npos);
    if (found != std::string::npos) at = found;
  }
  const nlohmann::json j = d.ctl_json({"status", "vm"});
  const nlohmann::json& newest = j["revisions"].back();
  REQUIRE(newest["uuid"] == incr.uuid);
  REQUIRE(newest["phases"].size() == kPhases.size());
  for (Phase p : kPhases)
    CHECK(newest["phases"][std::string(to_string(p))].get<double>() ==
          Approx(incr.stats.phases.at(p)).margin(1e-6));
  // The job table does not carry them (10,000 jobs' worth would be status' size).
  CHECK_FALSE(d.ctl_json({"status"})["jobs"][0]["last_backup"].contains("phases"));
  // The log's line of the run gives its duration and names its largest phases.
  const std::string log = d.log();
  const size_t done = log.find("backup " + incr.uuid + " done: ");
  REQUIRE(done != std::string::npos);
  CHECK(log.substr(done, log.find('\n', done) - done)
            .ends_with(" in " + phase_duration(incr.stats.duration) + " (" +
                       largest_phases(incr.stats.phases, 3) + ")"));
}

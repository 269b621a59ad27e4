// adopt: an upstream backy job directory (tests/support/upstream_job.h) under the real backyd on
// the real XFS mount, driven through backyctl: before `adopt` a backup leaves it intact and
// status says what waits; `adopt` takes the cowfile revisions over and names the chunked one;
// shortuuid specs work in restore, tags, scrub and forget; the next backup is an incremental of
// the newest adopted revision; a crash in mid-adoption leaves a consistent directory and
// `adopt` goes on.
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <string>

#include "integration/daemon_support.h"
#include "support/ctl_daemon.h"
#include "support/test_env.h"
#include "support/upstream_job.h"

namespace fs = std::filesystem;
using namespace backy::test;

namespace {

// Tags as upstream's revisions carry them, slots that come once a century: the daemon backs up
// at once while the job has no revision of its own, and afterwards only when asked.
std::string job_config(const fs::path& source) {
  return "schedules: {s: {daily: {interval: 36500d, keep: 10}, weekly: {interval: 36500d, keep: "
         "10}}}\njobs:\n  vm:\n    schedule: s\n    source: {type: file, filename: " +
         source.string() + "}\n";
}

// Every file of upstream's in `dir` (not those adoption or a backup of ours adds) with its
// bytes, links with their targets.
std::map<std::string, std::string> upstream_files(const fs::path& dir, const UpstreamJob& job) {
  std::map<std::string, std::string> out;
  std::vector<std::string> names = {"last",
                                    "last.rev",
                                    "config",
                                    ".backup",
                                    ".purge",
                                    job.chunked + ".rev",
                                    "chunks/ab/abcdef.chunk.lzo"};
  for (const auto& r : job.cowfile) {
    names.push_back(r.uuid);
    names.push_back(r.uuid + ".rev");
  }
  for (const auto& n : names)
    out[n] =
        fs::is_symlink(dir / n) ? "-> " + fs::read_symlink(dir / n).string() : read_file(dir / n);
  return out;
}

// Starts a daemon on an upstream job directory and waits for the backup it runs at once.
struct Fixture {
  TempDir dir{xfs_mount(), "adopt"};
  fs::path source = dir.path() / "vm.img";
  fs::path job_dir = dir.path() / "base" / "vm";
  UpstreamJob job = write_upstream_job(job_dir);
  std::map<std::string, std::string> before = upstream_files(job_dir, job);
  std::optional<CtlDaemon> d;

  Fixture() {
    // The source: the newest upstream image with one page changed.
    std::string content = job.cowfile.back().image;
    content[4096 * 7] ^= 0x55;
    write_file(source, content);
    d.emplace(dir.path(), job_config(source));
    INFO(d->log());
    REQUIRE(d->wait_revisions("vm", 1));
    REQUIRE(d->wait_idle("vm"));
  }
};

}  // namespace

TEST_CASE("adopt: upstream's directory survives a backup, is adopted, and parents the next",
          "[adopt]") {
  Fixture f;
  CtlDaemon& d = *f.d;
  INFO(d.log());
  // Before adoption: nothing of upstream's changed or removed by the run, status says why.
  CHECK(upstream_files(f.job_dir, f.job) == f.before);
  const auto status = d.ctl({"status", "vm"});
  CHECK(status.out.find("problem: 3 revisions of upstream backy wait for `backyctl adopt vm`") !=
        std::string::npos);
  CHECK(status.out.find("chunked format cannot be adopted") != std::string::npos);
  const std::string ours = revisions_of(f.job_dir).at(0).uuid;

  const auto adopted = d.ctl({"adopt", "vm"});
  INFO(adopted.out << adopted.err);
  CHECK(adopted.exit_code == 1);  // the chunked revision stays behind
  for (const auto& r : f.job.cowfile)
    CHECK(adopted.out.find("adopted " + r.uuid + "\n") != std::string::npos);
  CHECK(adopted.out.find("left alone " + f.job.chunked + ": backend_type 'chunked'") !=
        std::string::npos);
  CHECK(d.log().find("adopt: revision " + f.job.cowfile[0].uuid + " adopted") != std::string::npos);

  const auto revs = revisions_of(f.job_dir);
  REQUIRE(revs.size() == 4);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(revs[i].uuid == f.job.cowfile[i].uuid);
    CHECK(backy::format_iso8601(revs[i].timestamp) == f.job.cowfile[i].timestamp);
    CHECK(revs[i].parent == f.job.cowfile[i].parent);
    CHECK(backy::to_string(revs[i].trust) == f.job.cowfile[i].trust);
  }
  CHECK(revs[0].tags == std::set<std::string>{"daily", "weekly"});
  CHECK(d.ctl({"scrub", "vm", "all"}).exit_code == 0);

  // Specs of 6 characters of a shortuuid.
  const fs::path restored = f.dir.path() / "restored.img";
  const auto restore = d.ctl({"restore", "vm", f.job.cowfile[1].uuid.substr(0, 6), restored});
  CHECK(restore.exit_code == 0);
  CHECK(read_file(restored) == f.job.cowfile[1].image);
  CHECK(d.ctl({"tags", "vm", f.job.cowfile[1].uuid.substr(0, 8), "--add", "manual:x"}).exit_code ==
        0);
  CHECK(revisions_of(f.job_dir).at(1).tags.contains("manual:x"));
  CHECK(d.ctl({"forget", "vm", f.job.cowfile[0].uuid.substr(0, 6)}).exit_code == 0);
  CHECK_FALSE(fs::exists(f.job_dir / f.job.cowfile[0].uuid));
  CHECK_FALSE(fs::exists(f.job_dir / (f.job.cowfile[0].uuid + ".rev.upstream")));

  // With our own revision gone, the next backup is an incremental of the newest adopted one.
  CHECK(d.ctl({"forget", "vm", ours, "--force"}).exit_code == 0);
  const auto run = d.ctl({"run", "vm", "--wait"});
  INFO(run.out << run.err);
  REQUIRE(run.exit_code == 0);
  const auto after = revisions_of(f.job_dir);
  REQUIRE(after.size() == 3);
  CHECK(after.back().parent == f.job.cowfile[2].uuid);
  CHECK(after.back().stats.bytes_written < UpstreamJob::kSize / 4);
  CHECK(d.log().find("incremental from " + f.job.cowfile[2].uuid) != std::string::npos);
  CHECK(d.log().find("does not support reflinks") == std::string::npos);
  CHECK(shared_bytes(f.job_dir / after.back().uuid) > 0);
  const fs::path newest = f.dir.path() / "newest.img";
  REQUIRE(d.ctl({"restore", "vm", "latest", newest}).exit_code == 0);
  CHECK(same_content(newest, f.source));
  // Upstream's links and chunked revision are still there, untouched.
  CHECK(fs::read_symlink(f.job_dir / "last") == f.job_dir / f.job.chunked);
  CHECK(read_file(f.job_dir / (f.job.chunked + ".rev")) == f.before.at(f.job.chunked + ".rev"));
}

TEST_CASE("adopt: a crash in mid-adoption leaves each revision upstream's or ours, and resumes",
          "[adopt]") {
  Fixture f;
  CtlDaemon& d = *f.d;
  d.stop();
  d.start({{"BACKYD_TEST_ADOPT_EXIT_BEFORE", "1"}});
  const auto crashed = d.ctl({"adopt", "vm"});
  INFO(crashed.out << crashed.err << d.log());
  CHECK(crashed.exit_code != 0);
  REQUIRE(d.wait_exit(20) == 70);
  // The first is ours, the others upstream's as they were.
  auto revs = revisions_of(f.job_dir);
  REQUIRE(revs.size() == 2);
  CHECK(revs[0].uuid == f.job.cowfile[0].uuid);
  for (size_t i = 1; i < 3; ++i)
    CHECK(read_file(f.job_dir / (f.job.cowfile[i].uuid + ".rev")) == f.job.cowfile[i].rev_text);
  CHECK(read_file(f.job_dir / f.job.cowfile[1].uuid) == f.job.cowfile[1].image);

  d.start();
  const auto resumed = d.ctl({"adopt", "vm"});
  INFO(resumed.out << resumed.err);
  CHECK(resumed.out.find("adopted " + f.job.cowfile[1].uuid) != std::string::npos);
  CHECK(resumed.out.find("adopted " + f.job.cowfile[2].uuid) != std::string::npos);
  CHECK(resumed.out.find(f.job.cowfile[0].uuid) == std::string::npos);
  revs = revisions_of(f.job_dir);
  REQUIRE(revs.size() == 4);
  CHECK(d.ctl({"scrub", "vm", "all"}).exit_code == 0);
  for (const auto& e : fs::directory_iterator(f.job_dir))
    CHECK_FALSE(e.path().filename().string().ends_with(".tmp"));
  for (const auto& r : f.job.cowfile)
    CHECK(read_file(f.job_dir / (r.uuid + ".rev.upstream")) == r.rev_text);
}

// The commit point, through the real programs on the real XFS: once a revision's .rev is in
// place nothing deletes it, and what fails after it (repointing `latest`, expiry) is a warning
// on a successful run that health reports, retried by the next run.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "integration/daemon_support.h"
#include "repo/repository.h"
#include "store/scrub.h"
#include "support/test_env.h"

using namespace backy;
using namespace backy::test;
namespace fs = std::filesystem;

namespace {

// Every revision has its image and sums, and scrubs clean.
void check_complete(const Repository& repo) {
  std::vector<std::string> problems;
  for (const Revision& r : repo.revisions(&problems))
    CHECK(scrub_image(repo.image_path(r.uuid), repo.load_sums(r.uuid)).empty());
  CHECK(problems.empty());
}

// `chattr +i` on a file while in scope: not even root may unlink it (XFS honours it).
class Immutable {
 public:
  explicit Immutable(fs::path p) : path_(std::move(p)) {
    REQUIRE(run({"chattr", "+i", path_.string()}).exit_code == 0);
  }
  ~Immutable() { release(); }
  void release() {
    if (!path_.empty()) run({"chattr", "-i", path_.string()});
    path_.clear();
  }

 private:
  fs::path path_;
};

}  // namespace

TEST_CASE("a `latest` that cannot be replaced leaves the committed revision whole",
          "[integration][trust]") {
  TempDir t(xfs_mount(), "latestdir");
  const fs::path img = t / "vm.img";
  write_random(img, 0, 8 << 20, 1);
  const fs::path cfg = write_config(
      t.path(), "global: {base-dir: " + (t / "base").string() + "}\n" +
                    "schedules: {s: {daily: {interval: 1d, keep: 5}}}\n" +
                    "jobs: {vm: {schedule: s, source: {type: file, filename: " + img.string() +
                    "}}}\n");
  auto once = [&] {
    return run({BACKYD_PATH, "-c", cfg.string(), "--once", "vm", "--tags", "daily"});
  };
  Repository repo(t / "base" / "vm");
  REQUIRE(once().exit_code == 0);
  const std::string first = repo.find("0").uuid;

  // Someone replaced `latest` with a directory: the next commit cannot repoint it.
  fs::remove(repo.dir() / "latest");
  fs::create_directory(repo.dir() / "latest");
  std::ofstream(repo.dir() / "latest" / "note") << "not ours";
  write_random(img, 0, 4096, 2);
  ProcessResult r = once();
  INFO(r.err);
  CHECK(r.exit_code == 0);  // the revision is committed: the run succeeded
  CHECK(r.err.find("`latest` was not updated") != std::string::npos);
  const auto revs = repo.revisions();
  REQUIRE(revs.size() == 2);
  CHECK(revs[0].uuid == first);
  CHECK(same_content(repo.image_path(revs[1].uuid), img));
  check_complete(repo);
  CHECK(fs::exists(repo.dir() / "latest" / "note"));  // what is not ours stays

  // Once the directory is gone, the next run puts `latest` on the newest revision.
  fs::remove_all(repo.dir() / "latest");
  REQUIRE(once().exit_code == 0);
  CHECK(fs::read_symlink(repo.dir() / "latest") == repo.find("0").uuid);
  check_complete(repo);
}

TEST_CASE("a failing expiry is a warning on a committed run, shown by health, retried",
          "[integration][trust]") {
  TempDir t(xfs_mount(), "expiryfail");
  TempDir run_dir("/tmp", "backy-expiry-sock");
  const std::string socket = (run_dir / "backyd.sock").string();
  const fs::path img = t / "vm.img";
  write_random(img, 0, 8 << 20, 1);
  const fs::path cfg = write_config(
      t.path(), "global: {base-dir: " + (t / "base").string() + ", socket: " + socket + "}\n" +
                    "schedules: {s: {daily: {interval: 1d, keep: 1}}}\n" +
                    "jobs: {vm: {schedule: s, source: {type: file, filename: " + img.string() +
                    "}}}\n");
  Repository repo(t / "base" / "vm");
  REQUIRE(run({BACKYD_PATH, "-c", cfg.string(), "--once", "vm"}).exit_code == 0);
  const std::string old = repo.find("0").uuid;
  {
    // Old enough for the schedule to let it go (keep 1 x 1d).
    auto lock = repo.lock();
    Revision aged = repo.find(old);
    aged.timestamp -= std::chrono::hours(72);
    repo.update(lock, aged);
  }
  Immutable pinned(repo.rev_path(old));  // expiry cannot delete it

  Daemon d(cfg, t / "backyd.log");
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {BACKYCTL_PATH, "-s", socket});
    return run(args);
  };
  REQUIRE(eventually(20, [&] { return ctl({"version"}).exit_code == 0; }));
  // The aged revision makes the daily tag due: the daemon runs the job at once.
  nlohmann::json job;
  REQUIRE(eventually(30, [&] {
    job = nlohmann::json::parse(ctl({"status", "vm", "--json"}).out)["job"];
    return job["last_run"].is_object() && job["state"] != "running";
  }));
  INFO(job.dump());
  CHECK(job["last_run"]["ok"] == true);
  const std::string fresh = job["last_run"]["uuid"];
  REQUIRE(repo.revisions().size() == 2);  // the old one could not go
  CHECK(repo.find("0").uuid == fresh);
  CHECK(repo.find("1").uuid == old);
  CHECK(same_content(repo.image_path(fresh), img));
  check_complete(repo);
  CHECK(d.log_has("expiry failed"));

  ProcessResult h = ctl({"health"});
  CHECK(h.exit_code == 1);
  CHECK(h.out.find("expiry failed") != std::string::npos);
  CHECK(job["last_run"]["warnings"].size() == 1);

  // The disk lets go: the next run expires what the schedule no longer keeps, health is OK.
  pinned.release();
  write_random(img, 0, 4096, 3);
  REQUIRE(ctl({"run", "vm", "--wait", "--tags", "daily"}).exit_code == 0);
  CHECK_FALSE(fs::exists(repo.rev_path(old)));
  CHECK(repo.revisions().size() == 2);  // the two of today: both inside keep x interval
  CHECK(ctl({"health"}).exit_code == 0);
  CHECK(d.stop() == 0);
}

// The order of a run's steps on the cluster (backup/backup.h): the snapshot is taken first, and a
// run that fails before it reads leaves none; the previous snapshot's removal after a commit is
// off the run (backup/source_cleaner.h): the daemon removes it shortly after a run commits, a run
// that dies between its commit and the removal leaves it to the next run, and the cleaner never
// touches a job's records while a run of the job holds its lock.
#include <catch2/catch.hpp>

#include "backup/backup.h"
#include "backup/source_cleaner.h"
#include "ceph/rbd_source.h"
#include "integration/daemon_support.h"
#include "rbd_support.h"
#include "repo/repository.h"
#include "support/test_env.h"
#include "util/uuid.h"

namespace backy::test {

namespace {

constexpr uint64_t MiB = 1024 * 1024;

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool recorded(const RbdJob& vm, const std::string& uuid) {
  return std::filesystem::exists(vm.dir / "base" / "vm" / (uuid + ".snapshot"));
}

size_t records(const RbdJob& vm) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(vm.dir / "base" / "vm"))
    n += e.path().extension() == ".snapshot";
  return n;
}

// One run of job "vm" whose source clean-up after the commit never happens: what a process
// killed right after its commit leaves.
BackupResult run_killed_after_commit(RbdJob& vm) {
  Repository repo(vm.dir / "base" / "vm");
  auto lock = repo.lock();
  std::unique_ptr<Source> source = vm.factory->make(vm.config.jobs.at("vm").source);
  BackupOptions options;
  options.tags = {"daily"};
  options.defer_source_cleanup = [](const std::string&, std::set<std::string>) {};
  return run_backup(repo, lock, *source, options, *vm.log);
}

}  // namespace

TEST_CASE("rbd: backyd removes the previous snapshot shortly after a run commits") {
  RbdJob vm(24 * MiB, "bgremove");
  vm.img.write(0, 8 * MiB, 1);
  const auto sock = vm.dir / "ctl.sock";
  Daemon daemon(write_config(vm.dir.path(),
                             "global: {base-dir: " + (vm.dir / "base").string() + ", socket: " +
                                 sock.string() + "}\nceph: {conf: " + vm.cluster.conf() +
                                 "}\nschedules: {s: {daily: {interval: 1d, keep: 5}}}\n"
                                 "jobs: {vm: {schedule: s, source: {type: ceph-rbd, pool: rbd, "
                                 "image: " +
                                 vm.img.name() + "}}}\n"),
                vm.dir / "backyd.log");
  Repository repo(vm.dir / "base" / "vm");
  REQUIRE(eventually(60, [&] { return repo.revisions().size() == 1; }));
  const std::string first = repo.revisions()[0].uuid;

  vm.img.write(4 * MiB, 4096, 2);
  ProcessResult r = run({BACKYCTL_PATH, "-s", sock.string(), "run", "vm", "--wait"});
  INFO(r.out << r.err << daemon.log());
  REQUIRE(r.exit_code == 0);
  REQUIRE(repo.revisions().size() == 2);
  const std::string second = repo.revisions()[1].uuid;
  CHECK(repo.revisions()[1].parent == first);
  // Off the run, but not for long: the first run's snapshot and its record go.
  CHECK(eventually(30, [&] { return !has(vm.img.backy_snapshots(), rbd_snapshot_name(first)); }));
  CHECK(eventually(10, [&] { return !recorded(vm, first); }));
  CHECK(has(vm.img.backy_snapshots(), rbd_snapshot_name(second)));
  CHECK(recorded(vm, second));
  CHECK(vm.img.backy_snapshots().size() == 1);
  CHECK(daemon.stop() == 0);
}

TEST_CASE("rbd: a run killed between its commit and the snapshot's removal leaves it to the next") {
  RbdJob vm(16 * MiB, "killedcommit");
  vm.img.write(0, 4 * MiB, 1);
  const BackupResult first = vm.backup();

  vm.img.write(0, 4096, 2);
  const BackupResult second = run_killed_after_commit(vm);
  // Committed: the revision is whole, and the previous snapshot stays, recorded.
  CHECK(second.revision.parent == first.revision.uuid);
  CHECK(has(vm.img.backy_snapshots(), rbd_snapshot_name(first.revision.uuid)));
  CHECK(recorded(vm, first.revision.uuid));

  vm.img.write(8 * MiB, 4096, 3);
  const BackupResult third = vm.backup();
  CHECK(third.revision.parent == second.revision.uuid);
  CHECK(third.warnings.empty());
  const auto snaps = vm.img.backy_snapshots();
  CHECK(snaps == std::vector<std::string>{rbd_snapshot_name(third.revision.uuid)});
  CHECK_FALSE(recorded(vm, first.revision.uuid));
  CHECK_FALSE(recorded(vm, second.revision.uuid));
  CHECK(recorded(vm, third.revision.uuid));
}

TEST_CASE("rbd: the source cleaner removes snapshots but leaves records to a running run") {
  RbdJob vm(16 * MiB, "cleanerguard");
  vm.img.write(0, 4 * MiB, 1);
  const BackupResult first = vm.backup();
  const JobConfig& job = vm.config.jobs.at("vm");
  SourceCleaner cleaner(*vm.log);

  vm.img.write(0, 4096, 2);
  BackupResult second;
  {
    // A run of the job is active throughout: the cleaner removes the snapshot, not the record.
    SourceCleaner::RunGuard running(cleaner, "vm");
    second =
        backup_job(vm.config, job, *vm.factory, {"daily"}, *vm.log, {}, {}, {}, nullptr, &cleaner);
    cleaner.drain();
    CHECK_FALSE(has(vm.img.backy_snapshots(), rbd_snapshot_name(first.revision.uuid)));
    CHECK(recorded(vm, first.revision.uuid));
  }

  vm.img.write(0, 4096, 3);
  const BackupResult third =
      backup_job(vm.config, job, *vm.factory, {"daily"}, *vm.log, {}, {}, {}, nullptr, &cleaner);
  cleaner.drain();
  // No run active now: the snapshot and the record of every earlier run are gone.
  CHECK(vm.img.backy_snapshots() ==
        std::vector<std::string>{rbd_snapshot_name(third.revision.uuid)});
  CHECK_FALSE(recorded(vm, first.revision.uuid));
  CHECK_FALSE(recorded(vm, second.revision.uuid));
  CHECK(recorded(vm, third.revision.uuid));
}

TEST_CASE("rbd: a run that fails before it reads (job locked, repair failed) leaves no snapshot") {
  RbdJob vm(16 * MiB, "earlyfail");
  vm.img.write(0, 4 * MiB, 1);
  const BackupResult first = vm.backup();
  const std::vector<std::string> before = vm.img.backy_snapshots();
  REQUIRE(before == std::vector<std::string>{rbd_snapshot_name(first.revision.uuid)});

  {
    // Another process holds the job: the run fails before it chooses a uuid.
    Repository repo(vm.dir / "base" / "vm");
    auto lock = repo.lock();
    CHECK_THROWS_WITH(vm.backup(), Catch::Contains("locked"));
  }
  CHECK(vm.img.backy_snapshots() == before);
  CHECK(records(vm) == 1);

  // A leftover the repair cannot remove (a directory where an image of an interrupted run would
  // be): the repair fails while the snapshot is being created, and the run removes it.
  const auto stuck = vm.dir / "base" / "vm" / new_uuid();
  std::filesystem::create_directories(stuck / "x");
  CHECK_THROWS_WITH(vm.backup(), Catch::Contains("cannot remove"));
  CHECK(vm.img.backy_snapshots() == before);
  CHECK(records(vm) == 1);

  std::filesystem::remove_all(stuck);
  vm.img.write(0, 4096, 2);
  const BackupResult next = vm.backup();
  CHECK(next.revision.parent == first.revision.uuid);
}

}  // namespace backy::test

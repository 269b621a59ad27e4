// RBD failures: each fails the run with a clear error, removes the run's snapshot and partial
// revision, and keeps every earlier revision intact.
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>

#include "ceph/fault_source.h"
#include "ceph/rbd_source.h"
#include "ceph/rbd_support.h"
#include "ceph/source_factory.h"
#include "repo/repository.h"
#include "support/test_env.h"
#include "util/error.h"

namespace backy::test {

namespace {

constexpr uint64_t MiB = 1024 * 1024;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The only complete revision is `uuid`, `latest` points at it, its image equals `expected`.
void check_intact(const Config& config, const std::string& uuid,
                  const std::filesystem::path& expected) {
  Repository repo(config.global.base_dir / "vm");
  auto revs = repo.revisions();
  REQUIRE(revs.size() == 1);
  REQUIRE(revs[0].uuid == uuid);
  REQUIRE(same_content(repo.dir() / "latest", expected));
  // No leftovers of the failed run: only the revision's three files, latest and the lock, and
  // the records of snapshots (the revision's own; a failed run's, if the cluster could not be
  // asked to remove it).
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(repo.dir()))
    if (!e.path().filename().string().ends_with(".snapshot"))
      names.insert(e.path().filename().string());
  CHECK(names == std::set<std::string>{uuid, uuid + ".rev", uuid + ".sums", "latest", ".lock"});
  CHECK(std::filesystem::exists(repo.dir() / (uuid + ".snapshot")));
}

// A single-node cluster of the test's own (script/ceph-cluster), stopped on destruction.
class OwnCluster {
 public:
  OwnCluster() : dir_("/tmp", "backy-own-ceph") {
    auto r = run(
        {std::string(BACKY_SOURCE_DIR) + "/script/ceph-cluster", "start", (dir_ / "c").string()},
        "", {{"BACKY_TEST_CEPH_BYTES", std::to_string(1024 * MiB)}});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    conf_ = (dir_ / "c" / "ceph.conf").string();
  }
  ~OwnCluster() { stop(); }
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    auto r = run(
        {std::string(BACKY_SOURCE_DIR) + "/script/ceph-cluster", "stop", (dir_ / "c").string()});
    CHECK(r.exit_code == 0);
  }
  const std::string& conf() const { return conf_; }

 private:
  TempDir dir_;
  std::string conf_;
  bool stopped_ = false;
};

}  // namespace

// Writes all 64 MiB of vm's image, backs it up through `factory` (exported to <dir>/first as the
// reference), then rewrites every block, so that the next run still has many reads to do when a
// fault strikes.
Revision first_backup_then_rewrite(RbdJob& vm, SourceFactory& factory) {
  vm.img.write(0, 64 * MiB, 1);
  BackupResult first = backup(vm.config, factory, *vm.log);
  rbd_export(vm.cluster.conf(), vm.img.spec() + "@" + rbd_snapshot_name(first.revision.uuid),
             vm.dir / "first");
  vm.img.write(0, 64 * MiB, 2);
  return first.revision;
}

TEST_CASE("rbd: a missing pool or image is a clear error and leaves nothing behind") {
  TestCluster cluster;
  TempDir dir(xfs_mount(), "rbd-missing");
  Config config = rbd_config(dir / "base", cluster.conf(), "backy-test-no-such-image");
  auto factory = make_source_factory(config.ceph);
  CapturedLog log;

  REQUIRE_THROWS_WITH(backup(config, *factory, *log),
                      Catch::Contains("rbd/backy-test-no-such-image does not exist"));
  CHECK(Repository(dir / "base" / "vm").revisions().empty());

  config.jobs["vm"].source.pool = "no-such-pool";
  REQUIRE_THROWS_WITH(backup(config, *factory, *log),
                      Catch::Contains("pool 'no-such-pool' does not exist"));
}

TEST_CASE("rbd: a failed run removes its snapshot and a verification mismatch names the blocks") {
  RbdJob vm(32 * MiB, "fail");
  vm.config.jobs["vm"].verify.fraction = 1.0;  // every block: the corrupted one cannot escape
  FaultFactory faulty(*vm.factory);
  vm.img.write(0, 12 * MiB, 1);
  vm.img.snap_create("foreign");
  BackupResult first = backup(vm.config, faulty, *vm.log);
  rbd_export(vm.cluster.conf(), vm.img.spec() + "@" + rbd_snapshot_name(first.revision.uuid),
             vm.dir / "first");

  vm.img.write(4 * MiB, 4096, 2);
  faulty.before_first_block = [] { throw Error("injected failure"); };
  REQUIRE_THROWS_WITH(backup(vm.config, faulty, *vm.log), Catch::Contains("injected failure"));
  CHECK(vm.img.backy_snapshots() ==
        std::vector<std::string>{rbd_snapshot_name(first.revision.uuid)});
  check_intact(vm.config, first.revision.uuid, vm.dir / "first");

  faulty.before_first_block = nullptr;
  faulty.corrupt = true;
  REQUIRE_THROWS_WITH(backup(vm.config, faulty, *vm.log), Catch::Contains("verification failed"));
  CHECK(vm.log.text().find("block 1: source") != std::string::npos);  // the changed block, named
  CHECK(vm.img.backy_snapshots() ==
        std::vector<std::string>{rbd_snapshot_name(first.revision.uuid)});
  CHECK(vm.img.snapshots().size() == 2);  // and "foreign"
  check_intact(vm.config, first.revision.uuid, vm.dir / "first");
}

TEST_CASE("rbd: the image deleted in the middle of a run fails the run and keeps the revisions") {
  RbdJob vm(64 * MiB, "deleted", 10);
  vm.config.jobs["vm"].source.reads_in_flight = 2;
  FaultFactory faulty(*vm.factory);
  const Revision first = first_backup_then_rewrite(vm, faulty);

  faulty.before_first_block = [&] { vm.img.remove(); };
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE_THROWS_WITH(backup(vm.config, faulty, *vm.log), Catch::Contains(vm.img.name()));
  CHECK(seconds_since(t0) < 60);
  CHECK_FALSE(image_exists(vm.cluster, vm.img.name()));
  check_intact(vm.config, first.uuid, vm.dir / "first");
}

TEST_CASE("rbd: an unreachable cluster fails the job within its timeout") {
  TempDir dir(xfs_mount(), "rbd-unreach");
  // A monitor address where nothing listens (a port of the test's own, closed again).
  std::ofstream(dir / "ceph.conf") << "[global]\nmon host = 127.0.0.1:9\n"
                                      "auth cluster required = none\n"
                                      "auth service required = none\n"
                                      "auth client required = none\n";
  Config config = rbd_config(dir / "base", (dir / "ceph.conf").string(), "vm1", 3);
  auto factory = make_source_factory(config.ceph);
  CapturedLog log;
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE_THROWS_WITH(backup(config, *factory, *log), Catch::Contains("cannot connect"));
  CHECK(seconds_since(t0) < 15);

  // The same through backyd --once: exit status 1, the reason in its log.
  auto yaml = write_config(
      dir.path(),
      "global: {base-dir: " + (dir / "base").string() +
          "}\nceph: {conf: " + (dir / "ceph.conf").string() +
          ", timeout: 3}\nschedules: {s: {daily: {interval: 1d, keep: 3}}}\n"
          "jobs: {vm: {schedule: s, source: {type: ceph-rbd, pool: rbd, image: vm1}}}\n");
  const auto t1 = std::chrono::steady_clock::now();
  auto r = run({BACKYD_PATH, "-c", yaml.string(), "--once", "vm"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK((r.out + r.err).find("cannot connect") != std::string::npos);
  CHECK(seconds_since(t1) < 15);
}

TEST_CASE(
    "rbd: the cluster stopped during a run fails the job in bounded time with earlier "
    "revisions intact") {
  OwnCluster own;
  const int timeout = 5;
  RbdJob vm(64 * MiB, "stopped", timeout, own.conf());
  vm.config.jobs["vm"].source.reads_in_flight = 2;
  FaultFactory faulty(*vm.factory);
  const Revision first = first_backup_then_rewrite(vm, faulty);

  std::chrono::steady_clock::time_point stopped;
  faulty.before_first_block = [&] {
    own.stop();
    stopped = std::chrono::steady_clock::now();
  };
  REQUIRE_THROWS(backup(vm.config, faulty, *vm.log));
  const double took = seconds_since(stopped);
  INFO("the run failed " << took << " s after the cluster stopped");
  // Reads time out after `timeout`; abandon() then tries (and fails) to drop the snapshot, with
  // a few operations bounded by the same timeout.
  CHECK(took < 8 * timeout);
  check_intact(vm.config, first.uuid, vm.dir / "first");
  vm.img.forget();  // its cluster is gone, and the image with it
}

}  // namespace backy::test

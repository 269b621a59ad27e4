// Snapshots belong to their job: two backup hosts (or two jobs) on one RBD image never delete
// each other's backy-* snapshots, and a snapshot that a failed or crashed run of this job left
// behind is removed by its next successful run.
#include <catch2/catch.hpp>
#include <fstream>

#include "ceph/rbd_source.h"
#include "ceph/rbd_support.h"
#include "repo/repository.h"
#include "support/test_env.h"
#include "util/uuid.h"

namespace backy::test {

namespace {
constexpr uint64_t MiB = 1024 * 1024;

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}
}  // namespace

TEST_CASE("rbd: two backup hosts on one image keep each other's snapshots and incrementals") {
  RbdJob vm(32 * MiB, "twohosts");
  // Two hosts: the same job name and image, their own base-dirs.
  Config host_a = vm.config, host_b = vm.config;
  host_a.global.base_dir = vm.dir / "a";
  host_b.global.base_dir = vm.dir / "b";
  vm.img.write(0, 8 * MiB, 1);

  BackupResult a1 = backup(host_a, *vm.factory, *vm.log);
  BackupResult b1 = backup(host_b, *vm.factory, *vm.log);
  vm.img.write(4 * MiB, 4096, 2);
  BackupResult a2 = backup(host_a, *vm.factory, *vm.log);
  BackupResult b2 = backup(host_b, *vm.factory, *vm.log);

  // Each host's second run was an incremental from its own first: the other did not take its
  // parent's snapshot away.
  CHECK(a2.revision.parent == a1.revision.uuid);
  CHECK(b2.revision.parent == b1.revision.uuid);
  const auto snaps = vm.img.backy_snapshots();
  CHECK(snaps.size() == 2);
  CHECK(has(snaps, rbd_snapshot_name(a2.revision.uuid)));
  CHECK(has(snaps, rbd_snapshot_name(b2.revision.uuid)));
  CHECK(a2.warnings.empty());
  CHECK(b2.warnings.empty());
}

TEST_CASE("rbd: a snapshot left by a crashed run of this job goes with the next run, others stay") {
  RbdJob vm(16 * MiB, "crashleft");
  vm.img.write(0, 4 * MiB, 1);
  BackupResult first = vm.backup();

  // A run that crashed after creating its snapshot: its record in the job directory, and the
  // snapshot on the image. And someone else's backy-* snapshot with no record here.
  const std::string crashed = new_uuid(), foreign = new_uuid();
  std::ofstream(vm.dir / "base" / "vm" / (crashed + ".snapshot")).flush();
  vm.img.snap_create(rbd_snapshot_name(crashed));
  vm.img.snap_create(rbd_snapshot_name(foreign));

  vm.img.write(0, 4096, 2);
  BackupResult second = vm.backup();
  CHECK(second.revision.parent == first.revision.uuid);
  const auto snaps = vm.img.backy_snapshots();
  CHECK(has(snaps, rbd_snapshot_name(second.revision.uuid)));
  CHECK_FALSE(has(snaps, rbd_snapshot_name(first.revision.uuid)));
  CHECK_FALSE(has(snaps, rbd_snapshot_name(crashed)));
  CHECK(has(snaps, rbd_snapshot_name(foreign)));
  CHECK_FALSE(std::filesystem::exists(vm.dir / "base" / "vm" / (crashed + ".snapshot")));
  // The newest revision's record stays while its snapshot does.
  CHECK(std::filesystem::exists(vm.dir / "base" / "vm" / (second.revision.uuid + ".snapshot")));
  vm.img.snap_remove(rbd_snapshot_name(foreign));
}

}  // namespace backy::test

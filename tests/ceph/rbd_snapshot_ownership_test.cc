// Snapshots belong to their job: two backup hosts (or two jobs) on one RBD image never delete
// each other's backy-* snapshots, and a snapshot that a failed or crashed run of this job left
// behind is removed by its next successful run.
#include <catch2/catch.hpp>
#include <fstream>

#include "ceph/rbd_source.h"
#include "ceph/rbd_support.h"
#include "ceph/source_factory.h"
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
  TestCluster cluster;
  TestImage img(cluster, 32 * MiB, "twohosts");
  TempDir dir(xfs_mount(), "rbd-twohosts");
  // Two hosts: the same job name and image, their own base-dirs.
  Config host_a = rbd_config(dir / "a", cluster.conf(), img.name());
  Config host_b = rbd_config(dir / "b", cluster.conf(), img.name());
  auto factory = make_source_factory(host_a.ceph);
  CapturedLog log;
  img.write(0, 8 * MiB, 1);

  BackupResult a1 = backup(host_a, *factory, *log);
  BackupResult b1 = backup(host_b, *factory, *log);
  img.write(4 * MiB, 4096, 2);
  BackupResult a2 = backup(host_a, *factory, *log);
  BackupResult b2 = backup(host_b, *factory, *log);

  // Each host's second run was an incremental from its own first: the other did not take its
  // parent's snapshot away.
  CHECK(a2.revision.parent == a1.revision.uuid);
  CHECK(b2.revision.parent == b1.revision.uuid);
  const auto snaps = img.backy_snapshots();
  CHECK(snaps.size() == 2);
  CHECK(has(snaps, rbd_snapshot_name(a2.revision.uuid)));
  CHECK(has(snaps, rbd_snapshot_name(b2.revision.uuid)));
  CHECK(a2.warnings.empty());
  CHECK(b2.warnings.empty());
}

TEST_CASE("rbd: a snapshot left by a crashed run of this job goes with the next run, others stay") {
  TestCluster cluster;
  TestImage img(cluster, 16 * MiB, "crashleft");
  TempDir dir(xfs_mount(), "rbd-crashleft");
  Config config = rbd_config(dir / "base", cluster.conf(), img.name());
  auto factory = make_source_factory(config.ceph);
  CapturedLog log;
  img.write(0, 4 * MiB, 1);
  BackupResult first = backup(config, *factory, *log);

  // A run that crashed after creating its snapshot: its record in the job directory, and the
  // snapshot on the image. And someone else's backy-* snapshot with no record here.
  const std::string crashed = new_uuid(), foreign = new_uuid();
  std::ofstream(dir / "base" / "vm" / (crashed + ".snapshot")).flush();
  img.snap_create(rbd_snapshot_name(crashed));
  img.snap_create(rbd_snapshot_name(foreign));

  img.write(0, 4096, 2);
  BackupResult second = backup(config, *factory, *log);
  CHECK(second.revision.parent == first.revision.uuid);
  const auto snaps = img.backy_snapshots();
  CHECK(has(snaps, rbd_snapshot_name(second.revision.uuid)));
  CHECK_FALSE(has(snaps, rbd_snapshot_name(first.revision.uuid)));
  CHECK_FALSE(has(snaps, rbd_snapshot_name(crashed)));
  CHECK(has(snaps, rbd_snapshot_name(foreign)));
  CHECK_FALSE(std::filesystem::exists(dir / "base" / "vm" / (crashed + ".snapshot")));
  // The newest revision's record stays while its snapshot does.
  CHECK(std::filesystem::exists(dir / "base" / "vm" / (second.revision.uuid + ".snapshot")));
  img.snap_remove(rbd_snapshot_name(foreign));
}

}  // namespace backy::test

// Backups of RBD images on the real test cluster: every revision equals `rbd export` of its
// snapshot, incrementals read only what changed and share extents with their parent, and the
// image is left with exactly one backy-* snapshot (foreign snapshots untouched).
#include <catch2/catch.hpp>
#include <random>
#include <set>

#include "ceph/rbd_source.h"
#include "ceph/rbd_support.h"
#include "repo/repository.h"
#include "support/test_env.h"

namespace backy::test {

namespace {

constexpr uint64_t MiB = 1024 * 1024;
constexpr uint64_t kObject = 4 * MiB;

// Checks revision `r` against the source: its image (and `latest`) equals `rbd export` of its
// snapshot byte for byte, and its snapshot is the only backy-* snapshot left on the image.
void check_revision(const BackupResult& r, RbdJob& vm) {
  Repository repo(vm.config.global.base_dir / "vm");
  const std::string snap = rbd_snapshot_name(r.revision.uuid);
  rbd_export(vm.config.ceph.conf, vm.img.spec() + "@" + snap, vm.dir / "export");
  INFO("revision " << r.revision.uuid);
  REQUIRE(std::filesystem::file_size(repo.image_path(r.revision.uuid)) == r.revision.size);
  REQUIRE(same_content(repo.image_path(r.revision.uuid), vm.dir / "export"));
  REQUIRE(same_content(repo.dir() / "latest", vm.dir / "export"));
  REQUIRE(vm.img.backy_snapshots() == std::vector<std::string>{snap});
  REQUIRE(r.revision.source.at("type") == "ceph-rbd");
  REQUIRE(r.revision.source.at("snapshot") == snap);
}

}  // namespace

TEST_CASE(
    "rbd: full then incrementals after random writes and discards and resizes equal rbd "
    "export every time") {
  RbdJob vm(128 * MiB, "incr");
  vm.img.snap_create("operator-snap");  // foreign: must survive every run

  // Data in objects 0-1, 5-8 and 25; the rest of the image was never written.
  vm.img.write(0, 8 * MiB, 1);
  vm.img.write(20 * MiB, 12 * MiB + 12288, 2);
  vm.img.write(100 * MiB + 4096, 4096, 3);

  BackupResult full = vm.backup();
  check_revision(full, vm);
  CHECK(full.revision.parent.empty());
  // A full backup reads the allocated objects only (bytes_read excludes the verification).
  CHECK(full.revision.stats.bytes_read == 7 * kObject);

  // 1 % of the image in random 4 KiB writes, a whole-object discard, a partial discard.
  vm.img.discard(24 * MiB, kObject);  // object 6 disappears
  vm.img.discard(1 * MiB, 64 * 1024);
  vm.img.write(2 * MiB, 4096, 4);
  std::set<uint64_t> pages{2 * MiB / 4096}, new_objects, old_pages{2 * MiB / 4096};
  const std::set<uint64_t> had_data{0, 1, 5, 7, 8, 25};  // object 6 is gone
  std::mt19937_64 rng(42);
  const uint64_t writes = 128 * MiB / 100 / 4096;
  for (uint64_t i = 0; i < writes; ++i) {
    uint64_t off = (rng() % (128 * MiB / 4096)) * 4096;
    vm.img.write(off, 4096, 100 + i);
    pages.insert(off / 4096);
    if (!had_data.contains(off / kObject))
      new_objects.insert(off / kObject);
    else
      old_pages.insert(off / 4096);
  }
  BackupResult incr = vm.backup();
  check_revision(incr, vm);
  CHECK(incr.revision.parent == full.revision.uuid);
  // Bytes read are the changed pages of objects that existed (the 64 KiB discard may count),
  // and objects created since (librbd reports them whole; the OSD sends their data sparsely).
  // Not the image. (bytes_read excludes the verification sample.)
  const uint64_t sample = 0;
  const uint64_t whole = new_objects.size() * kObject;
  INFO(pages.size() << " pages changed, " << new_objects.size() << " new objects");
  CHECK(incr.revision.stats.bytes_read >= sample + old_pages.size() * 4096);
  CHECK(incr.revision.stats.bytes_read <= sample + whole + (old_pages.size() + 16) * 4096);
  // Written are the changed pages; the rest is shared with the first revision.
  CHECK(incr.revision.stats.bytes_written <= (writes + 1) * 4096);
  // Data of the first revision: objects 0-1, 5-7 whole, 12 KiB of 8, 4 KiB of 25; object 6 was
  // discarded since. Everything but the changed pages stays shared with the first revision.
  Repository repo(vm.config.global.base_dir / "vm");
  const auto image = repo.image_path(incr.revision.uuid);
  INFO("shared " << shared_bytes(image) << " unshared " << unshared_bytes(image));
  CHECK(shared_bytes(image) >= 4 * kObject - (writes + 16) * 4096);
  CHECK(unshared_bytes(image) <= (writes + 1) * 4096);

  // Grow to a size that is not a multiple of the block size; write in the new area.
  vm.img.resize(150 * MiB + 12288);
  vm.img.write(140 * MiB, MiB, 5);
  vm.img.write(150 * MiB, 12288, 6);
  BackupResult grown = vm.backup();
  check_revision(grown, vm);
  CHECK(grown.revision.parent == incr.revision.uuid);
  CHECK(grown.revision.size == 150 * MiB + 12288);

  // Shrink into the data, to a partial last block.
  vm.img.resize(90 * MiB + 4096);
  vm.img.write(60 * MiB, 4096, 7);
  BackupResult shrunk = vm.backup();
  check_revision(shrunk, vm);
  CHECK(shrunk.revision.parent == grown.revision.uuid);
  CHECK(shrunk.revision.size == 90 * MiB + 4096);

  // Nothing changed: nothing read or written (but the verification sample).
  BackupResult same = vm.backup();
  check_revision(same, vm);
  CHECK(same.revision.stats.bytes_written == 0);
  CHECK(same.revision.stats.bytes_read == 0);

  CHECK(vm.img.snapshots() ==
        std::vector<std::string>{rbd_snapshot_name(same.revision.uuid), "operator-snap"});
}

TEST_CASE("rbd: the parent's snapshot deleted by someone else gives an exact full backup") {
  RbdJob vm(64 * MiB, "gone");
  vm.img.write(0, 16 * MiB, 1);
  vm.img.snap_create("keep-me");

  BackupResult first = vm.backup();
  check_revision(first, vm);
  vm.img.snap_remove(rbd_snapshot_name(first.revision.uuid));
  vm.img.write(8 * MiB, 4096, 2);
  vm.img.discard(12 * MiB, kObject);

  BackupResult second = vm.backup();
  check_revision(second, vm);
  CHECK(second.revision.parent.empty());
  CHECK(vm.log.text().find("cannot be a parent: its source snapshot is gone") != std::string::npos);
  CHECK(vm.img.snapshots() ==
        std::vector<std::string>{rbd_snapshot_name(second.revision.uuid), "keep-me"});
}

TEST_CASE("rbd: full-always never diffs (one read in flight)") {
  RbdJob vm(32 * MiB, "fullalways");
  vm.config.jobs["vm"].source.full_always = true;
  vm.config.jobs["vm"].source.reads_in_flight = 1;
  vm.img.write(4 * MiB, 8 * MiB, 1);
  BackupResult a = vm.backup();
  vm.img.write(4 * MiB, 4096, 2);
  BackupResult b = vm.backup();
  check_revision(b, vm);
  CHECK(b.revision.parent.empty());
  CHECK(a.revision.parent.empty());
  CHECK(b.revision.stats.bytes_read == 2 * kObject);
}

TEST_CASE("rbd: a run records its snapshot and its clean-up as phases of its whole duration") {
  RbdJob vm(32 * MiB, "phases");
  vm.img.write(0, 8 * MiB, 1);
  BackupResult full = vm.backup();
  vm.img.write(4 * MiB, 4096, 2);
  BackupResult incr = vm.backup();  // its clean-up removes the full run's snapshot
  check_revision(incr, vm);
  Repository repo(vm.config.global.base_dir / "vm");
  for (const BackupResult* r : {&full, &incr}) {
    const RevisionStats& st = r->revision.stats;
    INFO("revision " << r->revision.uuid << " of " << st.duration << " s");
    REQUIRE(st.phases.size() == kPhases.size());
    double sum = 0;
    for (const auto& [phase, secs] : st.phases) sum += secs;
    CHECK(sum == Approx(st.duration).epsilon(0.10));
    // The snapshot and the clean-up each ask the cluster something: neither is free.
    CHECK(st.phases.at(Phase::snapshot) > 0);
    CHECK(st.phases.at(Phase::cleanup) > 0);
    // The .rev has the whole run's figures, not the commit's: it was rewritten after the
    // clean-up (the phases to the microsecond they are written with).
    const Revision on_disk = repo.find(r->revision.uuid);
    CHECK(on_disk.stats.duration == Approx(st.duration).margin(1e-9));
    REQUIRE(on_disk.stats.phases.size() == kPhases.size());
    for (Phase p : kPhases)
      CHECK(on_disk.stats.phases.at(p) == Approx(st.phases.at(p)).margin(1e-6));
    CHECK(on_disk.stats.phases.at(Phase::cleanup) > 0);
  }
  CHECK(vm.log.text().find("backup " + incr.revision.uuid + " done: ") != std::string::npos);
}

}  // namespace backy::test

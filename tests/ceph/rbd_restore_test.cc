// Restore into a new RBD image through the factory's restore targets, and `backyd --once` with a
// ceph-rbd job end to end.
#include <catch2/catch.hpp>

#include "ceph/rbd_source.h"
#include "ceph/rbd_support.h"
#include "ceph/rbd_target.h"
#include "repo/repository.h"
#include "restore/restore.h"
#include "support/test_env.h"
#include "util/error.h"

namespace backy::test {

namespace {
constexpr uint64_t MiB = 1024 * 1024;
}

TEST_CASE("rbd: restore into a new RBD image equals the source and an existing image is refused") {
  RbdJob vm(96 * MiB + 8192, "restore");
  vm.img.write(0, 5 * MiB, 1);
  // More 4 MiB chunks than writes in flight: slots and their buffers are reused (regression: a
  // reused buffer went out with its stale cached crc, and the OSD dropped every write).
  vm.img.write(20 * MiB + 4096, 70 * MiB, 2);
  vm.img.write(96 * MiB, 8192, 3);
  BackupResult r = vm.backup();
  rbd_export(vm.cluster.conf(), vm.img.spec() + "@" + rbd_snapshot_name(r.revision.uuid),
             vm.dir / "source");

  TestImage restored(vm.cluster, 4096, "restored");  // a name to use; removed and made anew below
  restored.remove();
  Repository repo(vm.config.global.base_dir / "vm");
  {
    auto target = vm.factory->open_restore_target({"rbd", "", restored.name()}, r.revision.size);
    CHECK(target->zero_filled());
    restore_image(repo.image_path(r.revision.uuid), r.revision.size, *target);
  }
  restored.adopt();
  rbd_export(vm.cluster.conf(), "rbd/" + restored.name(), vm.dir / "restored");
  CHECK(std::filesystem::file_size(vm.dir / "restored") == 96 * MiB + 8192);
  CHECK(same_content(vm.dir / "source", vm.dir / "restored"));

  // Refused (there is no force for RBD targets); the image keeps its data.
  REQUIRE_THROWS_WITH(
      vm.factory->open_restore_target({"rbd", "", restored.name()}, r.revision.size),
      Catch::Contains("exists; restore never overwrites"));
  rbd_export(vm.cluster.conf(), "rbd/" + restored.name(), vm.dir / "restored");
  CHECK(same_content(vm.dir / "source", vm.dir / "restored"));
  {
    // Abandoned before finish(): the half-restored image is removed.
    TestImage partial(vm.cluster, 4096, "partial");
    partial.remove();
    auto target = vm.factory->open_restore_target({"rbd", "", partial.name()}, 8 * MiB);
    std::vector<char> data(4 * MiB, 'x');
    target->write(0, data);
    target.reset();
    CHECK_FALSE(image_exists(vm.cluster, partial.name()));
  }
  // The same revision restored into a file, as backyctl writes one (lib/restore/file_target.cc).
  auto file = open_file_target((vm.dir / "file").string(), r.revision.size, false);
  restore_image(repo.image_path(r.revision.uuid), r.revision.size, *file);
  CHECK(same_content(vm.dir / "source", vm.dir / "file"));
}

TEST_CASE("rbd: restore target names") {
  CHECK_FALSE(parse_rbd_target("/dev/vdb").has_value());
  auto a = parse_rbd_target("rbd:pool/img");
  REQUIRE(a);
  CHECK((a->pool == "pool" && a->rbd_namespace.empty() && a->image == "img"));
  auto b = parse_rbd_target("rbd:pool/ns/img");
  REQUIRE(b);
  CHECK((b->pool == "pool" && b->rbd_namespace == "ns" && b->image == "img"));
  for (const char* bad : {"rbd:", "rbd:pool", "rbd:pool/", "rbd:/img", "rbd:a/b/c/d"})
    CHECK_THROWS_WITH(parse_rbd_target(bad), Catch::Contains("is not rbd:POOL/IMAGE"));
  FileSourceFactory files;
  CHECK_THROWS_WITH(files.open_restore_target({"pool", "", "img"}, 4096),
                    Catch::Contains("RBD targets are not available"));
}

TEST_CASE("rbd: backyd --once backs up a ceph-rbd job (full then incremental)") {
  RbdJob vm(64 * MiB, "once");
  vm.img.write(0, 10 * MiB, 1);
  auto yaml = write_config(
      vm.dir.path(), "global: {base-dir: " + (vm.dir / "base").string() +
                         "}\nceph: {conf: " + vm.cluster.conf() +
                         "}\nschedules: {s: {daily: {interval: 1d, keep: 3}}}\n"
                         "jobs: {vm: {schedule: s, source: {type: ceph-rbd, pool: rbd, image: " +
                         vm.img.name() + ", reads-in-flight: 4}}}\n");
  Repository repo(vm.dir / "base" / "vm");
  for (int run_no = 0; run_no < 2; ++run_no) {
    if (run_no == 1) vm.img.write(5 * MiB, 4096, 2);
    // --tags: run now even though the daily tag is not due again yet.
    auto r = run({BACKYD_PATH, "-c", yaml.string(), "--once", "vm", "--tags", "daily"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    auto revs = repo.revisions();
    REQUIRE(revs.size() == static_cast<size_t>(run_no + 1));
    CHECK(revs.back().parent == (run_no == 0 ? "" : revs.front().uuid));
    rbd_export(vm.cluster.conf(), vm.img.spec() + "@" + rbd_snapshot_name(revs.back().uuid),
               vm.dir / "export");
    CHECK(same_content(repo.dir() / "latest", vm.dir / "export"));
    CHECK(vm.img.backy_snapshots() ==
          std::vector<std::string>{rbd_snapshot_name(revs.back().uuid)});
  }
}

}  // namespace backy::test

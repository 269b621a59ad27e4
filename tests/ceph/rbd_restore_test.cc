// Restore into a new RBD image through the factory's restore targets, and `backyd --once` with a
// ceph-rbd job end to end.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "ceph/rbd_source.h"
#include "ceph/rbd_support.h"
#include "ceph/rbd_target.h"
#include "repo/repository.h"
#include "restore/restore.h"
#include "support/test_env.h"
#include "util/error.h"
#include "util/file_io.h"

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

TEST_CASE("rbd: a restore writes only the data: holes and zero pages leave objects absent") {
  RbdJob vm(4096, "sparse");  // for its cluster, directory and factory
  const uint64_t size = 64 * MiB, kObject = 4 * MiB;
  const std::filesystem::path image = vm.dir / "revision";
  {
    UniqueFd fd = open_file(image, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(::ftruncate(fd.get(), static_cast<off_t>(size)) == 0);
    pwrite_full(fd.get(), pseudo_random_bytes(MiB, 1), 4096, "revision");  // object 0
    // Objects 4 and 5 allocated but zero, but for 4 KiB of data in object 5.
    pwrite_full(fd.get(), std::string(2 * kObject, '\0'), 4 * kObject, "revision");
    pwrite_full(fd.get(), pseudo_random_bytes(4096, 2), 21 * MiB, "revision");
    pwrite_full(fd.get(), std::string("end"), size - 3, "revision");  // object 15
  }
  TestImage restored(vm.cluster, 4096, "sparse-restored");
  restored.remove();
  {
    auto target = vm.factory->open_restore_target({"rbd", "", restored.name()}, size);
    restore_image(image, size, *target);
  }
  restored.adopt();

  librbd::RBD rbd;
  librbd::Image img;
  REQUIRE(rbd.open(vm.cluster.pool(), img, restored.name().c_str()) == 0);
  // Each object that exists, and where its data ends (diff_iterate2 reports an object as one
  // extent from its start to its end).
  std::map<uint64_t, uint64_t> ends;
  auto each = [&](uint64_t off, size_t len, int exists) {
    if (exists) ends[off / kObject] = std::max(ends[off / kObject], off + len);
  };
  REQUIRE(img.diff_iterate2(
              nullptr, 0, size, false, false,
              [](uint64_t off, size_t len, int exists, void* arg) {
                (*static_cast<decltype(each)*>(arg))(off, len, exists);
                return 0;
              },
              &each) == 0);
  img.close();
  // Object 4 (zeros only) and every hole absent; object 5 ends with its data: its zero pages
  // after it were not written either.
  CHECK(ends == std::map<uint64_t, uint64_t>{{0, MiB + 4096}, {5, 21 * MiB + 4096}, {15, size}});
  rbd_export(vm.cluster.conf(), "rbd/" + restored.name(), vm.dir / "exported");
  CHECK(same_content(image, vm.dir / "exported"));
}

namespace {

// A restore target that forwards to `inner` and records the chunk memory its writes were given.
class RecordingTarget : public RestoreTarget {
 public:
  explicit RecordingTarget(std::unique_ptr<RestoreTarget> inner) : inner_(std::move(inner)) {}
  bool zero_filled() const override { return inner_->zero_filled(); }
  void write(uint64_t offset, std::span<const char> data) override {
    ++copied;
    inner_->write(offset, data);
  }
  ChunkAllocator chunk_allocator() override { return inner_->chunk_allocator(); }
  void write_chunk(uint64_t offset, std::span<const char> data,
                   const std::shared_ptr<ChunkMemory>& memory) override {
    buffers.insert(memory->data());
    ++chunks;
    inner_->write_chunk(offset, data, memory);
  }
  void finish() override { inner_->finish(); }

  std::set<const char*> buffers;  // distinct chunk memory written from
  int chunks = 0, copied = 0;

 private:
  std::unique_ptr<RestoreTarget> inner_;
};

}  // namespace

TEST_CASE(
    "rbd: a restore sends the revision from the buffers it read it into, reused only when "
    "librbd let go") {
  RbdJob vm(4096, "zerocopy");
  const uint64_t size = 100 * MiB + 4096;
  const std::filesystem::path image = vm.dir / "revision";
  {
    UniqueFd fd = open_file(image, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(::ftruncate(fd.get(), static_cast<off_t>(size)) == 0);
    pwrite_full(fd.get(), pseudo_random_bytes(96 * MiB, 7), 0, "revision");
    pwrite_full(fd.get(), std::string(4096, 'z'), 100 * MiB, "revision");  // after a hole
  }
  TestImage restored(vm.cluster, 4096, "zerocopy-restored");
  restored.remove();
  auto cluster = RbdCluster::connect(vm.config.ceph);
  {
    // Two writes in flight: 25 data chunks through a pool of at most 2 + 8 + 2 kept buffers, so
    // buffers are read into again after librbd sent them (regression guard: a reused buffer must
    // not go out with the crc it had cached for its old bytes; the OSD would drop every write).
    RecordingTarget target(open_rbd_target(cluster, {"rbd", "", restored.name()}, size, 2));
    REQUIRE(target.chunk_allocator());
    restore_image(image, size, target);
    CHECK(target.chunks == 25);
    CHECK(target.copied == 0);
    CHECK(target.buffers.size() < 25);  // buffers were read into again
  }
  restored.adopt();
  rbd_export(vm.cluster.conf(), "rbd/" + restored.name(), vm.dir / "exported");
  CHECK(same_content(image, vm.dir / "exported"));
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

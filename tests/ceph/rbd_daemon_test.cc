// The whole path on the real cluster: backyd backs up a ceph-rbd job on its own schedule, and
// `backyctl restore ... rbd:POOL/IMAGE` writes the revision into a new image through the daemon.
#include <catch2/catch.hpp>

#include "ceph/rbd_source.h"
#include "integration/daemon_support.h"
#include "rbd_support.h"
#include "repo/repository.h"
#include "support/test_env.h"

namespace backy::test {

namespace {

constexpr uint64_t MiB = 1024 * 1024;

// A backyd with one ceph-rbd job "vm" on `image`; `job_extra` is added to the job's mapping.
std::filesystem::path rbd_daemon_config(const TempDir& dir, const std::string& conf,
                                        const std::string& image,
                                        const std::string& job_extra = "") {
  return write_config(dir.path(),
                      "global: {base-dir: " + (dir / "base").string() +
                          ", socket: " + (dir / "ctl.sock").string() + "}\nceph: {conf: " + conf +
                          "}\nschedules: {s: {daily: {interval: 1d, keep: 3}}}\n"
                          "jobs: {vm: {schedule: s, source: {type: ceph-rbd, pool: rbd, image: " +
                          image + "}" + job_extra + "}}\n");
}

}  // namespace

TEST_CASE("rbd: backyd backs up an RBD image and backyctl restores it into a new image") {
  RbdJob vm(48 * MiB, "daemon");
  TestImage restored(vm.cluster, 4096, "restored");
  restored.remove();  // only the name is wanted; backyd creates the image
  vm.img.write(0, 6 * MiB, 1);
  vm.img.write(30 * MiB, 4096, 2);
  const auto sock = vm.dir / "ctl.sock";
  Daemon daemon(rbd_daemon_config(vm.dir, vm.cluster.conf(), vm.img.name()), vm.dir / "backyd.log");
  Repository repo(vm.dir / "base" / "vm");
  // No revisions yet: the job runs at once.
  REQUIRE(eventually(60, [&] { return repo.revisions().size() == 1; }));
  const Revision rev = repo.revisions()[0];
  rbd_export(vm.cluster.conf(), vm.img.spec() + "@" + rbd_snapshot_name(rev.uuid),
             vm.dir / "export");
  CHECK(same_content(repo.image_path(rev.uuid), vm.dir / "export"));

  const std::string target = "rbd:rbd/" + restored.name();
  ProcessResult r = run({BACKYCTL_PATH, "-s", sock.string(), "restore", "vm", "latest", target});
  INFO(r.out << r.err << daemon.log());
  REQUIRE(r.exit_code == 0);
  restored.adopt();
  rbd_export(vm.cluster.conf(), "rbd/" + restored.name(), vm.dir / "restored");
  CHECK(same_content(repo.image_path(rev.uuid), vm.dir / "restored"));

  // An existing image is never overwritten.
  ProcessResult again =
      run({BACKYCTL_PATH, "-s", sock.string(), "restore", "vm", "latest", target, "--force"});
  CHECK(again.exit_code == 1);
  CHECK(again.err.find("exists") != std::string::npos);
  CHECK(daemon.stop() == 0);
}

TEST_CASE("rbd: restore into a pool that restore-pools does not list is refused") {
  RbdJob vm(8 * MiB, "pools");
  TestImage restored(vm.cluster, 4096, "notallowed");
  restored.remove();
  vm.img.write(0, 1 * MiB, 5);
  Daemon daemon(
      rbd_daemon_config(vm.dir, vm.cluster.conf(), vm.img.name(), ", restore-pools: [backup]"),
      vm.dir / "backyd.log");
  Repository repo(vm.dir / "base" / "vm");
  REQUIRE(eventually(60, [&] { return repo.revisions().size() == 1; }));
  ProcessResult r = run({BACKYCTL_PATH, "-s", (vm.dir / "ctl.sock").string(), "restore", "vm",
                         "latest", "rbd:rbd/" + restored.name()});
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("pool \"rbd\" is not allowed") != std::string::npos);
  CHECK(r.err.find("restore-pools") != std::string::npos);
  CHECK(r.err.find("[permission_denied]") != std::string::npos);
  CHECK_FALSE(image_exists(vm.cluster, restored.name()));
  CHECK(daemon.stop() == 0);
}

TEST_CASE("rbd: an RBD restore whose backyctl is killed removes the half-written image") {
  RbdJob vm(512 * MiB, "interrupt");
  TestImage restored(vm.cluster, 4096, "interrupted");
  restored.remove();
  vm.img.write(0, 512 * MiB, 9);
  Daemon daemon(rbd_daemon_config(vm.dir, vm.cluster.conf(), vm.img.name()), vm.dir / "backyd.log");
  Repository repo(vm.dir / "base" / "vm");
  REQUIRE(eventually(300, [&] { return repo.revisions().size() == 1; }));

  const std::filesystem::path ctl_log = vm.dir / "ctl.log";
  Child ctl({BACKYCTL_PATH, "-s", (vm.dir / "ctl.sock").string(), "restore", "vm", "latest",
             "rbd:rbd/" + restored.name()},
            ctl_log);
  // The first progress line comes after the first block: the image exists and is being written.
  REQUIRE(
      eventually(120, [&] { return read_text(ctl_log).find("restore ") != std::string::npos; }));
  REQUIRE(image_exists(vm.cluster, restored.name()));
  ctl.signal(SIGKILL);
  CHECK(ctl.wait(10) == 128 + SIGKILL);
  INFO(daemon.log());
  CHECK(eventually(120, [&] { return !image_exists(vm.cluster, restored.name()); }));
  // The daemon goes on serving: the job's lock was released.
  ProcessResult status =
      run({BACKYCTL_PATH, "-s", (vm.dir / "ctl.sock").string(), "scrub", "vm", "latest"});
  CHECK(status.exit_code == 0);
  CHECK(daemon.stop() == 0);
}

}  // namespace backy::test

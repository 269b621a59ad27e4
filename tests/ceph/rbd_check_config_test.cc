// `backyd --check-config --online` on the real cluster: an existing image passes, a missing image
// is an error at its `image:` key, and without --online the cluster is not asked.
#include <catch2/catch.hpp>

#include "integration/daemon_support.h"
#include "rbd_support.h"
#include "support/test_env.h"

namespace backy::test {

TEST_CASE("rbd: backyd --check-config --online names a missing image at its image key") {
  RbdJob vm(4 * 1024 * 1024, "preflight");
  std::filesystem::create_directories(vm.dir / "base");
  const std::string head = "global: {base-dir: " + (vm.dir / "base").string() +
                           "}\nceph: {conf: " + vm.cluster.conf() +
                           "}\nschedules: {s: {daily: {interval: 1d, keep: 3}}}\njobs:\n";
  const auto good = write_config(
      vm.dir.path(), head + "  vm: {schedule: s, source: {type: ceph-rbd, pool: rbd, image: " +
                         vm.img.name() + "}}\n");
  ProcessResult ok = run({BACKYD_PATH, "-c", good.string(), "--check-config", "--online"});
  INFO(ok.err);
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("images checked") != std::string::npos);

  const auto bad = write_config(
      vm.dir.path(), head + "  vm: {schedule: s, source: {type: ceph-rbd, pool: rbd, image: " +
                         vm.img.name() + "-missing}}\n");
  ProcessResult missing = run({BACKYD_PATH, "-c", bad.string(), "--check-config", "--online"});
  INFO(missing.err);
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find(bad.string() + ":5:64: job 'vm': image rbd/" + vm.img.name() +
                         "-missing: ") != std::string::npos);
  // Offline, the image is not looked up.
  CHECK(run({BACKYD_PATH, "-c", bad.string(), "--check-config"}).exit_code == 0);
}

}  // namespace backy::test

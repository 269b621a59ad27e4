// Trust on the real cluster: backyd backing up an RBD image is killed with SIGKILL at random
// moments during 20 backups; no committed revision may change or go wrong, and once a run
// succeeds nothing of the interrupted ones is left, on disk or as a backy-* snapshot.
// (The file-source half and the other trust tests are tests/integration/trust_test.cc.)
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "ceph/rbd_source.h"
#include "ceph/rbd_support.h"
#include "support/crash_rounds.h"
#include "support/ctl_daemon.h"
#include "support/dir_state.h"
#include "support/revision_ledger.h"
#include "support/test_env.h"

namespace backy::test {

namespace {

constexpr uint64_t MiB = 1024 * 1024;

// An RBD image and, in memory, what the test wrote to it: the content every revision of a
// round must equal, without reading the image back.
class ModelledImage {
 public:
  ModelledImage(TestCluster& cluster, uint64_t size)
      : cluster_(cluster), image_(cluster, size, "trust"), bytes_(size, '\0') {}

  TestImage& image() { return image_; }
  // Rewrites a little: `pages` random 4 KiB pages and one random 1 MiB run. (Each object a
  // write touches after a snapshot is copied by the OSD first: a few objects keep it quick.)
  void rewrite_some(std::mt19937_64& rng, int pages) {
    librbd::RBD rbd;
    librbd::Image img;
    REQUIRE(rbd.open(cluster_.pool(), img, image_.name().c_str()) == 0);
    std::uniform_int_distribution<uint64_t> page(0, bytes_.size() / 4096 - 1);
    for (int i = 0; i < pages; ++i) write(img, page(rng) * 4096, 4096, rng());
    std::uniform_int_distribution<uint64_t> mib(0, bytes_.size() / MiB - 1);
    write(img, mib(rng) * MiB, MiB, rng());
  }
  // Overwrites all of it.
  void rewrite_all(uint64_t seed) {
    image_.write(0, bytes_.size(), seed);
    const std::string data = pseudo_random_bytes(bytes_.size(), seed);
    std::memcpy(bytes_.data(), data.data(), data.size());
  }
  std::string digest() const { return content_digest(bytes_); }

 private:
  void write(librbd::Image& img, uint64_t offset, uint64_t len, uint64_t seed) {
    const std::string data = pseudo_random_bytes(len, seed);
    ceph::bufferlist bl;
    bl.append(data);
    REQUIRE(img.write(offset, len, bl) == static_cast<ssize_t>(len));
    std::memcpy(bytes_.data() + offset, data.data(), len);
  }

  TestCluster& cluster_;
  TestImage image_;
  std::vector<char> bytes_;
};

}  // namespace

TEST_CASE("rbd trust: kill -9 of backyd at random moments during 20 backups of an RBD image",
          "[trust]") {
  const uint64_t seed = test_seed("rbd trust kill -9");
  INFO("seed " << seed << " (BACKY_TEST_SEED replays it)");
  std::mt19937_64 rng(seed);
  TestCluster cluster;
  ModelledImage img(cluster, 64 * MiB);
  img.rewrite_all(rng());
  TempDir dir(xfs_mount(), "rbd-trust");
  CtlDaemon d(dir.path(), "ceph: {conf: " + cluster.conf() +
                              "}\nschedules: {s: " + kRoundsSchedule +
                              "}\n"
                              "jobs: {vm: {schedule: s, source: {type: ceph-rbd, pool: rbd, "
                              "image: " +
                              img.image().name() + "}}}\n");
  RevisionLedger ledger(d.job_dir("vm"));
  // Without revisions the job runs at once; that full run is left alone.
  REQUIRE(d.wait_revisions("vm", 1, 60));
  for (const auto& uuid : ledger.check()) CHECK(ledger.image_digest(uuid) == img.digest());
  // An undisturbed incremental gives the time a run takes, and so the range of the kill delays.
  img.rewrite_some(rng, 6);
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(d.ctl({"run", "vm", "--wait"}).exit_code == 0);
  const double run_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& uuid : ledger.check()) CHECK(ledger.image_digest(uuid) == img.digest());
  std::fprintf(stderr, "rbd trust kill -9: an incremental takes %.2f s\n", run_seconds);

  CrashRounds rounds;
  rounds.max_delay = 2 * run_seconds;
  rounds.change_source = [&] {
    img.rewrite_some(rng, 6);
    return img.digest();
  };
  int fenced = 0;
  rounds.after_kill = [&] { fenced += img.image().fence_watchers(); };
  const int committed = run_crash_rounds(d, "vm", ledger, rounds, rng);
  std::fprintf(stderr, "rbd trust kill -9: %d of 20 killed runs had committed; %d watches fenced\n",
               committed, fenced);
  CHECK(committed < 20);  // some kills landed in a run (else the test proves little)

  // The next successful run leaves nothing of the interrupted ones behind: no files, and no
  // backy-* snapshot but its own.
  img.rewrite_some(rng, 6);
  ProcessResult last = d.ctl({"run", "vm", "--wait"});
  INFO(last.out << last.err << d.log());
  REQUIRE(last.exit_code == 0);
  const auto fresh = ledger.check();
  REQUIRE(fresh.size() == 1);
  CHECK(ledger.image_digest(fresh[0]) == img.digest());
  // The older snapshots and their records go after the run, on the daemon's source cleaner.
  CHECK(eventually(60, [&] {
    return img.image().backy_snapshots() == std::vector<std::string>{rbd_snapshot_name(fresh[0])};
  }));
  CHECK(eventually(10, [&] {
    size_t records = 0;
    for (const auto& e : std::filesystem::directory_iterator(d.job_dir("vm")))
      records += e.path().extension() == ".snapshot";
    return records == 1;
  }));
  check_no_leftovers(d.job_dir("vm"));
  check_scrub_clean(d, "vm");
  d.stop();
}

}  // namespace backy::test

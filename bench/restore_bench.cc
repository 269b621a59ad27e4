// backy_restore_bench: restore's speed against `rbd import` and `dd`, in the same run, as ratios.
//
// Run by bench/restore (which starts a cluster and an XFS mount if none is given). For each size
// it writes a revision-like image of random data (fully allocated: the worst case, nothing to
// skip) on the XFS mount and times, in three rounds taking turns, the median reported:
// - restore into a new RBD image (restore_image into the daemon's factory target, connecting
//   included) against `rbd import FILE IMAGE` (which returns after its writes are acknowledged);
// - restore to a new file on another filesystem (DEST_DIR, e.g. the machine's ext4; the file is
//   fsynced and linked in, as backyctl writes one) against
//   `dd if=REV of=FILE bs=4M oflag=direct conv=sparse,fsync` and against the disk's sequential
//   write speed, `dd if=/dev/zero of=FILE bs=4M count=N oflag=direct conv=fsync`;
// - restore to a new file on the repository's own XFS (informational: a reflink there).
// Before every timed step: sync, then echo 3 > /proc/sys/vm/drop_caches (needs root).
//
//   backy_restore_bench CEPH_CONF XFS_DIR DEST_DIR MIB...
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "ceph/ceph_api.h"
#include "ceph/source_factory.h"
#include "restore/restore.h"

namespace fs = std::filesystem;
using namespace backy;

namespace {

constexpr uint64_t MiB = 1024 * 1024;
constexpr int kRounds = 3;

void sh(const std::string& cmd) {
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
}

void drop_caches() {
  ::sync();
  std::ofstream("/proc/sys/vm/drop_caches") << "3\n";
}

struct Step {
  std::function<void()> before;  // untimed: remove what the last round made
  std::function<void()> run;
};

// Median of kRounds timings of each step, the steps taking turns within a round (so that a
// change of the machine's load hits all of them alike), each after its `before` and a dropped
// page cache.
std::vector<double> medians(const std::vector<Step>& steps) {
  std::vector<std::vector<double>> t(steps.size());
  for (int i = 0; i < kRounds; ++i) {
    for (size_t s = 0; s < steps.size(); ++s) {
      steps[s].before();
      drop_caches();
      auto t0 = std::chrono::steady_clock::now();
      steps[s].run();
      t[s].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  std::vector<double> out;
  for (auto& v : t) {
    std::sort(v.begin(), v.end());
    out.push_back(v[kRounds / 2]);
  }
  return out;
}

// `size` bytes of pseudo-random data (xorshift: fast, incompressible enough), fsynced.
void write_image(const fs::path& path, uint64_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  std::vector<uint64_t> buf(MiB / 8);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (uint64_t done = 0; done < size; done += MiB) {
    for (auto& v : buf) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      v = x;
    }
    out.write(reinterpret_cast<const char*>(buf.data()), MiB);
  }
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

void row(const std::string& what, double backy, const std::string& cli, double other) {
  std::printf("  %-30s backy %6.2f s   %-52s %6.2f s   ratio %5.2f\n", what.c_str(), backy,
              cli.c_str(), other, backy / other);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: backy_restore_bench CEPH_CONF XFS_DIR DEST_DIR MIB...\n";
    return 2;
  }
  const std::string conf = argv[1];
  const fs::path repo = fs::path(argv[2]) / "backy-restore-bench";
  const fs::path dest = fs::path(argv[3]) / "backy-restore-bench";
  const std::string rbdc = "rbd -c " + conf + " --no-progress ";
  const std::string imported = "bench-import", restored = "bench-restore";
  Config c;
  c.ceph.conf = conf;
  auto remove_image = [&](const std::string& name) {
    std::system((rbdc + "rm " + name + " >/dev/null 2>&1").c_str());
  };
  auto cleanup = [&] {
    remove_image(imported);
    remove_image(restored);
    fs::remove_all(repo);
    fs::remove_all(dest);
  };
  cleanup();
  int status = 0;
  try {
    fs::create_directories(repo);
    fs::create_directories(dest);
    for (int i = 4; i < argc; ++i) {
      const uint64_t size = std::stoull(argv[i]) * MiB;
      const fs::path rev = repo / "revision";
      write_image(rev, size);
      std::printf("%llu MiB of random data (fully allocated), median of %d rounds\n",
                  static_cast<unsigned long long>(size / MiB), kRounds);

      const fs::path out = dest / "restored", dd = dest / "dd", zero = dest / "zero";
      const fs::path same = repo / "restored";
      const std::vector<double> m = medians({
          {[&] { remove_image(imported); },
           [&] { sh(rbdc + "import " + rev.string() + " " + imported); }},
          {[&] { remove_image(restored); },
           [&] {
             auto factory = make_source_factory(c.ceph);
             auto target = factory->open_restore_target({"rbd", "", restored}, size);
             restore_image(rev, size, *target);
           }},
          {[&] { fs::remove(zero); },
           [&] {
             sh("dd if=/dev/zero of=" + zero.string() + " bs=4M count=" +
                std::to_string(size / (4 * MiB)) + " oflag=direct conv=fsync status=none");
           }},
          {[&] { fs::remove(dd); },
           [&] {
             sh("dd if=" + rev.string() + " of=" + dd.string() +
                " bs=4M oflag=direct conv=sparse,fsync status=none");
           }},
          {[&] { fs::remove(out); },
           [&] {
             auto target = open_file_target(out.string(), size, false);
             restore_image(rev, size, *target);
           }},
          {[&] { fs::remove(same); },
           [&] {
             auto target = open_file_target(same.string(), size, false);
             restore_image(rev, size, *target);
           }},
      });
      row("restore into a new RBD image", m[1], "rbd import FILE IMAGE", m[0]);
      row("restore to a file (" + dest.parent_path().string() + ")", m[4],
          "dd bs=4M oflag=direct conv=sparse,fsync", m[3]);
      row("", m[4], "disk: dd if=/dev/zero bs=4M oflag=direct,fsync", m[2]);
      std::printf("  %-30s backy %6.2f s   (a reflink where the filesystem has them)\n",
                  "restore to a file on the same XFS", m[5]);
      remove_image(imported);
      remove_image(restored);
      for (const auto& f : {out, dd, zero, same}) fs::remove(f);
      fs::remove(rev);
    }
  } catch (const std::exception& e) {
    std::cerr << "backy_restore_bench: " << e.what() << "\n";
    status = 1;
  }
  cleanup();
  return status;
}

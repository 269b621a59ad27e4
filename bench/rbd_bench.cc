// backy_rbd_bench: backyd's RBD paths against the rbd CLI, on the same cluster, in the same run.
//
// Run by bench/rbd-vs-cli (which starts a cluster and an XFS mount if none is given). Creates its
// own images, times each pair, prints one line per pair with the ratio backy / rbd (goal: <= 1),
// and the no-change incremental of a 1 TiB thin image (goal: < 2 s). Everything it creates is
// removed at the end. Backups go through the product's own code (backup_job with the daemon's
// source factory, a fresh cluster connection per run like a `backyd --once`), the CLI side through
// `rbd`; both write to the same XFS filesystem.
//
//   backy_rbd_bench CEPH_CONF XFS_DIR [IMAGE_MIB]
#include <fcntl.h>
#include <unistd.h>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <random>
#include <string>

#include "backup/job_backup.h"
#include "ceph/source_factory.h"
#include "repo/repository.h"
#include "ceph/ceph_api.h"

namespace fs = std::filesystem;
using namespace backy;

namespace {

constexpr uint64_t MiB = 1024 * 1024;

double timed(const std::function<void()>& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void sh(const std::string& cmd) {
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
}

void drop_cache(const fs::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error("open " + file.string());
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

void check(int r, const std::string& what) {
  if (r < 0) throw std::runtime_error(what + ": " + std::to_string(r));
}

// Test-side image handling through librbd (what a VM would do).
struct Images {
  librados::Rados rados;
  librados::IoCtx io;
  explicit Images(const std::string& conf) {
    check(rados.init2("client.admin", "ceph", 0), "init");
    check(rados.conf_read_file(conf.c_str()), "conf");
    check(rados.connect(), "connect");
    check(rados.ioctx_create("rbd", io), "pool rbd");
  }
  void create(const std::string& name, uint64_t size) {
    librbd::RBD rbd;
    int order = 22;
    check(rbd.create(io, name.c_str(), size, &order), "create " + name);
  }
  void remove(const std::string& name) {
    librbd::RBD rbd;
    {
      librbd::Image img;
      if (rbd.open(io, img, name.c_str()) == 0) {
        std::vector<librbd::snap_info_t> snaps;
        img.snap_list(snaps);
        for (auto& s : snaps) img.snap_remove(s.name.c_str());
      }
    }
    rbd.remove(io, name.c_str());
  }
  // Writes `count` chunks of `len` random bytes at the offsets `offset(i)`, 16 aio in flight.
  void write(const std::string& name, uint64_t count, uint64_t len,
             const std::function<uint64_t(uint64_t)>& offset) {
    librbd::RBD rbd;
    librbd::Image img;
    check(rbd.open(io, img, name.c_str()), "open " + name);
    std::mt19937_64 rng(7);
    std::vector<librbd::RBD::AioCompletion*> inflight;
    for (uint64_t i = 0; i < count; ++i) {
      std::string data(len, '\0');
      for (size_t j = 0; j + 8 <= len; j += 8) {
        uint64_t v = rng();
        std::memcpy(&data[j], &v, 8);
      }
      ceph::bufferlist bl;
      bl.append(data);
      auto* c = new librbd::RBD::AioCompletion(nullptr, nullptr);
      check(img.aio_write(offset(i), len, bl, c), "write");
      inflight.push_back(c);
      if (inflight.size() == 16) {
        for (auto* x : inflight) {
          x->wait_for_complete();
          check(static_cast<int>(x->get_return_value()), "aio write");
          x->release();
        }
        inflight.clear();
      }
    }
    for (auto* x : inflight) {
      x->wait_for_complete();
      x->release();
    }
    check(img.flush(), "flush");
  }
  void snap(const std::string& name, const std::string& snap) {
    librbd::RBD rbd;
    librbd::Image img;
    check(rbd.open(io, img, name.c_str()), "open " + name);
    check(img.snap_create(snap.c_str()), "snap " + snap);
  }
};

Config job_config(const fs::path& base, const std::string& conf, const std::string& image) {
  Config c;
  c.global.base_dir = base;
  c.ceph.conf = conf;
  c.schedules["s"]["daily"] = TagSpec{Seconds(86400), 3};
  JobConfig job;
  job.name = image;
  job.schedule = "s";
  job.source.type = SourceConfig::Type::ceph_rbd;
  job.source.pool = "rbd";
  job.source.image = image;
  c.jobs[image] = job;
  return c;
}

// One backup as `backyd --once` would run it: a fresh factory, so connecting is included.
BackupResult backup(const Config& c, const std::string& job, spdlog::logger& log) {
  auto factory = make_source_factory(c.ceph);
  return backup_job(c, c.jobs.at(job), *factory, {"daily"}, log);
}

void row(const std::string& what, double backy, double rbd, const std::string& cli) {
  std::printf("%-44s backy %7.2f s   %-34s %7.2f s   ratio %5.2f %s\n", what.c_str(), backy,
              cli.c_str(), rbd, backy / rbd, backy / rbd <= 1.0 ? "ok" : "MISSED (goal <= 1.0)");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: backy_rbd_bench CEPH_CONF XFS_DIR [IMAGE_MIB]\n";
    return 2;
  }
  const std::string conf = argv[1];
  const fs::path dir = fs::path(argv[2]) / "backy-rbd-bench";
  const uint64_t size = (argc > 3 ? std::stoull(argv[3]) : 1024) * MiB;
  const std::string rbdc = "rbd -c " + conf + " --no-progress ";
  auto log =
      std::make_shared<spdlog::logger>("bench", std::make_shared<spdlog::sinks::null_sink_mt>());
  Images images(conf);
  const std::string a = "bench-a", r1 = "bench-import", r2 = "bench-restore", big = "bench-big";
  auto cleanup = [&] {
    for (const auto& n : {a, r1, r2, big}) images.remove(n);
    fs::remove_all(dir);
  };
  cleanup();
  fs::create_directories(dir / "cli");
  int status = 0;
  try {
    std::printf("image %llu MiB of random data, 4 MiB objects; backy: reads in flight 16\n",
                static_cast<unsigned long long>(size / MiB));
    images.create(a, size);
    images.write(a, size / (4 * MiB), 4 * MiB, [](uint64_t i) { return i * 4 * MiB; });
    const Config c = job_config(dir / "backy", conf, a);

    // Full: backy's run takes its own snapshot; rbd exports one taken just before.
    images.snap(a, "cli-0");
    const double cli_full =
        timed([&] { sh(rbdc + "export " + a + "@cli-0 " + (dir / "cli/full").string()); });
    BackupResult full;
    const double backy_full = timed([&] { full = backup(c, a, *log); });
    row("full backup", backy_full, cli_full, "rbd export SNAP FILE");

    // 1 % of the image in random 4 KiB writes.
    std::mt19937_64 rng(1);
    const uint64_t writes = size / 100 / 4096;
    images.write(a, writes, 4096, [&](uint64_t) { return (rng() % (size / 4096)) * 4096; });
    images.snap(a, "cli-1");
    const double cli_incr = timed([&] {
      sh(rbdc + "export-diff --from-snap cli-0 " + a + "@cli-1 " + (dir / "cli/diff").string());
    });
    BackupResult incr;
    const double backy_incr = timed([&] { incr = backup(c, a, *log); });
    row("incremental, 1 % random 4 KiB writes", backy_incr, cli_incr,
        "rbd export-diff --from-snap");
    std::printf("    incremental: %llu bytes read, %llu written; rbd export-diff file %llu bytes\n",
                static_cast<unsigned long long>(incr.revision.stats.bytes_read),
                static_cast<unsigned long long>(incr.revision.stats.bytes_written),
                static_cast<unsigned long long>(fs::file_size(dir / "cli/diff")));

    // Restore of the full revision vs import of the full export. Both files start out of the
    // page cache (backy drops a revision's pages after writing it; rbd's export is dropped here).
    drop_cache(dir / "cli/full");
    const double cli_import =
        timed([&] { sh(rbdc + "import " + (dir / "cli/full").string() + " " + r1); });
    Repository repo(dir / "backy" / a);
    const double backy_restore = timed([&] {
      auto factory = make_source_factory(c.ceph);
      auto target = factory->open_restore_target({"rbd", "", r2}, full.revision.size);
      restore_image(repo.image_path(full.revision.uuid), full.revision.size, *target);
    });
    row("restore into a new RBD image", backy_restore, cli_import, "rbd import FILE");
    images.remove(r1);
    images.remove(r2);
    images.remove(a);

    // 1 TiB thin image holding 1 GiB: a full backup, then the no-change incremental.
    const uint64_t tib = 1024ull * 1024 * MiB;
    images.create(big, tib);
    const uint64_t objects = tib / (4 * MiB);
    images.write(big, 256, 4 * MiB,
                 [&](uint64_t i) { return (i * (objects / 256) + 17) * 4 * MiB; });
    const Config cb = job_config(dir / "backy", conf, big);
    BackupResult bf;
    const double big_full = timed([&] { bf = backup(cb, big, *log); });
    std::printf("1 TiB thin image, 1 GiB data: full backup %.2f s (%llu bytes read)\n", big_full,
                static_cast<unsigned long long>(bf.revision.stats.bytes_read));
    for (double fraction : {0.01, 0.0}) {
      Config cv = cb;
      cv.jobs.at(big).verify.fraction = fraction;  // 0: only min-blocks (8) are verified
      BackupResult bn;
      const double big_none = timed([&] { bn = backup(cv, big, *log); });
      std::printf(
          "%-44s backy %7.2f s   goal < 2 s: %s (verify fraction %.2f: %llu blocks "
          "verified, %llu bytes read)\n",
          "no-change incremental, 1 TiB thin image", big_none, big_none < 2.0 ? "ok" : "MISSED",
          fraction, static_cast<unsigned long long>(bn.revision.stats.verified_blocks),
          static_cast<unsigned long long>(bn.revision.stats.bytes_read));
    }
  } catch (const std::exception& e) {
    std::cerr << "backy_rbd_bench: " << e.what() << "\n";
    status = 1;
  }
  cleanup();
  return status;
}

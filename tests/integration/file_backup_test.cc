// backyd --once with file sources on the real XFS loop filesystem: reflink sharing, bit-exact
// revisions, kill -9 in the middle of a backup, the copy fallback without reflinks, and config
// errors reported with their position.
#include <signal.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "repo/repository.h"
#include "store/block_sums.h"
#include "store/scrub.h"
#include "support/test_env.h"
#include "util/file_io.h"

using namespace backy;
using namespace backy::test;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t MiB = 1024 * 1024;

std::string config_for(const fs::path& base, const fs::path& image) {
  return "global: {base-dir: " + base.string() + "}\n" +
         "schedules: {s: {daily: {interval: 1d, keep: 5}}}\n" +
         "jobs:\n  vm: {schedule: s, source: {type: file, filename: " + image.string() + "}}\n";
}

// A backup now, whether or not the schedule says one is due.
ProcessResult once(const fs::path& config, const std::string& job = "vm") {
  return run({BACKYD_PATH, "-c", config.string(), "--once", job, "--tags", "daily"});
}

}  // namespace

TEST_CASE("two backups share extents and each revision equals its source bit for bit",
          "[integration][xfs]") {
  TempDir t(xfs_mount(), "share");
  const fs::path img = t / "vm.img";
  make_sparse(img, 256 * MiB);
  write_random(img, 16 * MiB, 64 * MiB, 1);
  const fs::path cfg = write_config(t.path(), config_for(t / "base", img));

  ProcessResult r1 = once(cfg);
  INFO(r1.err);
  REQUIRE(r1.exit_code == 0);
  Repository repo(t / "base" / "vm");
  REQUIRE(repo.revisions().size() == 1);
  const Revision first = repo.revisions()[0];
  CHECK(same_content(img, repo.image_path(first.uuid)));
  CHECK(allocated_bytes(repo.image_path(first.uuid)) <= 64 * MiB + MiB);  // holes stayed holes
  fs::copy_file(img, t / "state1");

  // Change 1 % of the data: 160 scattered 4 KiB pages.
  for (int i = 0; i < 160; ++i) write_random(img, 16 * MiB + i * 400 * 1024, 4096, 100 + i);
  ProcessResult r2 = once(cfg);
  INFO(r2.err);
  REQUIRE(r2.exit_code == 0);
  REQUIRE(repo.revisions().size() == 2);
  const Revision second = repo.revisions()[1];
  CHECK(second.parent == first.uuid);
  CHECK(second.stats.bytes_written == 160 * 4096);
  CHECK(same_content(img, repo.image_path(second.uuid)));
  CHECK(same_content(t / "state1", repo.image_path(first.uuid)));
  CHECK(same_content(img, repo.dir() / "latest"));
  // All but the changed pages are shared between the two revisions.
  CHECK(shared_bytes(repo.image_path(second.uuid)) >= 64 * MiB - 160 * 4096 - MiB);
  CHECK(shared_bytes(repo.image_path(first.uuid)) >= 64 * MiB - 160 * 4096 - MiB);
  for (const auto& rev : repo.revisions())
    CHECK(
        scrub_image(repo.image_path(rev.uuid), BlockSums::load(repo.sums_path(rev.uuid))).empty());
}

TEST_CASE("an incremental's new data over holes goes to disk direct and the rest stays shared",
          "[integration][xfs]") {
  TempDir t(xfs_mount(), "direct");
  const fs::path img = t / "vm.img";
  make_sparse(img, 64 * MiB);
  write_random(img, 0, 16 * MiB, 1);
  const fs::path cfg = write_config(t.path(), config_for(t / "base", img));
  REQUIRE(once(cfg).exit_code == 0);
  Repository repo(t / "base" / "vm");
  const Revision first = repo.revisions().at(0);
  fs::copy_file(img, t / "state1");

  // Whole blocks of new data where the parent has holes: the O_DIRECT path of the writer.
  write_random(img, 32 * MiB, 16 * MiB, 2);
  ProcessResult r = once(cfg);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(repo.revisions().size() == 2);
  const Revision second = repo.revisions()[1];
  CHECK(second.parent == first.uuid);
  CHECK(second.stats.bytes_written == 16 * MiB);
  CHECK(same_content(img, repo.image_path(second.uuid)));
  CHECK(same_content(t / "state1", repo.image_path(first.uuid)));
  // The parent's 16 MiB are still shared; the new 16 MiB are the only new allocation, and the
  // rest are holes.
  CHECK(shared_bytes(repo.image_path(second.uuid)) >= 16 * MiB);
  CHECK(allocated_bytes(repo.image_path(second.uuid)) <= 32 * MiB + MiB);
  CHECK(scrub_image(repo.image_path(second.uuid), BlockSums::load(repo.sums_path(second.uuid)))
            .empty());
}

TEST_CASE("kill -9 during a backup harms no revision, and the next run cleans up",
          "[integration][xfs]") {
  TempDir t(xfs_mount(), "kill");
  const fs::path img = t / "vm.img";
  write_random(img, 0, 8 * MiB, 1);
  const fs::path cfg = write_config(t.path(), config_for(t / "base", img));
  REQUIRE(once(cfg).exit_code == 0);
  Repository repo(t / "base" / "vm");
  const Revision first = repo.revisions().at(0);
  const std::string rev_text = read_file(repo.rev_path(first.uuid));

  // A large change, so the next backup runs long enough to be killed in the middle.
  write_random(img, 0, 1536 * MiB, 2);
  {
    Child backyd({BACKYD_PATH, "-c", cfg.string(), "--once", "vm", "--tags", "daily"},
                 t / "kill.log");
    // Wait until the new image has data in it, then kill without warning.
    REQUIRE(eventually(30, [&] {
      for (const auto& e : fs::directory_iterator(repo.dir()))
        if (e.path().filename().string().size() == 36 && e.path().filename() != first.uuid &&
            allocated_bytes(e.path()) > 64 * MiB)
          return true;
      return false;
    }));
    backyd.signal(SIGKILL);
    REQUIRE(backyd.wait(10) == 128 + SIGKILL);
  }
  // Still exactly one complete revision, byte for byte as it was.
  REQUIRE(repo.revisions().size() == 1);
  CHECK(read_file(repo.rev_path(first.uuid)) == rev_text);
  CHECK(scrub_image(repo.image_path(first.uuid), BlockSums::load(repo.sums_path(first.uuid)))
            .empty());
  CHECK(fs::read_symlink(repo.dir() / "latest") == first.uuid);
  size_t leftovers = 0;
  for (const auto& e : fs::directory_iterator(repo.dir()))
    if (e.path().filename().string().starts_with(first.uuid) == false &&
        e.path().filename().string().size() >= 36)
      ++leftovers;
  CHECK(leftovers >= 1);

  ProcessResult r = once(cfg);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("removed leftover") != std::string::npos);
  REQUIRE(repo.revisions().size() == 2);
  CHECK(same_content(img, repo.dir() / "latest"));
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(repo.dir())) {
    (void)e;
    ++files;
  }
  CHECK(files == 8);  // 2 x (image, .rev, .sums), latest, .lock
}

TEST_CASE("without reflinks a revision is a full copy, correct, with a warning", "[integration]") {
  TempDir t(non_reflink_dir(), "copy");
  const fs::path img = t / "vm.img";
  make_sparse(img, 64 * MiB);
  write_random(img, 4 * MiB, 8 * MiB, 1);
  const fs::path cfg = write_config(t.path(), config_for(t / "base", img));
  REQUIRE(once(cfg).exit_code == 0);
  write_random(img, 5 * MiB, 4096, 2);
  ProcessResult r = once(cfg);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("does not support reflinks") != std::string::npos);
  Repository repo(t / "base" / "vm");
  REQUIRE(repo.revisions().size() == 2);
  CHECK(same_content(img, repo.image_path(repo.revisions()[1].uuid)));
  CHECK(repo.revisions()[1].stats.bytes_written == 4096);
  // The copy kept the holes.
  CHECK(allocated_bytes(repo.image_path(repo.revisions()[1].uuid)) <= 9 * MiB);
}

TEST_CASE("backyd --check-config reports every error with file:line:col, or a summary",
          "[integration]") {
  TempDir t(non_reflink_dir(), "cfg");
  const fs::path bad = t / "bad.yaml";
  std::ofstream(bad) << "global:\n  base-dir: /srv/backy\n  worker-limit: 0\n"
                        "schedules:\n  s:\n    daily: {interval: 1x, keep: 3}\n"
                        "jobs:\n  vm:\n    schedule: t\n    source: {type: file, filename: /x}\n";
  ProcessResult r = run({BACKYD_PATH, "-c", bad.string(), "--check-config"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find(bad.string() + ":3:17: 'worker-limit' must be at least 1") != std::string::npos);
  CHECK(r.err.find(bad.string() + ":6:23: 'interval': bad duration '1x'") != std::string::npos);
  CHECK(r.err.find(bad.string() + ":9:15: job 'vm' names schedule 't'") != std::string::npos);
  CHECK(r.err.find("3 errors") != std::string::npos);

  // The shipped example (no jobs) with its base-dir here: ok, and the preflight ran (the
  // base-dir without reflinks is a warning naming the key's position).
  std::string example = read_file(fs::path(BACKY_SOURCE_DIR) / "config/backy.yaml");
  const std::string key = "base-dir: /srv/backy";
  REQUIRE(example.find(key) != std::string::npos);
  example.replace(example.find(key), key.size(), "base-dir: " + t.path().string());
  const fs::path good = t / "good.yaml";
  std::ofstream(good) << example;
  ProcessResult ok = run({BACKYD_PATH, "-c", good.string(), "--check-config"});
  INFO(ok.err);
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("ok, 0 jobs, 2 schedules") != std::string::npos);
  CHECK(ok.err.find(good.string() + ":9:13: warning: base-dir " + t.path().string() +
                    " does not support reflinks") != std::string::npos);

  // What the file names must exist: a missing file source is an error at its filename.
  example.replace(example.find("\njobs:\n"), 7,
                  "\njobs:\n  vm: {schedule: default, source: {type: file, filename: " +
                      (t / "missing.img").string() + "}}\n");
  std::ofstream(good, std::ios::trunc) << example;
  ProcessResult missing = run({BACKYD_PATH, "-c", good.string(), "--check-config"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("job 'vm': file source " + (t / "missing.img").string() +
                         ": No such file or directory") != std::string::npos);
  CHECK(missing.err.find(": 1 error, ") != std::string::npos);
}

TEST_CASE("backyd --once names an unknown job or a failing source and exits 1", "[integration]") {
  TempDir t(non_reflink_dir(), "once");
  const fs::path cfg = write_config(t.path(), config_for(t / "base", t / "missing.img"));
  ProcessResult unknown = once(cfg, "nope");
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.err.find("no job named 'nope'") != std::string::npos);
  ProcessResult missing = once(cfg);
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("missing.img") != std::string::npos);
  CHECK(Repository(t / "base" / "vm").revisions().empty());
}

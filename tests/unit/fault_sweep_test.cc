// The fault-injection sweep: every file-system step of a backup run (full and incremental), an
// expiry, a scrub, `forget` and `tags` is made to fail in turn, with EIO and with ENOSPC, once
// (a transient error) and from then on (a disk that stops working), and after each the job
// directory must still keep the repository's promises (repo/repository.h):
//   - every .rev has its image and .sums, and every .rev parses;
//   - every revision that existed before is either bit-identical to what it was, or (for the
//     operations that delete) gone with its .rev;
//   - a revision the operation created equals the source and scrubs clean; a backup that threw
//     created none;
//   - `latest` is absent or names a complete revision;
//   - the next backup, with the disk healthy again, succeeds, and leaves no leftovers and
//     `latest` on the newest revision.
// The steps are counted by running each operation once without faults; the sweep then fails
// step 1, 2, ... N. The closing line prints the sweep's size.
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>

#include "backup/backup.h"
#include "repo/expire.h"
#include "repo/repository.h"
#include "repo/revision_scrub.h"
#include "scratch_dir.h"
#include "source/file_source.h"
#include "store/scrub.h"
#include "util/error.h"
#include "util/file_io.h"
#include "util/uuid.h"

using namespace backy;
namespace fs = std::filesystem;

namespace {

// The kernel, except that the `fail_at`-th changing call (and, when `sticky`, every one after
// it) fails with `error`. Read-only opens are not steps.
class FaultyFileSystem : public FileSystem {
 public:
  int steps = 0;
  int fail_at = 0;  // 0: never
  bool sticky = false;
  int error = EIO;
  std::vector<std::string> names;  // of each step, for the report

  int openat(int dir, const char* name, int flags, mode_t mode) override {
    if ((flags & (O_CREAT | O_WRONLY | O_RDWR)) && fail("open " + std::string(name))) return -1;
    return FileSystem::openat(dir, name, flags, mode);
  }
  int mkdirat(int dir, const char* name, mode_t mode) override {
    return fail("mkdir") ? -1 : FileSystem::mkdirat(dir, name, mode);
  }
  ssize_t pwrite(int fd, const void* buf, size_t len, off_t offset) override {
    return fail("pwrite") ? -1 : FileSystem::pwrite(fd, buf, len, offset);
  }
  int fsync(int fd) override { return fail("fsync") ? -1 : FileSystem::fsync(fd); }
  int fdatasync(int fd) override { return fail("fdatasync") ? -1 : FileSystem::fdatasync(fd); }
  int ftruncate(int fd, off_t len) override {
    return fail("ftruncate") ? -1 : FileSystem::ftruncate(fd, len);
  }
  int fallocate(int fd, int mode, off_t offset, off_t len) override {
    return fail("fallocate") ? -1 : FileSystem::fallocate(fd, mode, offset, len);
  }
  int fchmod(int fd, mode_t mode) override {
    return fail("fchmod") ? -1 : FileSystem::fchmod(fd, mode);
  }
  int clone(int dst, int src) override { return fail("clone") ? -1 : FileSystem::clone(dst, src); }
  ssize_t copy_file_range(int in, loff_t* in_offset, int out, loff_t* out_offset,
                          size_t len) override {
    return fail("copy_file_range")
               ? -1
               : FileSystem::copy_file_range(in, in_offset, out, out_offset, len);
  }
  int renameat(int od, const char* o, int nd, const char* n) override {
    return fail("rename " + std::string(o)) ? -1 : FileSystem::renameat(od, o, nd, n);
  }
  int unlinkat(int dir, const char* name, int flags) override {
    return fail("unlink " + std::string(name)) ? -1 : FileSystem::unlinkat(dir, name, flags);
  }
  int symlinkat(const char* target, int dir, const char* name) override {
    return fail("symlink") ? -1 : FileSystem::symlinkat(target, dir, name);
  }

 private:
  bool fail(std::string name) {
    ++steps;
    names.push_back(std::move(name));
    if (fail_at == 0 || steps < fail_at || (steps > fail_at && !sticky)) return false;
    errno = error;
    return true;
  }
};

// The sweep runs hundreds of small backups, each with a dozen fsyncs: on a memory filesystem
// where one exists (fsync is free there; what is tested is the order of steps, not the disk).
std::filesystem::path sweep_base() {
  std::error_code ec;
  if (std::filesystem::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0)
    return "/dev/shm";
  return std::filesystem::temp_directory_path();
}

spdlog::logger& quiet() {
  static spdlog::logger log("test", std::make_shared<spdlog::sinks::null_sink_mt>());
  return log;
}

constexpr uint64_t kImageSize = kBlockSize + 3 * kPageSize + 100;  // two blocks, one partial

// A sparse source with a few random pages in each block; `seed` picks which and what.
void write_source(const fs::path& p, uint64_t seed) {
  UniqueFd fd = open_file(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(::ftruncate(fd.get(), kImageSize) == 0);
  std::mt19937_64 rng(seed);
  std::vector<char> page(kPageSize);
  for (int i = 0; i < 6; ++i) {
    for (auto& c : page) c = static_cast<char>(rng());
    const uint64_t at = (rng() % (kImageSize / kPageSize)) * kPageSize;
    pwrite_full(fd.get(), page, at, p.string());
  }
}

std::string hash_file(const fs::path& p) {
  const std::string s = read_file(p);
  XXH128_hash_t h = XXH3_128bits(s.data(), s.size());
  return std::to_string(h.low64) + ":" + std::to_string(h.high64);
}

// What a complete revision is made of, as bytes.
struct Fingerprint {
  std::string image, sums;
  bool operator==(const Fingerprint&) const = default;
};

std::map<std::string, Fingerprint> fingerprints(const Repository& repo) {
  std::map<std::string, Fingerprint> out;
  for (const auto& r : repo.revisions())
    out[r.uuid] = {hash_file(repo.image_path(r.uuid)), hash_file(repo.sums_path(r.uuid))};
  return out;
}

struct Job {
  fs::path src;
  Repository repo;
  TimePoint now = Clock::now();
};

BackupResult backup(Job& job, Repository& repo, std::set<std::string> tags, int days_ago) {
  auto lock = repo.lock();
  FileSource source(job.src.string());
  BackupOptions opt;
  opt.tags = std::move(tags);
  opt.verify.fraction = 1.0;
  opt.now = [t = job.now - std::chrono::hours(24 * days_ago)] { return t; };
  return run_backup(repo, lock, source, opt, quiet());
}

// Three revisions A (oldest), B, C: A {daily}, B {daily, monthly}, C {daily}.
void three_revisions(Job& job) {
  write_source(job.src, 1);
  backup(job, job.repo, {"daily"}, 3);
  write_source(job.src, 2);
  backup(job, job.repo, {"daily", "monthly"}, 2);
  write_source(job.src, 3);
  backup(job, job.repo, {"daily"}, 1);
  write_source(job.src, 4);  // what the next backup reads
}

struct Operation {
  std::string name;
  std::function<void(Job&)> setup;
  // Runs against `repo` (whose FileSystem may fail); returns the uuid of a revision it
  // committed, or "".
  std::function<std::string(Job&, Repository& repo)> run;
  bool deletes = false;
};

// `forget JOB SPEC`: removes the revision `spec` names.
std::function<std::string(Job&, Repository&)> forget(std::string spec) {
  return [spec](Job&, Repository& r) {
    auto lock = r.lock();
    r.remove(lock, r.find(spec).uuid);
    return std::string();
  };
}

std::vector<Operation> operations() {
  const Schedule keep2{{"daily", {std::chrono::hours(24), 2}}};
  return {
      {"full backup", [](Job& j) { write_source(j.src, 9); },
       [](Job& j, Repository& r) { return backup(j, r, {"daily"}, 0).revision.uuid; }},
      {"incremental backup", three_revisions,
       [](Job& j, Repository& r) { return backup(j, r, {"daily"}, 0).revision.uuid; }},
      {"expiry", three_revisions,
       [keep2](Job& j, Repository& r) {
         auto lock = r.lock();
         apply_expiry(r, lock, keep2, j.now, quiet());
         return std::string();
       },
       true},
      {"scrub", three_revisions,
       [](Job&, Repository& r) {
         auto lock = r.lock();
         for (const auto& rev : r.revisions()) scrub_revision(r, lock, rev.uuid);
         return std::string();
       }},
      {"forget the newest", three_revisions, forget("0"), true},
      {"forget the oldest", three_revisions, forget("2"), true},
      {"tags", three_revisions,
       [](Job&, Repository& r) {
         auto lock = r.lock();
         for (Revision rev : r.revisions()) {
           rev.tags.insert("keep-me");
           rev.tags.erase("daily");
           r.update(lock, rev);
         }
         return std::string();
       }},
  };
}

// The job directory as a fresh process finds it: a Repository of its own (on the kernel, no
// faults), its complete revisions, and the directory (nullopt when there is none).
struct Found {
  Repository repo;
  std::vector<Revision> revisions;
  std::vector<std::string> problems;  // what revisions() skipped, and why
  std::optional<Dir> dir;
};

Found look_at(const Job& job) {
  Found f{Repository(job.repo.dir()), {}, {}, std::nullopt};
  f.revisions = f.repo.revisions(&f.problems);
  f.dir = Dir::open_existing(f.repo.dir());
  return f;
}

// The promises, checked on the directory as a fresh process would find it.
void check_promises(Job& job, const std::map<std::string, Fingerprint>& before,
                    const std::string& created, bool deletes, bool threw,
                    const std::string& context) {
  INFO(context);
  const Found found = look_at(job);
  const Repository& repo = found.repo;
  const auto& dir = found.dir;
  CHECK(found.problems.empty());
  std::set<std::string> complete;
  if (!dir) {
    CHECK(before.empty());  // a first run that failed before making the job directory
    return;
  }
  for (const auto& name : dir->list())
    if (name.ends_with(".rev")) {
      const std::string uuid = name.substr(0, name.size() - 4);
      complete.insert(uuid);
      CHECK(fs::is_regular_file(fs::symlink_status(repo.image_path(uuid))));
      CHECK(fs::is_regular_file(fs::symlink_status(repo.sums_path(uuid))));
    }
  CHECK(complete.size() == found.revisions.size());
  const auto now = fingerprints(repo);
  for (const auto& [uuid, print] : before) {
    if (!now.contains(uuid)) {
      CHECK(deletes);  // only a deleting operation may make a revision go
      continue;
    }
    CHECK(now.at(uuid) == print);
  }
  for (const auto& [uuid, print] : now) {
    if (before.contains(uuid)) continue;
    CHECK(uuid == created);  // the one new revision is the committed one
    CHECK(read_file(repo.image_path(uuid)) == read_file(job.src));
    CHECK(scrub_image(repo.image_path(uuid), BlockSums::load(repo.sums_path(uuid))).empty());
  }
  if (threw && created.empty()) CHECK(now.size() <= before.size());
  if (auto target = dir->read_symlink("latest")) {
    CHECK(complete.contains(*target));
  }
}

// The disk is healthy again: the next backup succeeds and leaves the directory clean.
void check_next_run(Job& job, const std::string& context) {
  INFO(context << ", then the next run");
  BackupResult r;
  REQUIRE_NOTHROW(r = backup(job, job.repo, {"daily"}, -1));
  CHECK(r.warnings.empty());
  const Found found = look_at(job);
  const auto& revs = found.revisions;
  REQUIRE(!revs.empty());
  CHECK(revs.back().uuid == r.revision.uuid);
  CHECK(fs::read_symlink(found.repo.dir() / "latest") == r.revision.uuid);
  for (const auto& name : found.dir->list()) {
    const bool known =
        name == "latest" || name == ".lock" ||
        (name.size() >= 36 && std::any_of(revs.begin(), revs.end(), [&](auto& v) {
           return name == v.uuid || name == v.uuid + ".rev" || name == v.uuid + ".sums";
         }));
    CHECK(known);
    if (!known) UNSCOPED_INFO("leftover: " << name);
  }
}

// One trial of `op`: a fresh scratch directory, set up, its revisions fingerprinted.
struct Trial {
  backy::test::ScratchDir scratch{sweep_base()};
  Job job{scratch.dir / "src.img", Repository(scratch.dir / "base" / "job")};
  std::map<std::string, Fingerprint> before;

  explicit Trial(const Operation& op) {
    op.setup(job);
    before = fingerprints(job.repo);
  }
};

}  // namespace

TEST_CASE("fault sweep: every failing file-system step keeps every revision intact",
          "[trust][faults]") {
  size_t total_steps = 0, runs = 0;
  for (const Operation& op : operations()) {
    // Count the steps, and check the operation does its job when nothing fails.
    int steps = 0;
    {
      Trial t(op);
      FaultyFileSystem counting;
      Repository repo(t.job.repo.dir(), counting);
      const std::string created = op.run(t.job, repo);
      steps = counting.steps;
      INFO(op.name);
      CHECK(steps > 0);
      check_promises(t.job, t.before, created, op.deletes, false, op.name + " without faults");
      if (op.deletes) CHECK(fingerprints(t.job.repo).size() < t.before.size());
    }
    total_steps += static_cast<size_t>(steps);
    for (int at = 1; at <= steps; ++at)
      for (int error : {EIO, ENOSPC})
        for (bool sticky : {false, true}) {
          Trial t(op);
          FaultyFileSystem faulty;
          faulty.fail_at = at;
          faulty.sticky = sticky;
          faulty.error = error;
          Repository repo(t.job.repo.dir(), faulty);
          std::string created;
          bool threw = false;
          try {
            created = op.run(t.job, repo);
          } catch (const Error&) {
            threw = true;
          }
          const std::string context =
              op.name + ": step " + std::to_string(at) + " of " + std::to_string(steps) + " (" +
              (at <= static_cast<int>(faulty.names.size()) ? faulty.names[at - 1] : "?") +
              ") fails with " + (error == EIO ? "EIO" : "ENOSPC") +
              (sticky ? ", and every step after it" : ", once");
          check_promises(t.job, t.before, created, op.deletes, threw, context);
          check_next_run(t.job, context);
          ++runs;
        }
  }
  // The sweep's size, for the closing note.
  WARN("fault sweep: " << total_steps << " steps x 2 errors x 2 modes = " << runs << " runs");
  CHECK(runs == total_steps * 4);
}

// Repository and backup run on the machine's own filesystem with a FileSource: revision specs,
// leftovers, `latest`, full and incremental runs, resizes, holes, cancellation, restore.
#include <fcntl.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <random>

#include "backup/backup.h"
#include "backup/verify.h"
#include "repo/pause_note.h"
#include "repo/pending_revision.h"
#include "repo/repository.h"
#include "repo/revision_scrub.h"
#include "restore/restore.h"
#include "scratch_dir.h"
#include "source/file_source.h"
#include "store/block_sums.h"
#include "util/error.h"
#include "util/file_io.h"
#include "util/uuid.h"

using namespace backy;
namespace fs = std::filesystem;

namespace {

using Scratch = backy::test::ScratchDir;

spdlog::logger& quiet() {
  static spdlog::logger log("test", std::make_shared<spdlog::sinks::null_sink_mt>());
  return log;
}

void write_at(const fs::path& p, uint64_t off, uint64_t len, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<char> buf(len);
  for (auto& c : buf) c = static_cast<char>(rng() | 1);
  UniqueFd fd = open_file(p, O_WRONLY | O_CREAT, 0644);
  pwrite_full(fd.get(), buf, off, p.string());
}

void truncate_to(const fs::path& p, uint64_t size) {
  UniqueFd fd = open_file(p, O_WRONLY | O_CREAT, 0644);
  REQUIRE(::ftruncate(fd.get(), static_cast<off_t>(size)) == 0);
}

// The entries of a directory, of every kind.
size_t entry_count(const fs::path& dir) {
  return static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

bool same(const fs::path& a, const fs::path& b) {
  return read_file(a) == read_file(b);
}

Revision backup(Repository& repo, const fs::path& src, std::set<std::string> tags = {"daily"}) {
  auto lock = repo.lock();
  FileSource source(src.string());
  BackupOptions opt;
  opt.tags = std::move(tags);
  opt.verify.fraction = 1.0;  // verify everything: these images are small
  return run_backup(repo, lock, source, opt, quiet()).revision;
}

}  // namespace

TEST_CASE("full and incremental backups restore bit for bit", "[backup]") {
  Scratch s;
  const fs::path src = s.dir / "src.img";
  truncate_to(src, 40 * kBlockSize);
  write_at(src, 3 * kBlockSize, 5 * kBlockSize, 1);
  Repository repo(s.dir / "job");

  Revision r1 = backup(repo, src);
  CHECK(r1.parent.empty());
  CHECK(r1.stats.bytes_written == 5 * kBlockSize);
  CHECK(r1.stats.bytes_read == 5 * kBlockSize);         // holes of the source are not read
  CHECK(r1.stats.verified_blocks == 5 + kHoleSamples);  // every data block, a few holes
  CHECK(same(src, repo.image_path(r1.uuid)));
  fs::copy_file(src, s.dir / "state1");

  // 3 pages changed, one block zeroed, one new block.
  write_at(src, 4 * kBlockSize + 8192, 3 * 4096, 2);
  write_at(src, 6 * kBlockSize, kBlockSize, 0);
  {
    std::vector<char> z(kBlockSize, 0);
    UniqueFd fd = open_file(src, O_WRONLY);
    pwrite_full(fd.get(), z, 6 * kBlockSize, src.string());
  }
  write_at(src, 30 * kBlockSize, kBlockSize, 3);
  Revision r2 = backup(repo, src);
  CHECK(r2.parent == r1.uuid);
  CHECK(r2.stats.bytes_written == 3 * 4096 + kBlockSize);
  CHECK(same(src, repo.image_path(r2.uuid)));
  CHECK(same(s.dir / "state1", repo.image_path(r1.uuid)));  // the parent is untouched

  // Same data again: nothing written.
  Revision r3 = backup(repo, src);
  CHECK(r3.stats.bytes_written == 0);
  CHECK(fs::read_symlink(repo.dir() / "latest") == r3.uuid);
  CHECK(repo.revisions().size() == 3);
}

TEST_CASE("a backup follows the source's size, up and down, to odd sizes", "[backup]") {
  Scratch s;
  const fs::path src = s.dir / "src.img";
  write_at(src, 0, 3 * kBlockSize + 1000, 1);
  Repository repo(s.dir / "job");
  Revision r1 = backup(repo, src);
  CHECK(r1.size == 3 * kBlockSize + 1000);
  for (uint64_t size : {5 * kBlockSize + 4096, 2 * kBlockSize + 7, 2 * kBlockSize + 9000}) {
    INFO(size);
    truncate_to(src, size);
    write_at(src, size - 5, 5, size);  // touch the tail
    Revision r = backup(repo, src);
    CHECK(r.size == size);
    CHECK(fs::file_size(repo.image_path(r.uuid)) == size);
    CHECK(same(src, repo.image_path(r.uuid)));
    BlockSums sums = BlockSums::load(repo.sums_path(r.uuid));
    CHECK(scrub_image(repo.image_path(r.uuid), sums).empty());
  }
}

TEST_CASE("revision specs select what they say and reject the unknown", "[repo]") {
  Scratch s;
  const fs::path src = s.dir / "src.img";
  write_at(src, 0, kBlockSize, 1);
  Repository repo(s.dir / "job");
  Revision a = backup(repo, src, {"daily", "weekly"});
  Revision b = backup(repo, src, {"daily"});
  Revision c = backup(repo, src, {"manual:x"});
  CHECK(repo.find("latest").uuid == c.uuid);
  CHECK(repo.find("0").uuid == c.uuid);
  CHECK(repo.find("2").uuid == a.uuid);
  CHECK(repo.find(b.uuid).uuid == b.uuid);
  CHECK(repo.select("all").size() == 3);
  CHECK(repo.select("tag:daily").size() == 2);
  CHECK(repo.find("tag:weekly").uuid == a.uuid);
  CHECK_THROWS_WITH(repo.select("3"), Catch::Contains("no revision matches '3'"));
  CHECK_THROWS_WITH(repo.select("yesterday"), Catch::Contains("unknown revision spec 'yesterday'"));
  CHECK_THROWS_WITH(repo.find("tag:daily"), Catch::Contains("matches 2 revisions"));
  CHECK_THROWS_WITH(repo.select("tag:monthly"), Catch::Contains("no revision matches"));
}

namespace {

// Gives a committed revision another uuid: its three files renamed and every mention in the job's
// .rev files (its own uuid, a child's parent) rewritten. Tests use it to make uuids share a prefix.
void rename_revision(const fs::path& job, const std::string& from, const std::string& to) {
  for (const char* ext : {"", ".sums", ".rev"}) fs::rename(job / (from + ext), job / (to + ext));
  for (const auto& e : fs::directory_iterator(job)) {
    if (e.path().extension() != ".rev") continue;
    std::string text = read_file(e.path());
    for (size_t at; (at = text.find(from)) != std::string::npos;) text.replace(at, from.size(), to);
    std::ofstream(e.path(), std::ios::trunc) << text;
  }
  fs::remove(job / "latest");
}

}  // namespace

TEST_CASE("a uuid prefix of six or more characters names the one revision it starts", "[repo]") {
  Scratch s;
  const fs::path src = s.dir / "src.img";
  write_at(src, 0, kBlockSize, 1);
  Repository repo(s.dir / "job");
  const std::string a = "abcdef01-1111-4111-8111-111111111111";
  const std::string b = "abcdef02-2222-4222-8222-222222222222";
  rename_revision(s.dir / "job", backup(repo, src).uuid, a);
  rename_revision(s.dir / "job", backup(repo, src).uuid, b);

  CHECK(repo.find("abcdef01").uuid == a);
  CHECK(repo.find("abcdef02-2222").uuid == b);
  CHECK(repo.find(a).uuid == a);
  CHECK_THROWS_WITH(repo.select("abcdef"), Catch::Contains("prefix 'abcdef' is ambiguous") &&
                                               Catch::Contains(a) && Catch::Contains(b));
  CHECK_THROWS_WITH(repo.select("abcde"), Catch::Contains("unknown revision spec 'abcde'"));
  CHECK_THROWS_WITH(repo.select("abcdef03"), Catch::Contains("no revision matches 'abcdef03'"));
  CHECK_THROWS_WITH(repo.select("ABCDEF01"), Catch::Contains("unknown revision spec"));
  // Up to five digits count back from the newest; six digits are a prefix.
  CHECK(repo.find("1").uuid == a);
  CHECK_THROWS_WITH(repo.select("12345"), Catch::Contains("no revision matches '12345'"));
  CHECK_THROWS_WITH(repo.select("123456"), Catch::Contains("no revision matches '123456'"));
}

TEST_CASE("leftovers of an interrupted run are removed, complete revisions kept", "[repo]") {
  Scratch s;
  const fs::path src = s.dir / "src.img";
  write_at(src, 0, kBlockSize, 1);
  Repository repo(s.dir / "job");
  Revision a = backup(repo, src);
  const std::string ghost = "0b4c0d1e-0000-4000-8000-000000000000";
  std::ofstream(repo.image_path(ghost)) << "partial";
  std::ofstream(repo.sums_path(ghost)) << "partial";
  std::ofstream(s.dir / "job" / (a.uuid + ".rev.tmp")) << "half";
  std::ofstream(s.dir / "job" / "notes.txt") << "an operator's file";
  auto lock = repo.lock();
  auto removed = repo.repair(lock).removed;
  CHECK(removed.size() == 3);
  CHECK_FALSE(fs::exists(repo.image_path(ghost)));
  CHECK(fs::exists(s.dir / "job" / "notes.txt"));
  CHECK(fs::exists(repo.image_path(a.uuid)));
  CHECK(repo.revisions().size() == 1);
}

TEST_CASE("the job lock excludes a second writer", "[repo]") {
  Scratch s;
  Repository repo(s.dir / "job");
  auto lock = repo.lock();
  Repository other(s.dir / "job");
  // flock is per open file description: a second open in this process conflicts too.
  CHECK_FALSE(other.try_lock().has_value());
  CHECK_THROWS_WITH(other.lock(), Catch::Contains("is locked by another process"));
}

TEST_CASE("a lock of another repository is refused by every writing method", "[repo]") {
  Scratch s;
  const fs::path src = s.dir / "src.img";
  write_at(src, 0, 2 * kBlockSize, 1);
  Repository a(s.dir / "a"), b(s.dir / "b");
  const Revision ra = backup(a, src);
  const Revision rb = backup(b, src);
  auto lock_a = a.lock();
  CHECK(lock_a.repository() == a.dir());

  // Job A's lock handed to job B's repository: each write is refused before it touches a file.
  CHECK_THROWS_WITH(b.remove(lock_a, rb.uuid), Catch::Contains("the lock of " + a.dir().string()) &&
                                                   Catch::Contains("used for " + b.dir().string()));
  CHECK_THROWS_AS(b.repair(lock_a), std::logic_error);
  CHECK_THROWS_AS(b.begin(lock_a, new_uuid()), std::logic_error);
  CHECK_THROWS_AS(b.update(lock_a, rb), std::logic_error);
  CHECK_THROWS_AS(b.note_source_state(lock_a, rb.uuid), std::logic_error);
  CHECK_THROWS_AS(b.source_states(lock_a), std::logic_error);
  CHECK_THROWS_AS(b.forget_source_state(lock_a, rb.uuid), std::logic_error);
  FileSource source(src.string());
  CHECK_THROWS_AS(run_backup(b, lock_a, source, BackupOptions{}, quiet()), std::logic_error);
  CHECK_THROWS_AS(scrub_revision(b, lock_a, rb.uuid), std::logic_error);

  REQUIRE(b.revisions().size() == 1);
  CHECK(b.revisions().front().uuid == rb.uuid);
  CHECK(fs::read_symlink(b.dir() / "latest") == rb.uuid);
  CHECK_FALSE(fs::exists(b.dir() / (rb.uuid + ".snapshot")));
  CHECK(b.try_lock().has_value());  // B was never locked by any of it
  // The same lock is A's proof: there it works.
  a.remove(lock_a, ra.uuid);
  CHECK(a.revisions().empty());
}

TEST_CASE("a moved-from lock proves nothing", "[repo]") {
  Scratch s;
  Repository repo(s.dir / "job");
  auto lock = repo.lock();
  auto moved = std::move(lock);
  CHECK_FALSE(lock.held());  // NOLINT(bugprone-use-after-move): that is the point
  CHECK(moved.held());
  CHECK_THROWS_WITH(repo.repair(lock), Catch::Contains("moved-from"));
  CHECK_NOTHROW(repo.repair(moved));
}

TEST_CASE("a cancelled backup leaves no trace and harms no revision", "[backup]") {
  Scratch s;
  const fs::path src = s.dir / "src.img";
  write_at(src, 0, 8 * kBlockSize, 1);
  Repository repo(s.dir / "job");
  Revision a = backup(repo, src);
  write_at(src, 0, 8 * kBlockSize, 2);
  std::stop_source stop;
  stop.request_stop();
  {
    auto lock = repo.lock();
    FileSource source(src.string());
    BackupOptions opt;
    CHECK_THROWS_AS(run_backup(repo, lock, source, opt, quiet(), stop.get_token()), Cancelled);
  }
  CHECK(repo.revisions().size() == 1);
  CHECK(entry_count(repo.dir()) == 5);  // image, .rev, .sums, latest, .lock
  CHECK(scrub_image(repo.image_path(a.uuid), BlockSums::load(repo.sums_path(a.uuid))).empty());
}

namespace {

// Meets the two sides of an incremental's start: the clone of the parent's image (the file
// system's clone(), on the run's clone thread) and the opening of the source's snapshot (on the
// run's thread). Each side says it has begun, and can wait, up to `kPatience`, for the other.
class Rendezvous {
 public:
  static constexpr auto kPatience = std::chrono::seconds(10);

  void cloning() { mark(cloning_); }
  void opening() { mark(opening_); }
  // True once the other side has begun; false after kPatience without it.
  bool clone_began() { return wait(cloning_); }
  bool open_began() { return wait(opening_); }

 private:
  void mark(bool& flag) {
    {
      std::lock_guard lock(mu_);
      flag = true;
    }
    cv_.notify_all();
  }
  bool wait(const bool& flag) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kPatience, [&] { return flag; });
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool cloning_ = false, opening_ = false;
};

// The kernel, but a clone begins only once the source's snapshot is being opened.
class CloneAfterOpen : public FileSystem {
 public:
  explicit CloneAfterOpen(Rendezvous& meet) : meet_(meet) {}
  int clone(int dst, int src) override {
    meet_.cloning();
    saw_open = meet_.open_began();
    return FileSystem::clone(dst, src);
  }
  std::atomic<bool> saw_open = false;

 private:
  Rendezvous& meet_;
};

// A FileSource whose open() waits for the clone to begin, then opens or (`fail`) throws.
class OpenAfterClone : public FileSource {
 public:
  OpenAfterClone(std::string filename, Rendezvous& meet, bool fail)
      : FileSource(std::move(filename)), meet_(meet), fail_(fail) {}
  std::unique_ptr<SourceSnapshot> open(const std::string& uuid,
                                       const std::optional<std::string>& parent) override {
    meet_.opening();
    saw_clone = meet_.clone_began();
    if (fail_) throw Error("the source went away");
    return FileSource::open(uuid, parent);
  }
  bool saw_clone = false;

 private:
  Rendezvous& meet_;
  bool fail_;
};

}  // namespace

// The clone of the parent's image costs more with every incremental (the parent's extents), and
// needs nothing from the source: the run makes it while it opens the snapshot. Here each side
// waits for the other to begin: a run that did them one after the other would find the second
// never beginning while the first waits (for 10 s, then the checks fail).
TEST_CASE(
    "an incremental's clone is made while its snapshot is opened, and a failed open "
    "leaves no clone",
    "[backup]") {
  Scratch s;
  const fs::path src = s.dir / "src.img";
  write_at(src, 0, 6 * kBlockSize + 5000, 1);
  Rendezvous meet;
  CloneAfterOpen clone_fs(meet);
  Repository repo(s.dir / "job", clone_fs);
  const Revision parent = backup(repo, src);  // a full run: there is nothing to clone
  const std::string parent_image = read_file(repo.image_path(parent.uuid));

  write_at(src, 2 * kBlockSize + 4096, 3 * 4096, 2);
  truncate_to(src, 7 * kBlockSize + 123);  // and grown: the clone has the parent's size
  SECTION("the run succeeds, its image the source's") {
    auto lock = repo.lock();
    OpenAfterClone source(src.string(), meet, false);
    BackupOptions opt;
    opt.verify.fraction = 1.0;
    const Revision r = run_backup(repo, lock, source, opt, quiet()).revision;
    CHECK(source.saw_clone);
    CHECK(clone_fs.saw_open);
    CHECK(r.parent == parent.uuid);
    CHECK(r.size == 7 * kBlockSize + 123);
    CHECK(same(src, repo.image_path(r.uuid)));
    CHECK(r.stats.bytes_written == 3 * 4096);  // the grown tail reads as zeros: a hole
  }
  SECTION("the snapshot cannot be opened: the clone is waited for and removed") {
    {
      auto lock = repo.lock();
      OpenAfterClone source(src.string(), meet, true);
      CHECK_THROWS_WITH(run_backup(repo, lock, source, BackupOptions{}, quiet()),
                        Catch::Contains("the source went away"));
      CHECK(source.saw_clone);
      CHECK(clone_fs.saw_open);
    }
    CHECK(repo.revisions().size() == 1);
    CHECK(entry_count(repo.dir()) == 5);  // the parent's image, .rev, .sums; latest, .lock
    CHECK(read_file(repo.image_path(parent.uuid)) == parent_image);
  }
}

// The clone is made before the snapshot's size is known; it starts at the size of the parent's
// image file, whatever the parent's .rev says, and only then takes the snapshot's.
TEST_CASE("an incremental's clone keeps all of its parent's image when the .rev misstates its size",
          "[backup]") {
  Scratch s;
  const fs::path src = s.dir / "src.img";
  write_at(src, 0, 3 * kBlockSize, 1);
  Repository repo(s.dir / "job");
  const Revision parent = backup(repo, src);
  Revision misstated = parent;
  misstated.size = kBlockSize;
  repo.update(repo.lock(), misstated);
  REQUIRE(repo.revisions().front().size == kBlockSize);

  write_at(src, 2 * kBlockSize + 4096, 4096, 2);
  const Revision r = backup(repo, src);
  CHECK(r.parent == parent.uuid);
  CHECK(r.stats.bytes_written == 4096);
  CHECK(same(src, repo.image_path(r.uuid)));
}

TEST_CASE("a missing source fails the run with its name", "[backup]") {
  Scratch s;
  Repository repo(s.dir / "job");
  CHECK_THROWS_WITH(backup(repo, s.dir / "nope.img"), Catch::Contains("nope.img"));
  CHECK(repo.revisions().empty());
}

TEST_CASE("scrub marks a damaged revision distrusted and it is no parent any more", "[backup]") {
  Scratch s;
  const fs::path src = s.dir / "src.img";
  write_at(src, 0, 2 * kBlockSize, 1);
  Repository repo(s.dir / "job");
  Revision a = backup(repo, src);
  {
    auto lock = repo.lock();
    CHECK(scrub_revision(repo, lock, a.uuid).revision.trust == Trust::verified);
    fs::permissions(repo.image_path(a.uuid), fs::perms::owner_write, fs::perm_options::add);
    UniqueFd fd = open_file(repo.image_path(a.uuid), O_WRONLY);
    pwrite_full(fd.get(), std::span<const char>("!", 1), kBlockSize + 3, "img");
    ScrubReport r = scrub_revision(repo, lock, a.uuid);
    CHECK(r.revision.trust == Trust::distrusted);
    REQUIRE(r.bad_blocks.size() == 1);
    CHECK(r.bad_blocks[0].block == 1);
  }
  Revision reread = repo.find(a.uuid);
  CHECK(reread.trust == Trust::distrusted);
  CHECK(reread.bad_blocks == std::vector<uint64_t>{1});
  Revision b = backup(repo, src);
  CHECK(b.parent.empty());  // a full backup, not built on damaged data
  CHECK(same(src, repo.image_path(b.uuid)));
}

TEST_CASE("restore to a file keeps holes, to a stream writes zeros, never overwrites",
          "[restore]") {
  Scratch s;
  const fs::path src = s.dir / "src.img";
  truncate_to(src, 16 * kBlockSize);
  write_at(src, 5 * kBlockSize + 4096, 100000, 1);
  Repository repo(s.dir / "job");
  Revision a = backup(repo, src);

  auto target = open_file_target((s.dir / "out.img").string(), a.size, false);
  restore_image(repo.image_path(a.uuid), a.size, *target);
  target.reset();
  CHECK(same(src, s.dir / "out.img"));
  struct stat st {};
  REQUIRE(::stat((s.dir / "out.img").c_str(), &st) == 0);
  CHECK(static_cast<uint64_t>(st.st_blocks) * 512 < 2 * kBlockSize);

  CHECK_THROWS_WITH(open_file_target((s.dir / "out.img").string(), a.size, false),
                    Catch::Contains("exists; use --force"));
  CHECK_NOTHROW(open_file_target((s.dir / "out.img").string(), a.size, true));
}

TEST_CASE("removing an older revision leaves latest, removing the newest repoints it", "[repo]") {
  Scratch s;
  const fs::path src = s.dir / "src.img";
  write_at(src, 0, kBlockSize, 1);
  Repository repo(s.dir / "job");
  Revision a = backup(repo, src);
  Revision b = backup(repo, src);
  Revision c = backup(repo, src);
  auto lock = repo.lock();
  repo.remove(lock, a.uuid);
  CHECK(fs::read_symlink(repo.dir() / "latest") == c.uuid);
  repo.remove(lock, c.uuid);
  CHECK(fs::read_symlink(repo.dir() / "latest") == b.uuid);
  repo.remove(lock, b.uuid);
  CHECK_FALSE(fs::exists(fs::symlink_status(repo.dir() / "latest")));
  CHECK(repo.revisions().empty());
}

TEST_CASE("a pause note survives as a file, and a hostile one is an error naming it", "[repo]") {
  Scratch s;
  const fs::path job = s.dir / "base" / "vm";
  CHECK_FALSE(read_pause_note(job));  // no job directory yet
  const PauseNote note{"alice (uid 1000)", TimePoint(std::chrono::seconds(1700000000)),
                       "disk swap: \"bay 3\" # not a comment"};
  write_pause_note(job, note);  // creates the job directory
  const auto back = read_pause_note(job);
  REQUIRE(back);
  CHECK(back->by == note.by);
  CHECK(back->since == note.since);
  CHECK(back->reason == note.reason);
  remove_pause_note(job);
  CHECK_FALSE(read_pause_note(job));
  remove_pause_note(job);  // nothing to do

  CHECK(check_pause_reason(std::string(kMaxPauseReasonBytes, 'x')) == std::nullopt);
  CHECK(check_pause_reason(std::string(kMaxPauseReasonBytes + 1, 'x')));
  CHECK(check_pause_reason("line\nbreak"));
  CHECK(check_pause_reason("\xff"));

  std::ofstream(job / "paused") << "by: x\nsince: yesterday\n";
  CHECK_THROWS_WITH(read_pause_note(job),
                    Catch::Contains((job / "paused").string()) && Catch::Contains("'since'"));
  fs::remove(job / "paused");
  fs::create_symlink("/etc/passwd", job / "paused");  // never followed
  CHECK_THROWS(read_pause_note(job));
}

TEST_CASE("a revision whose image or checksums are missing or a link is skipped with the reason",
          "[repo]") {
  Scratch s;
  const fs::path src = s.dir / "src.img";
  write_at(src, 0, kBlockSize, 1);
  Repository repo(s.dir / "job");
  const Revision a = backup(repo, src);
  const Revision b = backup(repo, src);
  const Revision c = backup(repo, src);
  fs::remove(repo.sums_path(a.uuid));
  fs::rename(repo.image_path(b.uuid), s.dir / "elsewhere");
  fs::create_symlink(s.dir / "elsewhere", repo.image_path(b.uuid));

  std::vector<std::string> problems;
  const std::vector<Revision> revs = repo.revisions(&problems);
  REQUIRE(revs.size() == 1);
  CHECK(revs[0].uuid == c.uuid);
  REQUIRE(problems.size() == 2);
  for (const Revision& r : {a, b})
    CHECK(std::count(problems.begin(), problems.end(),
                     "revision " + r.uuid + " in " + repo.dir().string() +
                         " lacks its image or checksum file") == 1);
  // The same from a listing taken once (the daemon's start).
  const Dir dir = Dir::open(repo.dir(), false);
  std::vector<std::string> again;
  CHECK(Repository::revisions_in(dir, dir.entries(), &again).size() == 1);
  CHECK(again.size() == 2);
}

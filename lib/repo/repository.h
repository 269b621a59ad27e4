// Repository: one job's directory of revisions, <base-dir>/<job>/.
//
//   <uuid>           raw image (sparse, reflink-sharing with its parent; 0440 once complete)
//   <uuid>.sums      block checksums (store/block_sums.h)
//   <uuid>.rev       metadata (repo/revision.h); its presence makes the revision complete
//   <uuid>.rev.upstream  upstream backy's .rev of an adopted revision (repo/adopt.h)
//   <uuid>.snapshot  a run of <uuid> may have left state on its source (an RBD snapshot
//                    backy-<uuid>); kept until the source confirms it gone (source/source.h)
//   latest           symlink to the newest complete revision's image, replaced by rename
//   .lock            flock held by whoever writes: one backup, scrub or expiry at a time
//   snapshot-hook.pending  a pre-snapshot hook ran and its post-snapshot has not yet
//                    (backup/snapshot_hooks.h); a note, see write_note()
//
// The directory is opened without following a link (util/dir.h), and every file in it by name
// relative to that fd, never through a link. The invariants, which every writing method keeps
// at every step (so a crash or a failed system call anywhere leaves them true):
//   - a .rev exists only beside its image and .sums, which are durable before it is written;
//   - nothing deletes the image or .sums of a revision whose .rev exists (remove() unlinks the
//     .rev first);
//   - `latest`, where it exists, names a complete revision; after repair() or a commit, the
//     newest one.
// A new revision is written through a PendingRevision (pending_revision.h), whose commit() is
// the one point of no return.
//
// Reads (revisions(), select()) need no lock and see only complete revisions. Anything that
// writes takes the Lock of this repository as its proof that the lock is held, and works in the
// directory the Lock holds open, so every step of a run happens in the directory it locked. A
// Lock taken by a Repository of another directory, or one moved from, is refused with
// std::logic_error (a programming error: nothing is touched). Not thread-safe; one object per
// thread.
#pragma once

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "repo/revision.h"
#include "repo/upstream_revision.h"
#include "store/block_sums.h"
#include "util/dir.h"
#include "util/fd.h"
#include "util/file_system.h"

namespace backy {

class PendingRevision;

// The largest .rev and .sums files read (a .sums of 512 MiB describes a 120 TiB image).
inline constexpr size_t kMaxRevisionFileBytes = 1 << 20;
inline constexpr size_t kMaxSumsFileBytes = size_t{512} << 20;

class Repository {
 public:
  // An exclusive flock on <dir>/.lock, and the directory it locks, held open. Released on
  // destruction; a moved-from Lock holds nothing. Only the Repository that took it reads it.
  class Lock {
   public:
    Lock(Lock&&) = default;
    Lock& operator=(Lock&&) = default;
    // The repository directory it locks (Repository::dir() of the one that took it).
    const std::filesystem::path& repository() const { return of_; }
    // False once moved from.
    bool held() const { return static_cast<bool>(fd_); }

   private:
    friend class Repository;
    Lock(std::filesystem::path of, Dir dir, UniqueFd fd)
        : of_(std::move(of)), dir_(std::move(dir)), fd_(std::move(fd)) {}
    std::filesystem::path of_;  // the repository it locks
    Dir dir_;
    UniqueFd fd_;
  };

  // What repair() found and did.
  struct Repair {
    std::vector<std::string> removed;   // leftovers of interrupted runs
    std::vector<std::string> warnings;  // what it could not mend (e.g. `latest` unreplaceable)
  };

  // `dir` is <base-dir>/<job>: base-dir may be reached through links, the job directory never.
  explicit Repository(std::filesystem::path dir, FileSystem& fs = FileSystem::real())
      : dir_(std::move(dir)), fs_(&fs) {}

  const std::filesystem::path& dir() const { return dir_; }
  FileSystem& fs() const { return *fs_; }
  std::filesystem::path image_path(const std::string& uuid) const { return dir_ / uuid; }
  std::filesystem::path sums_path(const std::string& uuid) const { return dir_ / (uuid + ".sums"); }
  std::filesystem::path rev_path(const std::string& uuid) const { return dir_ / (uuid + ".rev"); }

  // Creates the directory (and base-dir) if missing, then takes the lock without waiting.
  // Returns nullopt when another process holds it.
  std::optional<Lock> try_lock();
  // Same, but throws backy::Error ("job directory ... is locked by another process").
  Lock lock();

  // Complete revisions, oldest first (by timestamp, then uuid). A .rev that cannot be parsed,
  // names another uuid than its file, or lacks its image or .sums is skipped with the reason in
  // `problems` (if given): one damaged file must not hide the rest.
  std::vector<Revision> revisions(std::vector<std::string>* problems = nullptr) const;
  // The same, of job directory `dir` already open and listed (`entries`: its Dir::entries()).
  // The daemon's start reads 10,000 job directories: one listing then serves the revisions,
  // their images' and checksums' presence, and the pause note.
  static std::vector<Revision> revisions_in(const Dir& dir, const std::vector<Dir::Entry>& entries,
                                            std::vector<std::string>* problems);

  // The .rev files upstream backy wrote (repo/upstream_revision.h), not yet adopted, oldest
  // first; revisions() leaves them out and counts them in its problems. One that cannot be read
  // is skipped with the reason in `problems`.
  std::vector<UpstreamRevision> upstream_revisions(
      std::vector<std::string>* problems = nullptr) const;

  // Revision specs: a uuid or its first kMinUuidPrefix or more characters (which must name one
  // revision: an ambiguous prefix is an error listing the candidates); N (0 = newest, 1 = the one
  // before, ..., up to five digits); "latest"; "all"; "tag:NAME" (every revision carrying NAME).
  // Newest last. Throws backy::Error for an unknown spec or one that matches nothing.
  std::vector<Revision> select(const std::string& spec) const;
  // select() that must match exactly one revision.
  Revision find(const std::string& spec) const;

  // A complete revision's image, opened read-only (never through a link; a regular file).
  UniqueFd open_image(const std::string& uuid) const;
  // A complete revision's checksums. Throws backy::Error naming the file when unreadable.
  BlockSums load_sums(const std::string& uuid) const;

  // REQUIRES: lock held. Restores the invariants after a crash or a failed step: removes what
  // interrupted runs left (images or sums without a .rev, temp files; never anything this
  // program does not write) and points `latest` at the newest revision.
  Repair repair(const Lock&);
  // REQUIRES: lock held, and it outlives the result. Starts revision `uuid` (see
  // pending_revision.h).
  PendingRevision begin(const Lock&, const std::string& uuid);
  // REQUIRES: lock held; <rev.uuid>.rev is upstream's, its image <rev.uuid> is `sums`'s.
  // Adopts that revision (repo/adopt.h): writes <uuid>.sums, keeps upstream's .rev as
  // <uuid>.rev.upstream, makes the image 0440, and then replaces the .rev with `rev`, which
  // is the commit. Each step is durable before the next, so a crash anywhere leaves the
  // revision upstream's (with files repair() removes) or ours.
  void commit_adopted(const Lock&, const Revision& rev, const BlockSums& sums);
  // REQUIRES: lock held; `rev` complete. Rewrites its metadata (tags, trust, scrub result).
  void update(const Lock&, const Revision& rev);
  // REQUIRES: lock held. Deletes a revision: `latest` first moves off it when it names it (to
  // the newest of the others; the history is read only then), then its .rev goes (from then on
  // it no longer exists), then its .sums and image. A failure after the .rev is gone is
  // reported, and repair() removes what is left.
  void remove(const Lock&, const std::string& uuid);

  // Records, durably, that a run of `uuid` is about to leave state on its source.
  void note_source_state(const Lock&, const std::string& uuid);
  // The uuids with such a record.
  std::set<std::string> source_states(const Lock&) const;
  // The source holds nothing of `uuid` any more.
  void forget_source_state(const Lock&, const std::string& uuid);

  // A small file of the job's own, `name` (no uuid: repair() leaves it alone), replaced durably.
  void write_note(const Lock&, const std::string& name, const std::string& content);
  // Its content; nullopt when there is none. Throws backy::Error when larger than `limit`.
  std::optional<std::string> read_note(const Lock&, const std::string& name, size_t limit) const;
  // Removes it durably; not an error when it does not exist.
  void remove_note(const Lock&, const std::string& name);

 private:
  friend class PendingRevision;
  // The locked directory. Throws std::logic_error unless `lock` is held and this repository's.
  const Dir& locked(const Lock& lock) const;
  std::optional<Dir> open_dir() const;
  // Points `latest` at `newest` (removes it when there is none).
  static void point_latest(const Dir& dir, const Revision* newest);

  std::filesystem::path dir_;
  FileSystem* fs_;
};

}  // namespace backy

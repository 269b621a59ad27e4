// Repository: one job's directory of revisions, <base-dir>/<job>/.
//
//   <uuid>        raw image (sparse, reflink-sharing with its parent; 0440 once complete)
//   <uuid>.sums   block checksums (store/block_sums.h)
//   <uuid>.rev    metadata (repo/revision.h); its presence makes the revision complete
//   latest        symlink to the newest complete revision's image, replaced by rename
//   .lock         flock held by whoever writes: one backup, scrub or expiry at a time
//
// Reads (revisions(), select()) need no lock and see only complete revisions. Anything that
// writes must hold the Lock. Not thread-safe; one object per thread.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "repo/revision.h"
#include "util/fd.h"

namespace backy {

class Repository {
 public:
  // An exclusive flock on <dir>/.lock, released on destruction.
  class Lock {
   public:
    Lock(Lock&&) = default;
    Lock& operator=(Lock&&) = default;

   private:
    friend class Repository;
    explicit Lock(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
  };

  explicit Repository(std::filesystem::path dir) : dir_(std::move(dir)) {}

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path image_path(const std::string& uuid) const { return dir_ / uuid; }
  std::filesystem::path sums_path(const std::string& uuid) const { return dir_ / (uuid + ".sums"); }
  std::filesystem::path rev_path(const std::string& uuid) const { return dir_ / (uuid + ".rev"); }

  // Creates the directory (and base-dir) if missing, then takes the lock without waiting.
  // Returns nullopt when another process holds it.
  std::optional<Lock> try_lock();
  // Same, but throws backy::Error ("job directory ... is locked by another process").
  Lock lock();

  // Complete revisions, oldest first (by timestamp, then uuid). A .rev that cannot be parsed is
  // skipped with its error in `problems` (if given): one damaged file must not hide the rest.
  std::vector<Revision> revisions(std::vector<std::string>* problems = nullptr) const;

  // Revision specs: a full uuid; N (0 = newest, 1 = the one before, ...); "latest"; "all";
  // "tag:NAME" (every revision carrying NAME). Newest last. Throws backy::Error for an unknown
  // spec or one that matches nothing.
  std::vector<Revision> select(const std::string& spec) const;
  // select() that must match exactly one revision.
  Revision find(const std::string& spec) const;

  // REQUIRES: lock held. Removes what interrupted runs left: images or sums without a .rev,
  // temp files. Returns the names removed.
  std::vector<std::string> remove_leftovers(const Lock&);
  // REQUIRES: lock held; image and sums durable. Writes the .rev atomically (the commit) and
  // points `latest` at the newest revision.
  void commit(const Lock&, const Revision& rev);
  // REQUIRES: lock held; `rev` complete. Rewrites its metadata (tags, trust, scrub result).
  void update(const Lock&, const Revision& rev);
  // REQUIRES: lock held. Deletes a revision's files (.rev first, so a crash leaves a leftover,
  // never a revision without data) and repoints `latest`.
  void remove(const Lock&, const std::string& uuid);
  // Removes the files of an uncommitted run (image, sums, temp files) if they exist.
  void discard(const Lock&, const std::string& uuid);

 private:
  void update_latest();

  std::filesystem::path dir_;
};

}  // namespace backy

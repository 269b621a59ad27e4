// PendingRevision: a revision being written, and the one step that makes it exist.
//
// A backup run gets one from Repository::begin() under the job's lock. It names the files of
// the revision-to-be in the locked directory, and the run writes them through it: the image
// (create_image), then the checksums (save_sums). commit() is the point of no return: it writes
// <uuid>.rev beside them (temp file, fsync, rename).
//
//   before the rename  any failure, a cancellation or an exception leaves nothing behind: the
//                      destructor removes the image, the checksums and temp files (best effort;
//                      what it cannot remove, the next run's Repository::repair() does);
//   after the rename   the revision exists and nothing here deletes it. The steps that follow
//                      (directory fsync, repointing `latest`) cannot undo it: their failures come
//                      back as warnings, and the next run under the lock repairs `latest`.
//
// commit() throws only when the rename did not happen. Not copyable or movable: it refers to the
// Lock it was begun under, which must outlive it. One thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "repo/repository.h"
#include "store/block_sums.h"
#include "store/image_writer.h"

namespace backy {

class PendingRevision {
 public:
  ~PendingRevision();
  PendingRevision(const PendingRevision&) = delete;
  PendingRevision& operator=(const PendingRevision&) = delete;

  const std::string& uuid() const { return uuid_; }
  bool committed() const { return committed_; }

  // The image file: a reflink clone of complete revision `parent` when given, else empty; of
  // `size` bytes (nullopt: the parent's image's). `budget`: the block buffers shared by every
  // run (ImageWriter::create).
  ImageWriter create_image(const std::optional<std::string>& parent, std::optional<uint64_t> size,
                           BlockBudget* budget = nullptr);
  // REQUIRES: the image is finished (durable). Writes <uuid>.sums durably.
  void save_sums(const BlockSums& sums);
  // REQUIRES: rev.uuid == uuid(), the image and checksums saved; `history` the repository's
  // complete revisions as read (Repository::revisions()) under the lock this was begun under.
  // Commits; returns the warnings of the steps after the point of no return (empty when all
  // went well). `latest` is pointed at the newer of `rev` and the newest of `history`: the lock
  // has kept every other writer out since, so the history need not be read again.
  std::vector<std::string> commit(const Revision& rev, const std::vector<Revision>& history);

 private:
  friend class Repository;
  PendingRevision(const Repository& repo, const Dir& dir, std::string uuid)
      : repo_(repo), dir_(dir), uuid_(std::move(uuid)) {}
  void discard() noexcept;

  const Repository& repo_;
  const Dir& dir_;  // the Lock's
  std::string uuid_;
  bool committed_ = false;
};

}  // namespace backy

// A complete revision made directly through the repository (image, checksums, .rev), for unit
// tests of what reads revisions: no source, no backup run.
#pragma once

#include <string>

#include "repo/pending_revision.h"
#include "repo/repository.h"
#include "store/block_sums.h"

namespace backy::test {

// Commits revision `r` (r.uuid, timestamp, tags, ... as given; r.size is set) whose image holds
// `content`, into `repo`.
inline Revision commit_test_revision(Repository& repo, Revision r, const std::string& content) {
  auto lock = repo.lock();
  PendingRevision pending = repo.begin(lock, r.uuid);
  ImageWriter image = pending.create_image(std::nullopt, content.size());
  image.write(0, content, false);
  image.finish();
  BlockSums sums(content.size());
  for (uint64_t b = 0; b < sums.block_count(); ++b)
    sums.set(b, checksum(std::string_view(content).substr(b * kBlockSize, kBlockSize)));
  pending.save_sums(sums);
  r.size = content.size();
  pending.commit(r, repo.revisions());
  return r;
}

}  // namespace backy::test

#include "repo/pending_revision.h"

#include <unistd.h>

#include "util/error.h"

namespace backy {

PendingRevision::~PendingRevision() {
  if (!committed_) discard();
}

ImageWriter PendingRevision::create_image(const std::optional<std::string>& parent,
                                          std::optional<uint64_t> size, BlockBudget* budget) {
  return ImageWriter::create(dir_, uuid_, parent, size, budget);
}

void PendingRevision::save_sums(const BlockSums& sums) {
  dir_.write_atomic(uuid_ + ".sums", sums.serialize(), 0440);
}

std::vector<std::string> PendingRevision::commit(const Revision& rev,
                                                 const std::vector<Revision>& history) {
  if (rev.uuid != uuid_) throw Error("commit of " + rev.uuid + " through the pending " + uuid_);
  const std::string name = uuid_ + ".rev", tmp = name + ".tmp";
  dir_.remove(tmp);
  dir_.write_new(tmp, to_yaml(rev), 0640);
  try {
    dir_.rename(tmp, name);
  } catch (const Error&) {
    // A rename that reports failure has, as far as the kernel says, not happened; but if the
    // name is there after all, the revision exists and must not be discarded.
    if (!dir_.stat(name)) throw;
  }
  committed_ = true;  // the point of no return

  std::vector<std::string> warnings;
  try {
    dir_.sync();
  } catch (const Error& e) {
    warnings.push_back("revision " + uuid_ +
                       " is committed, but may not be durable yet: " + e.what());
  }
  try {
    // The new revision is the newest, unless the clock went back since an earlier run.
    const bool newest = history.empty() || older(history.back(), rev);
    Repository::point_latest(dir_, newest ? &rev : &history.back());
  } catch (const Error& e) {
    warnings.push_back("revision " + uuid_ + " is committed, but `latest` was not updated (the " +
                       "next run retries): " + e.what());
  }
  return warnings;
}

void PendingRevision::discard() noexcept {
  FileSystem& fs = dir_.fs();
  for (const std::string& name :
       {uuid_, uuid_ + ".sums", uuid_ + ".sums.tmp", uuid_ + ".rev.tmp"}) {
    if (fs.unlinkat(dir_.fd(), name.c_str(), 0) != 0) {
      // Best effort (ENOENT is the usual case): Repository::repair() removes what is left.
    }
  }
}

}  // namespace backy

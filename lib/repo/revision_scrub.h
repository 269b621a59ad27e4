// scrub_revision: check one complete revision's image against its checksums and record the
// verdict in its metadata: trust becomes `verified` when every block matches, `distrusted` (and
// the bad blocks are listed) otherwise. A distrusted revision is never used as a parent again.
#pragma once

#include <stop_token>
#include <string>

#include "repo/repository.h"
#include "store/scrub.h"

namespace backy {

struct ScrubReport {
  Revision revision;  // as updated
  std::vector<BadBlock> bad_blocks;
};

// REQUIRES: `lock` is held on `repo`. Throws backy::Error if the revision or its files are
// missing or unreadable (then it is marked distrusted too, when its .rev exists).
ScrubReport scrub_revision(Repository& repo, const Repository::Lock& lock, const std::string& uuid,
                           std::stop_token stop = {});

}  // namespace backy

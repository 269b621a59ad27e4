// Adoption: takes over, in place, the revisions upstream backy (flyingcircusio/backy) left in a
// job directory, so that a job moved from upstream keeps its history and its next backup is
// an incremental of the newest of them.
//
// Upstream's cowfile revisions are what ours are, a raw image <uuid> reflink-sharing with its
// parent, beside a .rev of another form (repo/upstream_revision.h). Adopting one reads its
// image once to compute <uuid>.sums, and replaces the .rev with ours, keeping uuid (upstream's
// shortuuid), timestamp, parent, tags and trust; upstream's .rev stays as <uuid>.rev.upstream.
// The steps and why a crash anywhere is safe: Repository::commit_adopted. Revisions are adopted
// oldest first, each committed before the next is read, so an interrupted adoption has taken a
// prefix of the history, and running it again goes on with the rest.
//
// Left alone, with the reason: chunked revisions (upstream's chunk store, which backyd does not
// read), .rev files that do not parse, and revisions whose image is missing or unreadable.
// Upstream's `last` and `last.rev` links, `config` and lock files stay as they are (never
// followed, never read).
//
// Runs on the caller's thread (a worker: it reads every image); REQUIRES: the job's lock.
#pragma once

#include <functional>
#include <stop_token>
#include <string>
#include <vector>

#include "repo/repository.h"

namespace backy {

struct AdoptOutcome {
  std::string uuid;
  bool adopted = false;
  std::string why;  // when not adopted: the reason
};

struct AdoptReport {
  std::vector<AdoptOutcome> revisions;  // oldest first
  std::vector<std::string> unreadable;  // upstream .rev files that do not parse, and why
  std::vector<std::string> warnings;    // from the repair before and after
};

struct AdoptHooks {
  // After each revision's outcome (done of total).
  std::function<void(const AdoptOutcome&, size_t done, size_t total)> each;
  // Before revision number `index` (0-based among those adopted in this call) is committed,
  // its image read and checksummed: for tests that crash there.
  std::function<void(size_t index)> before_commit;
};

// REQUIRES: `lock` is `repo`'s. Throws backy::Cancelled on `stop` (between blocks; every
// revision committed so far stays adopted), backy::Error only when the directory cannot be read.
AdoptReport adopt_upstream(Repository& repo, const Repository::Lock& lock, std::stop_token stop,
                           const AdoptHooks& hooks = {});

}  // namespace backy

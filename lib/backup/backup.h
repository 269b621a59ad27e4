// run_backup: one backup run of one job, from source to a committed revision.
//
//   1. (caller) take the job lock; the run's uuid is chosen and recorded in the job directory
//   2. the source's snapshot is started (RBD: backy-<uuid>) on a thread of its own, so that the
//      monitors' delay overlaps the local preparation: the repository is repaired (leftovers of
//      interrupted runs removed, `latest` repointed), parent = newest complete, not distrusted
//      revision the source can diff from, its checksums loaded. With snapshot hooks the
//      snapshot is taken after that, inside the freeze window (pre-snapshot, snapshot,
//      post-snapshot: backup/snapshot_hooks.h)
//   3. the parent's image is cloned (reflink) on a thread of its own, while the run opens the
//      source's snapshot, as an incremental from the parent or full, and asks it what changed
//   4. read the changed blocks into the clone (with its checksums): skip a block whose checksum
//      matches, punch all-zero blocks, write only the pages that differ
//   5. fdatasync the image, save the checksums
//   6. verify a random sample of blocks (against the source when it is a stable snapshot,
//      against the checksums otherwise); a mismatch fails the run. A stable source's reread of
//      the sample runs on a thread of its own during step 5; the image is read after it
//   7. commit (repo/pending_revision.h): the .rev is the point of no return
//   8. after it, best effort: `latest`, and the source's clean-up of this job's older runs
//      (RBD: their snapshots). A failure here is a warning in the result, never a failed run.
//      With `defer_source_cleanup` set, the clean-up is handed over instead (the daemon and
//      --once run it on a thread of its own, backup/source_cleaner.h): the run ends at the commit.
//
// Before the commit, any failure or cancellation removes the run's files and drops the source's
// snapshot; existing revisions are never touched. Runs on the calling (worker) thread.
//
// The run's duration (RevisionStats) is the wall time from BackupOptions::began to the end of
// step 8, split into phases (backup/run_clock.h) that sum to it:
//   prepare   what comes before the snapshot: the lock and the source's construction (in
//             backup_job), steps 1-2; and the wait for step 3's clone where it outlasts the
//             snapshot's opening and the diff (a full run: the empty image's creation)
//   snapshot  the source's snapshot with the hooks' freeze window, and its diff from the parent
//   read      the run's thread waiting for the source's data (read limits included)
//   write     applying the data: checksums, page compares, writes and punches
//   flush     step 5 (the source's reread of step 6 goes on meanwhile); verify: the rest of
//             step 6; commit: step 7 (with the directory fsync and `latest`)
//   cleanup   step 8
// The .rev written at the commit holds the figures of that moment; after step 8 it is rewritten
// with the whole run's (best effort: a failure is a warning, and the commit's figures stay).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <stop_token>
#include <string>

#include "config/config.h"
#include "repo/repository.h"
#include "source/source.h"
#include "store/block_budget.h"
#include "util/time.h"

namespace spdlog {
class logger;
}

namespace backy {

struct BackupOptions {
  std::set<std::string> tags;
  bool full_always = false;
  VerifyConfig verify;
  // Run around the source's snapshot (backup/snapshot_hooks.h) when any is set; `job` names
  // the job in their environment.
  SnapshotHookConfig hooks;
  std::string job;
  std::function<TimePoint()> now = [] { return Clock::now(); };
  // Called on the run's thread with the bytes done and the bytes to do: the blocks the run reads
  // (an incremental's changed extents, a full run's allocated data, rounded out to blocks). First
  // with done 0 as soon as the total is known, then at most four times a second, last with
  // done == total once every block is read.
  std::function<void(uint64_t done, uint64_t total)> progress;
  // What every read of the source waits for (the read limits; the verification's re-read of a
  // stable source too); null: none.
  ReadThrottle* throttle = nullptr;
  // The block buffers every running backup shares beyond its own first ones
  // (store/block_budget.h); null: the run takes all it would like.
  BlockBudget* block_budget = nullptr;
  // Set: step 8's clean-up of the source is not done on the run's thread but handed to this,
  // with the committed revision's uuid and every uuid whose state the job may have left on the
  // source (Source::committed's arguments). Called after the commit, on the run's thread.
  std::function<void(const std::string& uuid, std::set<std::string> owned)> defer_source_cleanup;
  // When the run began, for its duration: backup_job's start, so that the lock and the source's
  // construction count; none: run_backup's call.
  std::optional<std::chrono::steady_clock::time_point> began;
};

struct BackupResult {
  Revision revision;
  bool reflinked = true;        // false: the filesystem could not clone, the image is a full copy
  Repository::Repair repaired;  // what the repair before the run did
  std::vector<std::string> warnings;  // of the steps after the commit (and expiry's, in backup_job)
};

// REQUIRES: `lock` is the lock of `repo`. Throws backy::Error (or backy::Cancelled when `stop`
// is requested) after cleaning up, when no revision was committed; returns the committed
// revision otherwise.
BackupResult run_backup(Repository& repo, const Repository::Lock& lock, Source& source,
                        const BackupOptions& options, spdlog::logger& log,
                        std::stop_token stop = {});

}  // namespace backy

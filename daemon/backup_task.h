// backup_task: what a worker thread does for one backup of a job in the daemon.
//
//   backup_job() (lock, source, run, commit; cancelled through `stop`), its start and outcome
//   logged with the job's logger, its progress published in `progress` (read by `status` on the
//   io thread) and logged every `log_every` (done/total, rate, ETA); then the job's revisions
//   reread, so the scheduler plans with what is on disk now (including whatever expiry did); then,
//   after a successful run, the backup-completed-callback with that revision list.
//
// Blocking; runs on a WorkerPool thread, never on the io_context thread. Touches no scheduler
// state: the result goes back to the io thread as a value. read_history() is shared with the
// scheduler's startup scan.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <vector>

#include "backup/job_backup.h"
#include "config/config.h"
#include "job_scheduler.h"
#include "source/source_factory.h"
#include "util/progress.h"
#include "util/rate_limit.h"

namespace spdlog {
class logger;
}

namespace backy {

struct BackupTaskResult {
  RunOutcome outcome;
  bool cancelled = false;                        // stop was requested; not a failure of the job
  std::optional<std::vector<Revision>> history;  // the job's revisions after the run
  std::vector<std::string> history_problems;     // .rev files that could not be read then
};

// Where a running backup shows how far it got.
struct BackupTaskProgress {
  ProgressMeter* meter = nullptr;      // started and updated by the task; may be null
  std::chrono::seconds log_every{30};  // a progress line in the log at most this often
};

// `config` is the snapshot the task was queued with; `log` the daemon's logger.
// `held`: revisions expiry must keep (the NBD exports; job_backup.h).
// `shared_read_limit`: the global read-limit every running backup reads under (the daemon's, so
// a reload's new rate applies at once); the job's own read-limit is a limiter of this run's. Both
// apply; the time the run waited for them is in the meter and the outcome.
// `cleaner`: where the source's clean-up after the commit runs (the daemon's; job_backup.h).
// `block_budget`: the block buffers all running backups share (the daemon's; job_backup.h).
BackupTaskResult run_backup_task(const Config& config, const JobConfig& job, SourceFactory& sources,
                                 const std::set<std::string>& tags, const spdlog::logger& log,
                                 std::stop_token stop, const HeldRevisions& held = {},
                                 const BackupTaskProgress& progress = {},
                                 RateLimiter* shared_read_limit = nullptr,
                                 SourceCleaner* cleaner = nullptr,
                                 BlockBudget* block_budget = nullptr);

// A job's complete revisions, oldest first; unreadable .rev files are logged and skipped, and
// their reasons added to `problems` (if given: health reports them).
std::vector<Revision> read_history(const std::filesystem::path& job_dir, spdlog::logger& log,
                                   std::vector<std::string>* problems = nullptr);

}  // namespace backy

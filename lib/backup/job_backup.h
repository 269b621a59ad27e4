// backup_job: everything one scheduled or manual backup of a configured job does.
//
// Takes the job's lock (failing at once if another process holds it), builds the job's Source,
// runs run_backup() with the job's settings and `tags`, then applies the schedule's expiry to the
// job's revisions (a failing expiry is a warning in the result: the revision is committed). Shared
// by `backyd --once` and the daemon's workers. Runs on the calling thread; blocking. The run's
// recorded duration (backup.h) counts from this call's start to the end of the source's
// clean-up: expiry is not in it.
//
// Limits: every read of the source waits for `throttle` (the job's and the global read-limit,
// util/rate_limit.h). The run's block buffers beyond its first come from `block_budget`, shared
// by every run of the process (store/block_budget.h; null: none). A file source is read with the
// job's io-priority, set on the calling thread for the run and given back afterwards
// (util/io_priority.h).
//
// With a `cleaner`, the source's clean-up after the commit (RBD: the previous snapshot's removal)
// runs there, overlapping expiry and whatever the caller does next (backup/source_cleaner.h);
// without one, on the calling thread before expiry.
//
// Expiry deletes no held revision: those mounted (mount/mount_registry.h) and those `held`
// names (the daemon's NBD exports), both asked under the job's lock.
#pragma once

#include <functional>
#include <set>
#include <stop_token>
#include <string>

#include "backup/backup.h"
#include "backup/source_cleaner.h"
#include "config/config.h"
#include "schedule/schedule.h"
#include "source/source_factory.h"

namespace backy {

// The job directory of `job` under `config`.
std::filesystem::path job_dir(const Config& config, const std::string& job);

// The tags a run of `job` would carry if it started at `now` (schedule/schedule.h due_tags over
// the job's revisions); empty when nothing is due.
std::set<std::string> tags_due_now(const Config& config, const JobConfig& job, TimePoint now);
// The job's next scheduled run after `now` (schedule/schedule.h next_run over its revisions).
DueRun next_job_run(const Config& config, const JobConfig& job, TimePoint now);

// Takes the job's lock and repairs its directory (Repository::repair); returns what it did.
Repository::Repair repair_job(const Config& config, const JobConfig& job);

// At daemon start: for every job whose freeze window a dead daemon left open, the post-snapshot
// hook (backup/snapshot_hooks.h). Errors are logged. Blocking (bounded by each hook-timeout).
void run_left_over_hooks(const Config& config, spdlog::logger& log);

// The uuids of a job's revisions that something outside the job directory holds (any thread).
using HeldRevisions = std::function<std::set<std::string>(const std::string& job)>;

BackupResult backup_job(const Config& config, const JobConfig& job, SourceFactory& sources,
                        const std::set<std::string>& tags, spdlog::logger& log,
                        std::stop_token stop = {},
                        std::function<void(uint64_t, uint64_t)> progress = {},
                        const HeldRevisions& held = {}, ReadThrottle* throttle = nullptr,
                        SourceCleaner* cleaner = nullptr, BlockBudget* block_budget = nullptr);

}  // namespace backy

// backup_job: everything one scheduled or manual backup of a configured job does.
//
// Takes the job's lock (failing at once if another process holds it), builds the job's Source,
// runs run_backup() with the job's settings and `tags`, then applies the schedule's expiry to the
// job's revisions (a failing expiry is a warning in the result: the revision is committed). Shared
// by `backyd --once` and the daemon's workers. Runs on the calling thread; blocking.
#pragma once

#include <set>
#include <stop_token>
#include <string>

#include "backup/backup.h"
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

BackupResult backup_job(const Config& config, const JobConfig& job, SourceFactory& sources,
                        const std::set<std::string>& tags, spdlog::logger& log,
                        std::stop_token stop = {},
                        std::function<void(uint64_t, uint64_t)> progress = {});

}  // namespace backy

#include "backup/job_backup.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "backup/snapshot_hooks.h"
#include "mount/mount_registry.h"
#include "repo/expire.h"
#include "schedule/schedule.h"
#include "util/error.h"
#include "util/fs_space.h"
#include "util/io_priority.h"
#include "util/text.h"

namespace backy {

std::filesystem::path job_dir(const Config& config, const std::string& job) {
  return config.global.base_dir / job;
}

BackupResult backup_job(const Config& config, const JobConfig& job, SourceFactory& sources,
                        const std::set<std::string>& tags, spdlog::logger& log,
                        std::stop_token stop, std::function<void(uint64_t, uint64_t)> progress,
                        const HeldRevisions& held, ReadThrottle* throttle, SourceCleaner* cleaner,
                        BlockBudget* block_budget) {
  const auto began = std::chrono::steady_clock::now();  // the run's duration counts from here
  // A full base-dir would fail every job halfway, each leaving its partial image to remove:
  // below free-space-critical none starts, and the reason is the run's error.
  if (auto low = space_below(fs_space(config.global.base_dir), config.global.free_space_critical))
    throw Error("base-dir " + config.global.base_dir.string() + " is below free-space-critical (" +
                format_percent(config.global.free_space_critical) + "): " + *low +
                "; the backup did not start");
  // Before the lock: the cleaner never takes the job's lock while this run may want it.
  std::optional<SourceCleaner::RunGuard> guard;
  if (cleaner) guard.emplace(*cleaner, job.name);
  Repository repo(job_dir(config, job.name));
  Repository::Lock lock = repo.lock();
  // A guest left frozen by a daemon that died in a freeze window thaws before anything else.
  run_left_over_post_snapshot(job.hooks, repo, lock, log);
  std::shared_ptr<Source> source = sources.make(job.source);
  BackupOptions options;
  options.tags = tags;
  options.full_always = job.source.full_always;
  options.verify = job.verify;
  options.hooks = job.hooks;
  options.job = job.name;
  options.progress = std::move(progress);
  options.throttle = throttle;
  options.block_budget = block_budget;
  if (cleaner)
    options.defer_source_cleanup = [&](const std::string& uuid, std::set<std::string> owned) {
      cleaner->submit({job.name, repo.dir(), uuid, std::move(owned), source, std::nullopt});
    };
  options.began = began;
  std::optional<ScopedIoPriority> io_priority;
  if (job.source.type == SourceConfig::Type::file) io_priority.emplace(job.io_priority);
  BackupResult result = run_backup(repo, lock, *source, options, log, stop);
  io_priority.reset();
  // Expiry only after a success: a failing job must not lose its old revisions one by one. The
  // new revision is committed whatever expiry does: its failure is a warning, retried next run.
  try {
    // Mounted and exported revisions are held: each hold is taken under this lock.
    auto keep = MountRegistry(config.global.base_dir).holds(job.name);
    if (held) keep.merge(held(job.name));
    apply_expiry(repo, lock, config.schedules.at(job.schedule), options.now(), log, keep);
  } catch (const std::exception& e) {
    log.warn("expiry failed (retried after the next run): {}", e.what());
    result.warnings.push_back(std::string("expiry failed: ") + e.what());
  }
  return result;
}

std::set<std::string> tags_due_now(const Config& config, const JobConfig& job, TimePoint now) {
  const Schedule& schedule = config.schedules.at(job.schedule);
  Repository repo(job_dir(config, job.name));
  return due_tags(schedule, job_spread(job.name, schedule), now, revision_infos(repo.revisions()));
}

DueRun next_job_run(const Config& config, const JobConfig& job, TimePoint now) {
  const Schedule& schedule = config.schedules.at(job.schedule);
  Repository repo(job_dir(config, job.name));
  return next_run(schedule, job_spread(job.name, schedule), now, revision_infos(repo.revisions()));
}

void run_left_over_hooks(const Config& config, spdlog::logger& log) {
  for (const auto& [name, job] : config.jobs) {
    // Only a job with a record is locked: locking would create the directory of a new job.
    std::error_code ec;
    if (job.hooks.post_snapshot.empty() ||
        !std::filesystem::exists(job_dir(config, name) / kHookPendingNote, ec))
      continue;
    try {
      Repository repo(job_dir(config, name));
      auto lock = repo.try_lock();
      if (!lock) continue;  // whoever holds it is a run of the job, which runs the hook first
      run_left_over_post_snapshot(job.hooks, repo, *lock, log);
    } catch (const std::exception& e) {
      log.error("job {}: post-snapshot of a freeze window left open: {}", name, e.what());
    }
  }
}

Repository::Repair repair_job(const Config& config, const JobConfig& job) {
  Repository repo(job_dir(config, job.name));
  Repository::Lock lock = repo.lock();
  return repo.repair(lock);
}

}  // namespace backy

// Scheduler::reload (SIGHUP, `backyctl reload`): read the file again, refuse it whole if it has
// errors, otherwise diff the job tables. Unchanged jobs are not touched at all (their timers,
// failure counts and running backups stay); removed jobs stop; changed jobs take the new config
// for their next run, a running one finishes with the old. The orphan scan lives here too.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "backup/job_backup.h"
#include "logging.h"
#include "notifier.h"
#include "scheduler.h"
#include "util/text.h"

namespace backy {

namespace fs = std::filesystem;

namespace {

std::string read_limit_text(uint64_t rate) {
  return rate == 0 ? std::string("none") : human_bytes(double(rate)) + "/s";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Reload

ReloadResult Scheduler::reload() {
  io_thread_.check("Scheduler::reload");
  ReloadResult result;
  if (stopping_) {
    result.errors.push_back("the daemon is stopping");
    return result;
  }
  notifier_.reloading();
  log_->info("reloading {}", config_.file.string());
  ConfigLoad load = load_config(config_.file);
  if (load.ok() && load.config->global.base_dir != config_.global.base_dir)
    load.errors.push_back({config_.file.string(), 0, 0,
                           "base-dir cannot change while backyd runs (it holds the lock of " +
                               config_.global.base_dir.string() + "); restart backyd"});
  if (!load.ok()) {
    for (const auto& e : load.errors) result.errors.push_back(e.to_string());
    for (const auto& e : result.errors) log_->error("reload: {}", e);
    log_->error("reload refused: {} error{}; the running configuration stays", result.errors.size(),
                result.errors.size() == 1 ? "" : "s");
    refused_reload_ = result.errors.front();
    notifier_.ready();
    return result;
  }
  for (const auto& w : load.warnings) log_->warn("reload: {}", warning_text(w));
  Config next = std::move(*load.config);
  result.accepted = true;
  refused_reload_.reset();
  log_preflight(next, *log_);

  if (next.global.worker_limit != config_.global.worker_limit) {
    log_->info("worker-limit {} -> {} per lane", config_.global.worker_limit,
               next.global.worker_limit);
    pool_.resize(next.global.worker_limit);
  }
  const bool threshold_changed =
      next.global.fast_lane_threshold != config_.global.fast_lane_threshold;
  if (threshold_changed)
    log_->info("fast-lane-threshold {} -> {}", format_duration(config_.global.fast_lane_threshold),
               format_duration(next.global.fast_lane_threshold));
  if (next.global.read_limit != config_.global.read_limit) {
    // Running backups read under the new rate from their next read on.
    log_->info("read-limit {} -> {}", read_limit_text(config_.global.read_limit),
               read_limit_text(next.global.read_limit));
    read_limit_->set_rate(next.global.read_limit);
  }
  if (!(next.ceph == config_.ceph))
    sources_ = std::shared_ptr<SourceFactory>(make_sources_(next.ceph));
  if (next.global.socket != config_.global.socket)
    log_->warn("socket changed to {}: takes effect when backyd restarts", next.global.socket);
  if (!options_.log_level_fixed)
    log_->set_level(parse_log_level(next.global.log_level).value_or(spdlog::level::info));

  for (const auto& [name, job] : jobs_)
    if (!job.removed && !next.jobs.contains(name)) result.removed.push_back(name);
  for (const auto& [name, jc] : next.jobs) {
    auto it = jobs_.find(name);
    if (it == jobs_.end() || it->second.removed)
      result.added.push_back(name);
    else if (!(it->second.config == jc) ||
             next.schedules.at(jc.schedule) != config_.schedules.at(jc.schedule))
      result.changed.push_back(name);
  }
  config_ = std::move(next);
  snapshot_ = std::make_shared<const Config>(config_);

  for (const auto& name : result.removed) {
    auto it = jobs_.find(name);
    Job& job = it->second;
    job.removed = true;
    job.backup_pending = false;
    job_logger(*log_, name)->info("removed from the configuration; its directory stays");
    if (job.task == TaskKind::none)
      forget_job(it);
    else if (job.task == TaskKind::backup)
      pool_.stop(job.task_id);  // queued: dequeued; running: asked to stop
  }
  for (const auto& name : result.added) {
    auto it = jobs_.find(name);
    if (it != jobs_.end()) {  // removed earlier, its task still ending: it is back
      it->second.removed = false;
      it->second.config = config_.jobs.at(name);
      set_schedule(it->second);
      job_logger(*log_, name)->info("added again; its cancelled run ends first");
      continue;  // start_next() arms it when that task reports back
    }
    Job& job = add_job(config_.jobs.at(name));
    job_logger(*log_, name)->info("added");
    start_next(job);
  }
  for (const auto& name : result.changed) {
    Job& job = jobs_.at(name);
    job.config = config_.jobs.at(name);
    set_schedule(job);
    job_logger(*log_, name)->info("configuration changed");
    if (job.task == TaskKind::backup && !job.task_started)
      pool_.stop(job.task_id);  // back to pending, resubmitted with the new config
    else if (job.task == TaskKind::none)
      arm(job);  // a running task picks the change up when it ends
  }
  // A queued backup now in the wrong lane waits again in the right one (cancelled, back to
  // pending, resubmitted: it keeps its due time). Running ones finish where they are.
  if (threshold_changed)
    for (auto& [name, job] : jobs_)
      if (job.task == TaskKind::backup && !job.task_started && !job.removed &&
          backup_lane(job.history, config_.global.fast_lane_threshold) != job.lane)
        pool_.stop(job.task_id);
  scan_orphans();
  log_->info("reloaded: {} jobs ({} added, {} removed, {} changed)", config_.jobs.size(),
             result.added.size(), result.removed.size(), result.changed.size());
  notifier_.ready();
  status_changed();
  return result;
}

void Scheduler::scan_orphans() {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(config_.global.base_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(".") || name == "lost+found" || !entry.is_directory(ec)) continue;
    if (config_.jobs.contains(name)) continue;
    found.push_back(name);
  }
  std::sort(found.begin(), found.end());
  for (const auto& name : found)
    if (std::find(orphans_.begin(), orphans_.end(), name) == orphans_.end())
      log_->warn("orphaned job directory {}: no job '{}' in the configuration; left untouched",
                 (config_.global.base_dir / name).string(), name);
  orphans_ = std::move(found);
}

}  // namespace backy

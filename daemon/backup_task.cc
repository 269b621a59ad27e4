#include "backup_task.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "backup/job_backup.h"
#include "completion_callback.h"
#include "logging.h"
#include "repo/repository.h"
#include "schedule/schedule.h"
#include "util/error.h"
#include "util/text.h"

namespace backy {

BackupTaskResult run_backup_task(const Config& config, const JobConfig& job, SourceFactory& sources,
                                 const std::set<std::string>& tags, const spdlog::logger& log,
                                 std::stop_token stop, const HeldRevisions& held,
                                 const BackupTaskProgress& progress, RateLimiter* shared_read_limit,
                                 SourceCleaner* cleaner, BlockBudget* block_budget) {
  BackupTaskResult result;
  RunOutcome& out = result.outcome;
  out.tags = tags;
  out.started = Clock::now();
  auto jlog = job_logger(log, job.name);
  jlog->info("backup started, tags {}", join_tags(tags));
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  // The meter runs on its own, so that a stand-in (progress.meter null) still logs.
  ProgressMeter own;
  ProgressMeter& meter = progress.meter ? *progress.meter : own;
  meter.start();
  // A job runs once at a time: its own limiter lives for the run.
  RateLimiter job_limit(job.read_limit);
  ReadThrottle throttle({job.read_limit ? &job_limit : nullptr, shared_read_limit});
  auto last_log = std::chrono::steady_clock::now();
  auto publish = [&](uint64_t done, uint64_t total) {
    meter.set(done, total);
    meter.set_throttled(throttle.throttled_seconds());
    const auto now = std::chrono::steady_clock::now();
    if (now - last_log < progress.log_every || done >= total) return;
    last_log = now;
    jlog->info("progress: {}", describe_progress(meter.sample()));
  };
  try {
    BackupResult r = backup_job(config, job, sources, tags, *jlog, stop, publish, held, &throttle,
                                cleaner, block_budget);
    out.ok = true;
    out.uuid = r.revision.uuid;
    out.warnings = r.warnings;
    out.duration = elapsed();
    out.throttled = throttle.throttled_seconds();
    const RevisionStats& st = r.revision.stats;
    jlog->info("run ok: revision {}, {} image, {} read at {}/s, {} written, in {}{}{}", out.uuid,
               human_bytes(double(r.revision.size)), human_bytes(double(st.bytes_read)),
               human_bytes(out.duration > 0 ? double(st.bytes_read) / out.duration : 0),
               human_bytes(double(st.bytes_written)), human_duration(out.duration),
               out.throttled > 0 ? ", " + human_duration(out.throttled) + " of it throttled" : "",
               r.reflinked ? "" : " (no reflinks: the image is a full copy)");
  } catch (const Cancelled&) {
    out.throttled = throttle.throttled_seconds();
    result.cancelled = true;
    out.error = "cancelled";
    out.duration = elapsed();
    jlog->warn("backup cancelled; its partial revision was removed");
  } catch (const std::exception& e) {
    out.throttled = throttle.throttled_seconds();
    out.error = e.what();
    out.duration = elapsed();
    jlog->error("backup failed: {}", out.error);
  }
  try {
    result.history = read_history(job_dir(config, job.name), *jlog, &result.history_problems);
  } catch (const std::exception& e) {
    jlog->warn("cannot reread the revisions: {}", e.what());
  }
  const std::string& callback = config.global.backup_completed_callback;
  if (out.ok && !callback.empty() && result.history)
    run_and_log_completion_callback(callback, job.name, *result.history,
                                    config.global.callback_timeout, *jlog, stop);
  // After every run, failed ones included: the hook for "tell me when a backup fails".
  if (!config.global.run_callback.empty() && !result.cancelled)
    run_and_log_callback(
        "run-callback", config.global.run_callback, job.name,
        run_outcome_json(job.name, out, result.history.value_or(std::vector<Revision>{})),
        config.global.callback_timeout, *jlog, stop);
  return result;
}

std::vector<Revision> read_history(const std::filesystem::path& job_dir, spdlog::logger& log,
                                   std::vector<std::string>* problems) {
  std::vector<std::string> found;
  auto revs = Repository(job_dir).revisions(&found);
  for (const auto& p : found) log.warn("revision skipped: {}", p);
  if (problems) *problems = std::move(found);
  return revs;
}

}  // namespace backy

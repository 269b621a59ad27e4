// Scheduler: the read side (status, counts, the STATUS= summary for systemd). Pure functions of
// the job table; the summary goes out at most every kStatusDelay, so a burst of thousands of
// due jobs does not cost thousands of scans.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "backup/job_backup.h"
#include "logging.h"
#include "notifier.h"
#include "scheduler.h"
#include "util/text.h"

namespace backy {

namespace {

constexpr auto kStatusDelay = std::chrono::milliseconds(500);

}  // namespace

// ---------------------------------------------------------------------------------------------
// Status

void Scheduler::status_changed() {
  if (status_pending_ || stopping_) return;
  status_pending_ = true;
  status_timer_.expires_after(kStatusDelay);
  status_timer_.async_wait([self = weak()](const boost::system::error_code& ec) {
    if (ec) return;
    if (auto s = self.lock()) {
      s->status_pending_ = false;
      s->notifier_.status(s->summary());
    }
  });
}

std::string Scheduler::summary() const {
  io_thread_.check("Scheduler::summary");
  int jobs = 0, running = 0, queued = 0, failed = 0, paused = 0;
  for (const auto& [name, job] : jobs_) {
    if (job.removed) continue;
    ++jobs;
    if (job.task != TaskKind::none && job.task_started)
      ++running;
    else if (job.task != TaskKind::none || job.backup_pending)
      ++queued;
    if (job.consecutive_failures > 0) ++failed;
    if (job.paused) ++paused;
  }
  std::string s = count(jobs, "job") + ", " + std::to_string(running) + " running, " +
                  std::to_string(queued) + " queued, " + std::to_string(failed) + " failed";
  if (paused) s += ", " + std::to_string(paused) + " paused";
  return s;
}

void Scheduler::set_history(Job& job, std::vector<Revision> history,
                            std::vector<std::string> problems) {
  job.summary = summarize_history(history, std::move(problems));
  job.history = std::move(history);
}

JobStatus Scheduler::status_of(const Job& job, TimePoint now) const {
  JobStatus st;
  st.name = job.config.name;
  if (job.task == TaskKind::backup && job.task_started)
    st.state = JobState::running;
  else if (job.task == TaskKind::backup || job.backup_pending)
    st.state = JobState::queued;
  else if (job.paused)
    st.state = JobState::paused;
  else if (job.task == TaskKind::work && job.task_started)
    st.state = JobState::running;
  else if (job.consecutive_failures > 0)
    st.state = JobState::failed;
  else
    st.state = JobState::waiting;
  const HistorySummary& history = job.summary;
  st.last_backup = history.newest;
  std::optional<TimePoint> newest;
  if (history.newest) newest = history.newest->timestamp;
  st.overdue = is_overdue(schedule_of(job), now, newest, job.first_seen);
  st.last_run = job.last_run;
  st.pause = job.pause;
  if (job.task == TaskKind::backup && job.task_started) {
    st.running_since = job.running_since;
    if (job.progress) st.progress = job.progress->sample();
    st.next_tags = job.backup_tags;  // what the running backup carries; no next time yet
  } else if (job.next) {
    st.next_time = job.next->time;
    st.next_tags = job.next->tags;
  } else if (job.backup_pending || job.task == TaskKind::backup) {
    st.next_time = job.backup_due;
    st.next_tags = job.backup_tags;
  }
  st.lane = job.task == TaskKind::backup
                ? job.lane
                : backup_lane(job.history, config_.global.fast_lane_threshold);
  st.read_limit = job.config.read_limit;
  if (job.config.source.type == SourceConfig::Type::file)
    st.io_priority = to_string(job.config.io_priority);
  st.throttled = st.progress ? st.progress->throttled : job.last_run ? job.last_run->throttled : 0;
  st.throttled_total = job.throttled_total + (st.progress ? st.progress->throttled : 0);
  st.consecutive_failures = job.consecutive_failures;
  st.total_failures = job.total_failures;
  st.revision_count = history.revisions;
  st.bytes_written_total = history.bytes_written;
  st.findings = history.findings;
  return st;
}

std::vector<JobStatus> Scheduler::status() const {
  io_thread_.check("Scheduler::status");
  std::vector<JobStatus> out;
  each_status([&](JobStatus&& s) { out.push_back(std::move(s)); });
  return out;
}

void Scheduler::each_status(const std::function<void(JobStatus&&)>& f) const {
  io_thread_.check("Scheduler::each_status");
  const TimePoint now = Clock::now();
  for (const auto& [name, job] : jobs_)
    if (!job.removed) f(status_of(job, now));
}

std::optional<JobStatus> Scheduler::status(const std::string& name) const {
  io_thread_.check("Scheduler::status");
  auto it = jobs_.find(name);
  if (it == jobs_.end() || it->second.removed) return std::nullopt;
  return status_of(it->second, Clock::now());
}

int Scheduler::running_count() const {
  io_thread_.check("Scheduler::running_count");
  int n = 0;
  for (const auto& [name, job] : jobs_)
    if (job.task != TaskKind::none && job.task_started) ++n;
  return n;
}

std::vector<LaneLoad> Scheduler::lane_loads() const {
  io_thread_.check("Scheduler::lane_loads");
  std::vector<LaneLoad> out;
  for (Lane lane : {Lane::fast, Lane::slow, Lane::work})
    out.push_back({lane, pool_.limit(), pool_.running(lane), pool_.queued(lane)});
  return out;
}

int Scheduler::queued_count() const {
  io_thread_.check("Scheduler::queued_count");
  int n = 0;
  for (const auto& [name, job] : jobs_)
    if ((job.task != TaskKind::none && !job.task_started) || job.backup_pending) ++n;
  return n;
}

}  // namespace backy

#include "scheduler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <thread>

#include "backup/job_backup.h"
#include "backup_task.h"
#include "logging.h"
#include "notifier.h"
#include "repo/expire.h"
#include "repo/pause_note.h"
#include "repo/repository.h"
#include "store/block_sums.h"
#include "util/dir.h"
#include "util/error.h"
#include "util/text.h"

namespace backy {

namespace {

// The block buffers all running backups share beyond each run's first (store/block_budget.h):
// four blocks. A run alone still queues its full four direct writes (its own buffer and three
// from here), so one backup is as fast as without a budget; with `worker-limit` runs in each
// backup lane, their queued writes hold at most one block each plus these 16 MiB between them.
constexpr size_t kBlockBudgetBytes = 4 * kBlockSize;

}  // namespace

Scheduler::Scheduler(boost::asio::io_context& io, Config config, WorkerPool& pool,
                     Notifier& notifier, std::shared_ptr<spdlog::logger> log,
                     SourceFactoryMaker make_sources, Options options)
    : io_(io),
      config_(std::move(config)),
      snapshot_(std::make_shared<const Config>(config_)),
      pool_(pool),
      notifier_(notifier),
      log_(std::move(log)),
      make_sources_(std::move(make_sources)),
      sources_(std::shared_ptr<SourceFactory>(make_sources_(config_.ceph))),
      read_limit_(std::make_shared<RateLimiter>(config_.global.read_limit)),
      block_budget_(std::make_shared<BlockBudget>(kBlockBudgetBytes)),
      options_(options),
      stop_timer_(io),
      status_timer_(io) {}

namespace {

// What a job's directory says at start: its history and pause note. Any thread.
struct JobDisk {
  std::vector<Revision> history;
  std::vector<std::string> problems;
  std::optional<PauseNote> pause;
  std::optional<std::string> pause_error;  // the note exists but cannot be read
};

// base-dir, open for reading the job directories in it; nullopt when it is missing or cannot be
// opened (every job's backup then fails, saying why).
std::optional<Dir> open_base_dir(const std::filesystem::path& base_dir, spdlog::logger& log) {
  try {
    return Dir::open_existing(base_dir);
  } catch (const Error& e) {
    log.error("{}", e.what());
    return std::nullopt;
  }
}

// One listing of the job's directory serves its revisions and its pause note: at startup this
// runs 10,000 times, and each system call saved is 10,000 saved. A directory that cannot be read
// (a symlink or a file where it belongs) is the job's problem, shown in its status; its next
// backup fails on it.
JobDisk read_job_disk(const std::optional<Dir>& base, const std::string& job, spdlog::logger& log) {
  JobDisk d;
  try {
    const std::optional<Dir> dir = base ? base->sub(job, false) : std::nullopt;
    if (!dir) return d;  // the job never ran
    const std::vector<Dir::Entry> entries = dir->entries();
    d.history = Repository::revisions_in(*dir, entries, &d.problems);
    for (const auto& p : d.problems) log.warn("revision skipped: {}", p);
    const bool paused = std::any_of(entries.begin(), entries.end(),
                                    [](const Dir::Entry& e) { return e.name == kPauseNoteName; });
    if (paused) {
      try {
        d.pause = read_pause_note(*dir);
      } catch (const Error& e) {
        d.pause_error = e.what();
      }
    }
  } catch (const std::exception& e) {  // anything: one job's directory must not end the start
    log.warn("cannot read the job directory: {}", e.what());
    d.problems.push_back(e.what());
  }
  return d;
}

// Startup reads every job's directory: thousands of small files, each a few system calls and a
// small parse. On a cold page cache each is a disk read, and the readers mostly wait: more of
// them than cores keep the disk busy (10,000 jobs, cold: 2.0 s with two readers, 1.1-1.4 s with
// eight; warm, the same). Each reads every n-th job into its own slot; nothing is shared but
// the logger and base-dir's fd, which only openat() uses.
constexpr size_t kStartReaders = 8;

std::vector<JobDisk> read_job_disks(const std::filesystem::path& base_dir,
                                    const std::vector<std::string>& jobs, spdlog::logger& log) {
  const std::optional<Dir> base = open_base_dir(base_dir, log);
  std::vector<JobDisk> out(jobs.size());
  {
    std::vector<std::jthread> readers;
    for (size_t t = 0; t < kStartReaders && t < jobs.size(); ++t)
      readers.emplace_back([&, t] {
        for (size_t i = t; i < jobs.size(); i += kStartReaders)
          out[i] = read_job_disk(base, jobs[i], log);
      });
  }
  return out;
}

}  // namespace

void Scheduler::start() {
  io_thread_.check("Scheduler::start");
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> names;
  for (const auto& [name, jc] : config_.jobs) names.push_back(name);
  auto disks = read_job_disks(config_.global.base_dir, names, *log_);
  size_t i = 0;
  for (const auto& [name, jc] : config_.jobs) {
    JobDisk& d = disks[i++];
    add_job(jc, std::move(d.history), std::move(d.problems), std::move(d.pause), d.pause_error);
  }
  scan_orphans();
  for (auto& [name, job] : jobs_) start_next(job);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log_->info("{} loaded in {}, worker-limit {} per lane, fast lane below {}",
             count(jobs_.size(), "job"), human_duration(secs), config_.global.worker_limit,
             format_duration(config_.global.fast_lane_threshold));
  status_changed();
}

Scheduler::Job& Scheduler::add_job(const JobConfig& jc) {
  JobDisk d = read_job_disk(open_base_dir(config_.global.base_dir, *log_), jc.name, *log_);
  return add_job(jc, std::move(d.history), std::move(d.problems), std::move(d.pause),
                 d.pause_error);
}

Scheduler::Job& Scheduler::add_job(const JobConfig& jc, std::vector<Revision> history,
                                   std::vector<std::string> problems,
                                   std::optional<PauseNote> pause,
                                   const std::optional<std::string>& pause_error) {
  auto [it, inserted] = jobs_.try_emplace(jc.name, io_, jc);
  Job& job = it->second;
  set_history(job, std::move(history), std::move(problems));
  job.first_seen = Clock::now();
  // A pause outlasts restarts. An unreadable record still means someone paused the job: it stays
  // paused (and says why) until resumed, rather than backing up what an admin wanted left alone.
  job.pause = std::move(pause);
  if (pause_error) {
    job.pause = PauseNote{"?", Clock::now(), *pause_error};
    job_logger(*log_, jc.name)->warn("kept paused: {}", *pause_error);
  }
  job.paused = job.pause.has_value();
  set_schedule(job);
  return job;
}

void Scheduler::set_schedule(Job& job) {
  job.spread = job_spread(job.config.name, schedule_of(job));
}

const Schedule& Scheduler::schedule_of(const Job& job) const {
  static const Schedule kNone;
  auto it = config_.schedules.find(job.config.schedule);
  return it == config_.schedules.end() ? kNone : it->second;
}

// ---------------------------------------------------------------------------------------------
// Timers

void Scheduler::arm(Job& job) {
  disarm(job);
  if (job.paused || job.removed || stopping_) return;
  const TimePoint now = Clock::now();
  const Schedule& schedule = schedule_of(job);
  const auto history = revision_infos(job.history);
  DueRun due = next_run(schedule, job.spread, now, history);
  if (job.consecutive_failures > 0 && due.time < job.retry_at)
    due = next_run(schedule, job.spread, job.retry_at, history);
  // An empty schedule never runs; an absurd interval lands beyond what a timer can wait for.
  if (due.tags.empty() || due.time > now + std::chrono::hours(24 * 365 * 100)) return;
  job.next = due;
  const uint64_t seq = job.seq;
  job.timer.expires_at(due.time);
  job.timer.async_wait(
      [self = weak(), name = job.config.name, seq](const boost::system::error_code& ec) {
        if (ec) return;
        if (auto s = self.lock()) s->on_timer(name, seq);
      });
}

std::string Scheduler::next_run_text(const Job& job) const {
  if (job.next) {
    const double in = std::chrono::duration<double>(job.next->time - Clock::now()).count();
    return "next try at " + format_iso8601(job.next->time) + " (in " + human_duration(in) +
           ", tags " + join_tags(job.next->tags) + ")";
  }
  if (job.task != TaskKind::none || job.backup_pending) return "a queued run follows";
  if (job.paused) return "paused: no retry until resumed";
  return "no further run is scheduled";
}

void Scheduler::disarm(Job& job) {
  ++job.seq;
  job.next.reset();
  job.timer.cancel();
}

void Scheduler::on_timer(const std::string& name, uint64_t seq) {
  io_thread_.check("Scheduler::on_timer");
  auto it = jobs_.find(name);
  if (it == jobs_.end() || it->second.seq != seq || !it->second.next) return;
  Job& job = it->second;
  // Run what the timer was armed with: recomputing now would skip the slot at this very second.
  DueRun due = *job.next;
  job.next.reset();
  want_backup(job, due.time, due.tags, nullptr);
}

// ---------------------------------------------------------------------------------------------
// Tasks

void Scheduler::want_backup(Job& job, TimePoint due, std::set<std::string> tags, Waiter waiter) {
  disarm(job);
  if (!job.backup_pending || due < job.backup_due) job.backup_due = due;
  job.backup_pending = true;
  job.backup_tags.insert(tags.begin(), tags.end());
  if (waiter) job.waiters.push_back(std::move(waiter));
  start_next(job);
  status_changed();
}

void Scheduler::start_next(Job& job) {
  if (job.task != TaskKind::none) return;
  if (!job.work_queue.empty()) {
    WorkItem item = std::move(job.work_queue.front());
    job.work_queue.pop_front();
    submit_work(job, std::move(item));
  } else if (job.backup_pending && !job.removed && !stopping_) {
    submit_backup(job);
  } else {
    arm(job);
  }
}

void Scheduler::submit_backup(Job& job) {
  disarm(job);
  job.backup_pending = false;
  job.task = TaskKind::backup;
  job.task_started = false;
  job.task_seq = job.seq;
  job.progress = std::make_shared<ProgressMeter>();
  job.running_since.reset();
  auto run = std::make_shared<BackupTaskResult>();
  const std::string name = job.config.name;
  const uint64_t seq = job.task_seq;
  // The job's settings are read from the snapshot when the task runs, not copied into it: the
  // snapshot holds them as job.config is now (a reload replaces both at once), and a copy per
  // queued task is half a KiB times every job that is due.
  auto work = [self = weak(), &io = io_, cfg = snapshot_, tags = job.backup_tags,
               sources = sources_, log = log_, held = options_.held, run, name, seq,
               meter = job.progress, read_limit = read_limit_, budget = block_budget_,
               log_every = options_.progress_log_every,
               cleaner = options_.cleaner](std::stop_token stop) {
    boost::asio::post(io, [self, name, seq] {
      if (auto s = self.lock()) s->on_started(name, seq);
    });
    const auto jc = cfg->jobs.find(name);
    if (jc == cfg->jobs.end()) {  // cannot be (see above); a failed run, should it ever
      run->outcome.error = "job " + name + " is not in the configuration it was queued with";
      return;
    }
    *run = run_backup_task(*cfg, jc->second, *sources, tags, *log, stop, held,
                           {meter.get(), log_every}, read_limit.get(), cleaner, budget.get());
  };
  auto done = [self = weak(), run, name, seq](bool ran) {
    if (auto s = self.lock()) s->on_backup_done(name, seq, *run, ran);
  };
  job.lane = backup_lane(job.history, config_.global.fast_lane_threshold);
  job.task_id = pool_.submit(job.lane, job.backup_due, std::move(work), std::move(done));
}

void Scheduler::submit_work(Job& job, WorkItem item) {
  disarm(job);
  job.task = TaskKind::work;
  job.task_started = false;
  job.task_seq = job.seq;
  const std::string name = job.config.name;
  const uint64_t seq = job.task_seq;
  auto error = std::make_shared<std::optional<std::string>>();
  auto history = std::make_shared<std::optional<std::vector<Revision>>>();
  auto problems = std::make_shared<std::vector<std::string>>();
  auto work = [self = weak(), &io = io_, work = std::move(item.work), error, history, problems,
               dir = job_dir(*snapshot_, name), log = log_, name, seq,
               cleaner = options_.cleaner](std::stop_token stop) {
    boost::asio::post(io, [self, name, seq] {
      if (auto s = self.lock()) s->on_started(name, seq);
    });
    try {
      // Job work takes the job's lock too: the cleaner must not hold it meanwhile.
      std::optional<SourceCleaner::RunGuard> guard;
      if (cleaner) guard.emplace(*cleaner, name);
      work(stop);
    } catch (const std::exception& e) {
      *error = e.what();
    } catch (...) {
      *error = "unknown error";
    }
    try {
      *history = read_history(dir, *log, problems.get());
    } catch (const std::exception&) {
    }
  };
  auto done = [self = weak(), error, history, problems, name, seq,
               done = std::move(item.done)](bool ran) {
    if (auto s = self.lock())
      s->on_work_done(name, seq, *error, *history, std::move(*problems), done, ran);
  };
  job.task_id = pool_.submit(Lane::work, Clock::now(), std::move(work), std::move(done));
}

void Scheduler::on_started(const std::string& name, uint64_t seq) {
  io_thread_.check("Scheduler::on_started");
  auto it = jobs_.find(name);
  if (it == jobs_.end() || it->second.task_seq != seq || it->second.task == TaskKind::none) return;
  it->second.task_started = true;
  if (it->second.task == TaskKind::backup) it->second.running_since = Clock::now();
  status_changed();
}

void Scheduler::on_backup_done(const std::string& name, uint64_t seq, BackupTaskResult& run,
                               bool ran) {
  io_thread_.check("Scheduler::on_backup_done");
  auto it = jobs_.find(name);
  if (it == jobs_.end() || it->second.task != TaskKind::backup || it->second.task_seq != seq) {
    task_ended();
    return;
  }
  Job& job = it->second;
  job.task = TaskKind::none;
  job.progress.reset();
  job.running_since.reset();
  std::vector<Waiter> waiters;
  bool failed = false;
  if (!ran) {
    // Cancelled before it started: by a reload that changed the job (it goes back to pending,
    // and is resubmitted with the new config), or by pause, removal or shutdown.
    if (!job.paused && !job.removed && !stopping_) {
      job.backup_pending = true;
    } else {
      run.outcome.error = "cancelled before it started";
      waiters.swap(job.waiters);
      job.backup_tags.clear();
    }
  } else {
    waiters.swap(job.waiters);
    job.backup_tags.clear();
    if (run.history) set_history(job, std::move(*run.history), std::move(run.history_problems));
    job.last_run = run.outcome;
    job.throttled_total += run.outcome.throttled;
    if (run.outcome.ok) {
      job.consecutive_failures = 0;
    } else if (!run.cancelled) {
      ++job.consecutive_failures;
      ++job.total_failures;
      job.retry_at =
          Clock::now() + failure_backoff(job.consecutive_failures, config_.global.retry_after);
      failed = true;
    }
  }
  if (job.removed) {
    forget_job(it);
  } else {
    start_next(job);
    // Said once the job is armed, from what it was armed with: what the log announces is what
    // happens, and what status shows (the backoff only sets the earliest moment).
    if (failed)
      job_logger(*log_, name)
          ->warn("failure {} in a row; {}", job.consecutive_failures, next_run_text(job));
  }
  for (auto& w : waiters) w(run.outcome);
  status_changed();
  task_ended();
}

void Scheduler::on_work_done(const std::string& name, uint64_t seq,
                             std::optional<std::string> error,
                             std::optional<std::vector<Revision>> history,
                             std::vector<std::string> history_problems,
                             std::function<void(std::optional<std::string>)> done, bool ran) {
  io_thread_.check("Scheduler::on_work_done");
  if (!ran) error = "cancelled: the daemon is stopping";
  auto it = jobs_.find(name);
  if (it != jobs_.end() && it->second.task == TaskKind::work && it->second.task_seq == seq) {
    Job& job = it->second;
    job.task = TaskKind::none;
    if (history) set_history(job, std::move(*history), std::move(history_problems));
    if (job.removed)
      forget_job(it);
    else
      start_next(job);
  }
  if (done) done(error);
  status_changed();
  task_ended();
}

void Scheduler::fail_waiters(Job& job, const std::string& why) {
  RunOutcome outcome;
  outcome.error = why;
  outcome.tags = job.backup_tags;
  std::vector<Waiter> waiters;
  waiters.swap(job.waiters);
  job.backup_tags.clear();
  for (auto& w : waiters) w(outcome);
}

void Scheduler::forget_job(std::map<std::string, Job>::iterator it) {
  Job& job = it->second;
  disarm(job);
  for (auto& item : job.work_queue)
    if (item.done) item.done("job " + it->first + " was removed from the configuration");
  RunOutcome cancelled;
  cancelled.error = "job removed from the configuration";
  for (auto& w : job.waiters) w(cancelled);
  jobs_.erase(it);
}

// ---------------------------------------------------------------------------------------------
// Control

std::optional<std::string> Scheduler::run_now(const std::string& name, std::set<std::string> tags,
                                              std::function<void(const RunOutcome&)> done) {
  io_thread_.check("Scheduler::run_now");
  if (stopping_) return "the daemon is stopping";
  auto it = jobs_.find(name);
  if (it == jobs_.end() || it->second.removed) return "no job named '" + name + "'";
  Job& job = it->second;
  if (job.task == TaskKind::backup || job.backup_pending) {
    // One backup at a time: the caller waits for the one that is already coming, which must
    // carry the tags asked for.
    const bool running = job.task == TaskKind::backup && job.task_started;
    for (const auto& t : tags)
      if (!job.backup_tags.count(t))
        return "job " + name + " is already " + (running ? "running" : "queued") + " without tag " +
               t + " (tags " + join_tags(job.backup_tags) + "); ask again when it ends";
    if (done) job.waiters.push_back(std::move(done));
    return std::nullopt;
  }
  const Schedule& schedule = schedule_of(job);
  const TimePoint now = Clock::now();
  if (tags.empty()) {
    tags = due_tags(schedule, job.spread, now, revision_infos(job.history));
    if (tags.empty())
      for (const auto& [tag, spec] : schedule) tags.insert(tag);
  } else if (auto err = check_forced_tags(schedule, tags)) {
    return err;
  }
  job_logger(*log_, name)->info("run requested, tags {}", join_tags(tags));
  want_backup(job, now, std::move(tags), std::move(done));
  return std::nullopt;
}

std::optional<std::string> Scheduler::pause(const std::string& name, PauseNote note) {
  io_thread_.check("Scheduler::pause");
  auto it = jobs_.find(name);
  if (it == jobs_.end() || it->second.removed) return "no job named '" + name + "'";
  Job& job = it->second;
  if (job.paused) return "job " + name + " is already paused";
  // Recorded first: a pause that would be forgotten at the next restart is refused instead. (A
  // few hundred bytes and an fsync on the io thread, as rare as an admin's command.)
  try {
    write_pause_note(job_dir(config_, name), note);
  } catch (const Error& e) {
    return std::string("cannot record the pause: ") + e.what();
  }
  job.paused = true;
  job.pause = std::move(note);
  disarm(job);
  if (job.backup_pending) fail_waiters(job, "job " + name + " was paused");
  job.backup_pending = false;
  // A queued backup leaves the queue (its done comes back with ran=false); a running one ends.
  if (job.task == TaskKind::backup && !job.task_started) pool_.stop(job.task_id);
  status_changed();
  return std::nullopt;
}

std::optional<std::string> Scheduler::resume(const std::string& name) {
  io_thread_.check("Scheduler::resume");
  auto it = jobs_.find(name);
  if (it == jobs_.end() || it->second.removed) return "no job named '" + name + "'";
  Job& job = it->second;
  if (!job.paused) return "job " + name + " is not paused";
  try {
    remove_pause_note(job_dir(config_, name));
  } catch (const Error& e) {
    return std::string("cannot remove the pause record: ") + e.what();
  }
  job.paused = false;
  job.pause.reset();
  start_next(job);
  status_changed();
  return std::nullopt;
}

void Scheduler::post_job_work(const std::string& name, std::function<void(std::stop_token)> work,
                              std::function<void(std::optional<std::string>)> done) {
  io_thread_.check("Scheduler::post_job_work");
  auto it = jobs_.find(name);
  std::optional<std::string> refused;
  if (stopping_)
    refused = "the daemon is stopping";
  else if (it == jobs_.end() || it->second.removed)
    refused = "no job named '" + name + "'";
  if (refused) {
    boost::asio::post(io_, [done = std::move(done), why = *refused] {
      if (done) done(why);
    });
    return;
  }
  it->second.work_queue.push_back({std::move(work), std::move(done)});
  start_next(it->second);
}

// ---------------------------------------------------------------------------------------------
// Shutdown

void Scheduler::shutdown(std::chrono::seconds bound, std::function<void(bool)> done) {
  io_thread_.check("Scheduler::shutdown");
  if (stopping_) return;
  stopping_ = true;
  stopped_ = std::move(done);
  notifier_.stopping();
  int running = 0;
  for (auto& [name, job] : jobs_) {
    disarm(job);
    if (job.backup_pending) fail_waiters(job, "cancelled: the daemon is stopping");
    job.backup_pending = false;
    for (auto& item : job.work_queue)
      if (item.done) item.done("cancelled: the daemon is stopping");
    job.work_queue.clear();
    if (job.task != TaskKind::none) ++running;
  }
  pool_.shutdown();
  log_->info("stopping: {} task{} to end (at most {}s)", running, running == 1 ? "" : "s",
             bound.count());
  status_timer_.cancel();
  stop_timer_.expires_after(bound);
  stop_timer_.async_wait([self = weak()](const boost::system::error_code& ec) {
    if (ec) return;
    auto s = self.lock();
    if (!s || !s->stopped_) return;
    s->log_->error("{} task(s) did not stop in time", s->running_count());
    auto done = std::move(s->stopped_);
    s->stopped_ = nullptr;
    done(false);
  });
  task_ended();
}

void Scheduler::task_ended() {
  if (!stopping_ || !stopped_) return;
  for (const auto& [name, job] : jobs_)
    if (job.task != TaskKind::none) return;
  stop_timer_.cancel();
  auto done = std::move(stopped_);
  stopped_ = nullptr;
  // Posted: callers of task_ended are still inside a handler that uses this object's state.
  boost::asio::post(io_, [done = std::move(done)] { done(true); });
}

}  // namespace backy

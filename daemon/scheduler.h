// Scheduler: the daemon's implementation of JobScheduler (job_scheduler.h has the contract).
//
// Each job has one wall-clock timer, armed at the next run its schedule gives (lib/schedule:
// spread, regular slots, catch-up), or after a failure at the end of its backoff. When the timer
// fires, the backup goes to the WorkerPool with its due time as priority, in the lane its history
// gives (lane.h: fast when its newest revision took less than fast-lane-threshold, else slow);
// the pool runs at most `worker-limit` per lane at once. Operator work goes to the work lane. A job
// has at most one task in the pool at any time (a backup or an operator's job work), which is what
// keeps a job from running twice; anything else that comes due meanwhile waits in the job (operator
// work first, then one pending backup).
//
// Workers get a snapshot of the configuration (shared_ptr<const Config>) and a copy of the job's
// config, so a reload never changes what a running backup reads. After a run the worker rereads
// the job's revisions and posts them back with the outcome: the history the scheduler plans with
// (and status and health answer from) is only read at startup (by a few threads, before the loop
// runs) and on the io thread for jobs a reload adds.
//
// Files: scheduler.cc (timers, tasks, control, shutdown), scheduler_reload.cc (reload, orphans),
// scheduler_status.cc (status, summary); what a worker does for a backup is backup_task.h.
//
// Threading: everything here runs on the io_context thread. Every public method and every
// handler that comes back from the pool checks it (ThreadChecker: the first caller's thread is
// the io thread; any other aborts the daemon). Handlers hold a weak_ptr to the Scheduler (create
// it with std::make_shared) and find their job by name plus a sequence number, so nothing
// dangles when a job leaves the config or the Scheduler goes away first.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_timer.hpp>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backup_task.h"
#include "job_scheduler.h"
#include "schedule/schedule.h"
#include "source/source_factory.h"
#include "util/thread_checker.h"
#include "worker_pool.h"

namespace spdlog {
class logger;
}

namespace backy {

class Notifier;

class Scheduler : public JobScheduler, public std::enable_shared_from_this<Scheduler> {
 public:
  using SourceFactoryMaker = std::function<std::unique_ptr<SourceFactory>(const CephConfig&)>;

  struct Options {
    // The log level came from the command line: reloads leave it alone.
    bool log_level_fixed = false;
    // Revisions held outside the job directories (the NBD exports): expiry keeps them.
    HeldRevisions held;
    // How often a running backup logs its progress.
    std::chrono::seconds progress_log_every{30};
    // Where a committed run's source clean-up runs (backup/source_cleaner.h); outlives the
    // scheduler. Every task of a job (backups, job work) holds its RunGuard. Null: the clean-up
    // runs on the run's worker thread.
    SourceCleaner* cleaner = nullptr;
  };

  Scheduler(boost::asio::io_context& io, Config config, WorkerPool& pool, Notifier& notifier,
            std::shared_ptr<spdlog::logger> log, SourceFactoryMaker make_sources, Options options);
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Reads every job's history, reports orphaned directories, arms the timers. Once, before the
  // loop runs (blocking reads of .rev files, on a few threads at once: this is startup, before
  // READY).
  void start();

  // Takes no new work, cancels queued runs and timers, asks running tasks to stop. `done` runs on
  // the io thread once every task has ended (true), or after `bound` (false: some are still
  // running; their partial revisions are removed by the job's next run).
  void shutdown(std::chrono::seconds bound, std::function<void(bool all_stopped)> done);
  bool stopping() const {
    io_thread_.check("Scheduler::stopping");
    return stopping_;
  }

  // The summary systemd shows: "N jobs, R running, Q queued, F failed".
  std::string summary() const;

  // JobScheduler. config() returns a reference that stays valid for the Scheduler's lifetime;
  // its content is replaced on reload.
  const Config& config() const override {
    io_thread_.check("Scheduler::config");
    return config_;
  }
  std::vector<JobStatus> status() const override;
  std::optional<JobStatus> status(const std::string& job) const override;
  void each_status(const std::function<void(JobStatus&&)>& f) const override;
  std::vector<std::string> orphans() const override {
    io_thread_.check("Scheduler::orphans");
    return orphans_;
  }
  int running_count() const override;
  int queued_count() const override;
  std::vector<LaneLoad> lane_loads() const override;
  std::optional<std::string> run_now(const std::string& job, std::set<std::string> tags,
                                     std::function<void(const RunOutcome&)> done) override;
  std::optional<std::string> pause(const std::string& job, PauseNote note) override;
  std::optional<std::string> resume(const std::string& job) override;
  ReloadResult reload() override;
  std::optional<std::string> refused_reload() const override {
    io_thread_.check("Scheduler::refused_reload");
    return refused_reload_;
  }
  void post_job_work(const std::string& job, std::function<void(std::stop_token)> work,
                     std::function<void(std::optional<std::string>)> done) override;
  std::shared_ptr<SourceFactory> restore_targets() const override {
    io_thread_.check("Scheduler::restore_targets");
    return sources_;
  }

 private:
  using Waiter = std::function<void(const RunOutcome&)>;
  struct WorkItem {
    std::function<void(std::stop_token)> work;
    std::function<void(std::optional<std::string>)> done;
  };
  enum class TaskKind { none, backup, work };
  struct Job {
    Job(boost::asio::io_context& io, JobConfig c) : config(std::move(c)), timer(io) {}
    JobConfig config;
    Seconds spread{0};
    boost::asio::system_timer timer;
    uint64_t seq = 0;  // bumped whenever the timer or the task changes; stale handlers compare it
    std::optional<DueRun> next;  // what the timer is armed with
    bool paused = false;
    std::optional<PauseNote> pause;  // who, when, why: while paused (also on disk)
    bool removed = false;            // left the config; its task is still ending
    // The one task of this job in the pool.
    TaskKind task = TaskKind::none;
    WorkerPool::TaskId task_id = 0;
    uint64_t task_seq = 0;
    bool task_started = false;
    Lane lane = Lane::slow;  // of the backup in the pool (task == backup)
    // The running backup's progress (its worker writes, status reads) and start.
    std::shared_ptr<ProgressMeter> progress;
    std::optional<TimePoint> running_since;
    // The backup that runs (task == backup) or waits (backup_pending).
    bool backup_pending = false;
    TimePoint backup_due{};
    std::set<std::string> backup_tags;
    std::vector<Waiter> waiters;
    // A list, not a deque: an empty deque already holds half a KiB, times every job.
    std::list<WorkItem> work_queue;
    std::vector<Revision> history;  // complete revisions, oldest first (set_history)
    // What status, health and metrics show of it, with the .rev files its read skipped.
    HistorySummary summary;
    TimePoint first_seen{};
    int consecutive_failures = 0;
    uint64_t total_failures = 0;
    TimePoint retry_at{};
    std::optional<RunOutcome> last_run;
    double throttled_total = 0;  // seconds this daemon's finished runs waited for read limits
  };

  // Reads the job's history and pause note from its directory (blocking: a reload's new jobs).
  Job& add_job(const JobConfig& config);
  // With what start() read (in parallel) from its directory; `pause_error`: the pause note
  // exists but cannot be read (the job stays paused, and says why).
  Job& add_job(const JobConfig& config, std::vector<Revision> history,
               std::vector<std::string> problems, std::optional<PauseNote> pause,
               const std::optional<std::string>& pause_error);
  void set_schedule(Job& job);
  void arm(Job& job);
  void disarm(Job& job);
  void on_timer(const std::string& name, uint64_t seq);
  // Queues a backup now, or marks it pending when the job already has a task.
  void want_backup(Job& job, TimePoint due, std::set<std::string> tags, Waiter waiter);
  // Submits the job's next waiting thing (operator work, then a pending backup) or arms it.
  void start_next(Job& job);
  void submit_backup(Job& job);
  void submit_work(Job& job, WorkItem item);
  void on_started(const std::string& name, uint64_t seq);
  void on_backup_done(const std::string& name, uint64_t seq, BackupTaskResult& run, bool ran);
  void on_work_done(const std::string& name, uint64_t seq, std::optional<std::string> error,
                    std::optional<std::vector<Revision>> history,
                    std::vector<std::string> history_problems,
                    std::function<void(std::optional<std::string>)> done, bool ran);
  void task_ended();
  // Tells the run_now callers of a pending backup that it will not run.
  void fail_waiters(Job& job, const std::string& why);
  void forget_job(std::map<std::string, Job>::iterator it);
  void scan_orphans();
  void status_changed();
  // The only way a job's history changes: keeps its summary in step.
  void set_history(Job& job, std::vector<Revision> history, std::vector<std::string> problems);
  JobStatus status_of(const Job& job, TimePoint now) const;
  // "next try at <time> (in 2m00s, tags daily)", or why there is none: for the log after a failure.
  std::string next_run_text(const Job& job) const;
  const Schedule& schedule_of(const Job& job) const;
  std::weak_ptr<Scheduler> weak() { return weak_from_this(); }

  ThreadChecker io_thread_;
  boost::asio::io_context& io_;
  Config config_;
  std::shared_ptr<const Config> snapshot_;  // what workers read; replaced on reload
  WorkerPool& pool_;
  Notifier& notifier_;
  std::shared_ptr<spdlog::logger> log_;
  SourceFactoryMaker make_sources_;
  // Shared by the workers (make() is thread-safe) and restores; replaced on a ceph change, while
  // running tasks keep the one they started with.
  std::shared_ptr<SourceFactory> sources_;
  // The global read-limit every running backup reads under; its rate follows reloads.
  std::shared_ptr<RateLimiter> read_limit_;
  // The block buffers every running backup shares beyond its own first ones
  // (store/block_budget.h): what bounds the memory of many runs at once.
  std::shared_ptr<BlockBudget> block_budget_;
  Options options_;
  std::map<std::string, Job> jobs_;  // also jobs a reload removed while their task still runs
  std::vector<std::string> orphans_;
  std::optional<std::string> refused_reload_;  // see JobScheduler::refused_reload
  bool stopping_ = false;
  std::function<void(bool)> stopped_;
  boost::asio::steady_timer stop_timer_;
  boost::asio::steady_timer status_timer_;
  bool status_pending_ = false;
};

}  // namespace backy

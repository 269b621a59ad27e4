// SourceCleaner: the clean-up of a job's source after a commit, off the backup's critical path.
//
// Why: after revision U is committed, the source drops what the job's older runs left on it
// (RBD: the previous snapshot). Removing an RBD snapshot takes about a second of the monitors'
// time (the osdmap change waits for the paxos propose interval), longer than a whole small
// incremental's data path. The revision is safe before it starts, so nothing needs to wait.
//
// How: a run that commits hands a Task over (BackupOptions::defer_source_cleanup, set by
// backup_job), and the cleaner's one thread calls Source::committed(U, owned): the removals
// happen there, one task at a time. Then it forgets the records of what is gone
// (Repository::forget_source_state), which only a holder of the job's lock may change. A run of
// the same job holds that lock and must never find it taken, so the cleaner changes records only
// while no run of the job is active in this process (RunGuard) and the lock is free; otherwise
// it keeps what is gone, and forgets it as soon as the job's last active run ends (the run that
// committed is usually still active when its removal is done). If another process holds the
// lock then, the records stay and the job's next clean-up forgets them. A crash between a commit
// and the removal leaves the snapshot and its record: the next run's clean-up removes it
// (RbdSource::committed removes every owned leftover).
//
// Threads: submit() and guard() from any thread; the tasks run on the cleaner's own thread.
// drain() waits for every submitted task (backyd --once, before it exits). The destructor
// finishes the task in progress and drops the queued ones: their snapshots stay recorded, for
// the job's next run.
#pragma once

#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "source/source.h"
#include "util/thread_annotations.h"

namespace spdlog {
class logger;
}

namespace backy {

class SourceCleaner {
 public:
  struct Task {
    std::string job;
    std::filesystem::path job_dir;
    std::string uuid;             // the committed revision: its own state stays
    std::set<std::string> owned;  // Source::committed's `owned`
    std::shared_ptr<Source> source;
    // Set: nothing to remove; only forget the records of these (gone while a run was active).
    std::optional<std::set<std::string>> forget_only;
  };

  // Held by a run of a job from before it takes the job's lock until it ends: meanwhile the
  // cleaner does not take that lock. Waits while the cleaner holds it (milliseconds: the records'
  // update, never a removal).
  class RunGuard {
   public:
    RunGuard(SourceCleaner& cleaner, std::string job);
    ~RunGuard();
    RunGuard(const RunGuard&) = delete;
    RunGuard& operator=(const RunGuard&) = delete;

   private:
    SourceCleaner& cleaner_;
    const std::string job_;
  };

  // `log` must outlive the cleaner; tasks log their failures there, naming the job.
  explicit SourceCleaner(spdlog::logger& log);
  ~SourceCleaner();
  SourceCleaner(const SourceCleaner&) = delete;
  SourceCleaner& operator=(const SourceCleaner&) = delete;

  void submit(Task task) EXCLUDES(mu_);
  // Returns once every task submitted so far is done.
  void drain() EXCLUDES(mu_);

 private:
  void loop(std::stop_token stop) EXCLUDES(mu_);
  void clean(const Task& task) EXCLUDES(mu_);
  void forget_gone(const Task& task, const std::set<std::string>& gone) EXCLUDES(mu_);

  spdlog::logger& log_;
  Mutex mu_;
  CondVar changed_;
  std::deque<Task> queue_ GUARDED_BY(mu_);
  bool busy_ GUARDED_BY(mu_) = false;                // a task is running
  std::map<std::string, int> runs_ GUARDED_BY(mu_);  // active runs per job
  // What is gone from the source of a job that had an active run then: forgotten after it.
  std::map<std::string, Task> waiting_ GUARDED_BY(mu_);
  std::string locking_ GUARDED_BY(mu_);  // the job whose lock the cleaner holds
  std::jthread thread_;                  // last: stopped and joined first
};

}  // namespace backy

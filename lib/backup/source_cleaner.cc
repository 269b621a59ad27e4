#include "backup/source_cleaner.h"

#include <spdlog/spdlog.h>

#include "repo/repository.h"

namespace backy {

SourceCleaner::RunGuard::RunGuard(SourceCleaner& cleaner, std::string job)
    : cleaner_(cleaner), job_(std::move(job)) {
  MutexLock lock(cleaner_.mu_);
  cleaner_.changed_.wait(cleaner_.mu_,
                         [&]() REQUIRES(cleaner_.mu_) { return cleaner_.locking_ != job_; });
  ++cleaner_.runs_[job_];
}

SourceCleaner::RunGuard::~RunGuard() {
  MutexLock lock(cleaner_.mu_);
  if (--cleaner_.runs_[job_] > 0) return;
  cleaner_.runs_.erase(job_);
  // The job's lock is free again (the run released it before its guard): forget now.
  if (auto w = cleaner_.waiting_.extract(job_)) {
    cleaner_.queue_.push_back(std::move(w.mapped()));
    cleaner_.changed_.notify_all();
  }
}

SourceCleaner::SourceCleaner(spdlog::logger& log)
    : log_(log), thread_([this](std::stop_token stop) { loop(stop); }) {}

SourceCleaner::~SourceCleaner() {
  thread_.request_stop();
  thread_.join();
}

void SourceCleaner::submit(Task task) {
  MutexLock lock(mu_);
  queue_.push_back(std::move(task));
  changed_.notify_all();
}

void SourceCleaner::drain() {
  MutexLock lock(mu_);
  changed_.wait(mu_, [&]() REQUIRES(mu_) { return queue_.empty() && !busy_; });
}

void SourceCleaner::loop(std::stop_token stop) {
  for (;;) {
    Task task;
    {
      MutexLock lock(mu_);
      if (!changed_.wait(mu_, stop, [&]() REQUIRES(mu_) { return !queue_.empty(); })) {
        if (!queue_.empty())
          log_.info("{} source clean-up(s) left to the jobs' next runs", queue_.size());
        queue_.clear();
        changed_.notify_all();
        return;
      }
      task = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    clean(task);
    MutexLock lock(mu_);
    busy_ = false;
    changed_.notify_all();
  }
}

void SourceCleaner::clean(const Task& task) {
  if (task.forget_only) return forget_gone(task, *task.forget_only);
  std::set<std::string> gone;
  try {
    gone = task.source->committed(task.uuid, task.owned);
  } catch (const std::exception& e) {
    log_.warn("job {}: cleaning up the source failed (the next run retries): {}", task.job,
              e.what());
    return;
  }
  for (const std::string& u : task.owned)
    if (u != task.uuid && !gone.contains(u))
      log_.warn("job {}: the source still holds the state of run {}; the next run retries",
                task.job, u);
  forget_gone(task, gone);
}

void SourceCleaner::forget_gone(const Task& task, const std::set<std::string>& gone) {
  {
    MutexLock lock(mu_);
    if (runs_.contains(task.job)) {  // forgotten when the job's last active run ends
      Task& w = waiting_[task.job];
      if (!w.forget_only)
        w = Task{task.job, task.job_dir, task.uuid, {}, nullptr, gone};
      else
        w.forget_only->insert(gone.begin(), gone.end());
      return;
    }
    locking_ = task.job;
  }
  try {
    std::error_code ec;
    if (std::filesystem::is_directory(task.job_dir, ec)) {
      Repository repo(task.job_dir);
      // Another process (backyd --once beside the daemon) may hold it: its clean-up forgets them.
      if (auto lock = repo.try_lock()) {
        const std::set<std::string> recorded = repo.source_states(*lock);
        for (const std::string& u : gone)
          if (recorded.contains(u)) repo.forget_source_state(*lock, u);
      }
    }
  } catch (const std::exception& e) {
    log_.warn("job {}: cannot update the source records (the next run does): {}", task.job,
              e.what());
  }
  MutexLock lock(mu_);
  locking_.clear();
  changed_.notify_all();
}

}  // namespace backy

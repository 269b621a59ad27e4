// WorkerPool: the bounded set of threads that run backups and other job work (restore, scrub,
// callbacks) off the event loop.
//
// Tasks wait in a queue ordered by due time (earliest first, ties in submission order). At most
// `limit` tasks run at once; resize() changes the limit at any time without touching running
// tasks: a smaller limit only means fewer new tasks start until enough have finished, a larger one
// starts queued tasks at once. Each task gets a std::stop_token; stop() on a queued task removes
// it, on a running one requests its stop (the work checks the token between blocks).
//
// Threading: every public method may be called from any thread (in practice the io_context
// thread). `done` callbacks are posted to the io_context, never run on a worker: the io thread is
// where the daemon's state lives. A task's work must not throw; the pool swallows what escapes.
// A finished task's work (and whatever it captured) is destroyed on its worker with the pool's
// mutex released, so a capture's destructor may block or call back into the pool.
//
// Shutdown: shutdown() cancels queued tasks (their `done` gets ran=false) and asks running ones to
// stop; the destructor does the same, then joins the threads (blocking: call it once the running
// tasks have reported back, i.e. after io_context::run() returned).
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <stop_token>
#include <thread>
#include <vector>

#include "util/thread_annotations.h"
#include "util/time.h"

namespace backy {

class WorkerPool {
 public:
  using TaskId = uint64_t;
  using Work = std::function<void(std::stop_token)>;
  // ran: false when the task was cancelled before it started.
  using Done = std::function<void(bool ran)>;

  WorkerPool(boost::asio::io_context& io, int limit);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `work`; `done` is posted to the io_context when it has returned (or was cancelled).
  // After shutdown() the task is cancelled at once.
  TaskId submit(TimePoint due, Work work, Done done) EXCLUDES(mu_);
  // Queued: dequeued, done(false) posted. Running: stop requested. Finished/unknown: nothing.
  void stop(TaskId id) EXCLUDES(mu_);
  // REQUIRES: limit >= 1.
  void resize(int limit) EXCLUDES(mu_);
  void shutdown() EXCLUDES(mu_);

  int limit() const EXCLUDES(mu_);
  int running() const EXCLUDES(mu_);
  int queued() const EXCLUDES(mu_);

 private:
  struct Task {
    TaskId id = 0;
    Work work;
    Done done;
    std::stop_source stop;
  };
  using Key = std::pair<TimePoint, TaskId>;

  void worker_loop(std::stop_token pool_stop) EXCLUDES(mu_);
  void grow_locked() REQUIRES(mu_);
  // Whether a worker may take the first queued task now.
  bool may_start_locked() const REQUIRES(mu_);
  // Posts `done`, outside the lock: it is the io thread's business, not the pool's.
  void post_done(Done done, bool ran) EXCLUDES(mu_);

  boost::asio::io_context& io_;
  mutable Mutex mu_;
  CondVar cv_;
  int limit_ GUARDED_BY(mu_);
  bool shut_down_ GUARDED_BY(mu_) = false;
  TaskId next_id_ GUARDED_BY(mu_) = 1;
  std::map<Key, Task> queue_ GUARDED_BY(mu_);
  std::map<TaskId, Key> queued_keys_ GUARDED_BY(mu_);  // id -> its queue_ key
  std::map<TaskId, std::stop_source> running_ GUARDED_BY(mu_);
  // Never shrinks: threads beyond the limit idle (a shrink must not kill a running backup).
  std::vector<std::jthread> threads_ GUARDED_BY(mu_);
};

}  // namespace backy

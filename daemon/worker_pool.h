// WorkerPool: the bounded set of threads that run backups and other job work (restore, scrub,
// callbacks) off the event loop.
//
// Each task waits in one lane (lane.h: fast and slow backups, operator work), and each lane has
// `limit` slots of its own: at most `limit` tasks of a lane run at once, whatever the other lanes
// do, so a lane full of multi-hour fulls never delays the other lanes. Within a lane, tasks start
// in order of due time (earliest first, ties in submission order); when slots are free in several
// lanes, the earliest due task among them starts first. resize() changes the limit at any time
// without touching running tasks: a smaller limit only means fewer new tasks start until enough
// have finished, a larger one starts queued tasks at once. Each task gets a std::stop_token;
// stop() on a queued task removes it, on a running one requests its stop (the work checks the
// token between blocks).
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

#include <array>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <stop_token>
#include <thread>
#include <vector>

#include "lane.h"
#include "util/thread_annotations.h"
#include "util/time.h"

namespace backy {

class WorkerPool {
 public:
  using TaskId = uint64_t;
  using Work = std::function<void(std::stop_token)>;
  // ran: false when the task was cancelled before it started.
  using Done = std::function<void(bool ran)>;

  // REQUIRES: limit >= 1 (slots per lane).
  WorkerPool(boost::asio::io_context& io, int limit);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `work`; `done` is posted to the io_context when it has returned (or was cancelled).
  // After shutdown() the task is cancelled at once.
  TaskId submit(Lane lane, TimePoint due, Work work, Done done) EXCLUDES(mu_);
  // Queued: dequeued, done(false) posted. Running: stop requested. Finished/unknown: nothing.
  void stop(TaskId id) EXCLUDES(mu_);
  // REQUIRES: limit >= 1.
  void resize(int limit) EXCLUDES(mu_);
  void shutdown() EXCLUDES(mu_);

  // Slots per lane.
  int limit() const EXCLUDES(mu_);
  // Over all lanes, and in one lane.
  int running() const EXCLUDES(mu_);
  int queued() const EXCLUDES(mu_);
  int running(Lane lane) const EXCLUDES(mu_);
  int queued(Lane lane) const EXCLUDES(mu_);

 private:
  struct Task {
    TaskId id = 0;
    Lane lane = Lane::slow;
    Work work;
    Done done;
    std::stop_source stop;
  };
  using Key = std::pair<TimePoint, TaskId>;
  using Queue = std::map<Key, Task>;

  void worker_loop(std::stop_token pool_stop) EXCLUDES(mu_);
  void grow_locked() REQUIRES(mu_);
  // The lane whose first queued task may start now (the earliest due among lanes with a free
  // slot), or nullptr.
  Queue* next_queue_locked() REQUIRES(mu_);
  static size_t index(Lane lane) { return static_cast<size_t>(lane); }
  // Posts `done`, outside the lock: it is the io thread's business, not the pool's.
  void post_done(Done done, bool ran) EXCLUDES(mu_);

  boost::asio::io_context& io_;
  mutable Mutex mu_;
  CondVar cv_;
  int limit_ GUARDED_BY(mu_);
  bool shut_down_ GUARDED_BY(mu_) = false;
  TaskId next_id_ GUARDED_BY(mu_) = 1;
  std::array<Queue, kLaneCount> queues_ GUARDED_BY(mu_);
  std::map<TaskId, std::pair<Lane, Key>> queued_keys_ GUARDED_BY(mu_);  // id -> where it waits
  std::map<TaskId, std::stop_source> running_ GUARDED_BY(mu_);
  std::array<int, kLaneCount> running_in_ GUARDED_BY(mu_) = {};
  // limit * kLaneCount threads. Never shrinks: threads beyond the limit idle (a shrink must not
  // kill a running backup).
  std::vector<std::jthread> threads_ GUARDED_BY(mu_);
};

}  // namespace backy

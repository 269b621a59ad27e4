// Read limits: how a backup keeps from hurting the cluster or the host it reads from.
//
// RateLimiter is one byte rate (a job's `read-limit`, or the global `read-limit` every running
// backup shares). It keeps a time line: reserve(n) books the next n/rate seconds of it and says
// when they begin, so whoever asks first reads first, and two readers that keep asking take turns
// (each gets half, neither starves the other). Time it was not asked for is not saved up: after a
// pause the next read starts at once, but no burst beyond one read follows. Rate 0 is unlimited.
// reserve() is pure bookkeeping under a mutex and never blocks; any thread may call it, and
// set_rate() (a reload) applies from the next booking on.
//
// ReadThrottle is what one run reads through: its job's limiter and the global one, both apply
// (the job's first, then the global's, so a job waiting for its own limit does not hold a turn of
// the shared one). take() sleeps until the bytes may be read; the sleep ends early, with
// backy::Cancelled, when the run's stop_token is requested, so a stopping daemon never hangs in a
// throttle (the booking it abandons delays the others by at most that one read). It counts the
// time it slept (throttled_seconds()), which `status` and the metrics show.
//
// Threading: one thread (the run's) calls take(); any thread may read throttled_seconds(). The
// limiters must outlive the throttle.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stop_token>
#include <vector>

#include "util/thread_annotations.h"

namespace backy {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // `rate` in bytes per second; 0: unlimited.
  explicit RateLimiter(uint64_t rate = 0) : rate_(rate) {}
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  void set_rate(uint64_t rate) EXCLUDES(mu_);
  uint64_t rate() const EXCLUDES(mu_);
  // Books `bytes` asked for at `now`; returns when they may be read: `now` when the limiter is
  // free (or unlimited), else the end of the bookings made before.
  Clock::time_point reserve(uint64_t bytes, Clock::time_point now) EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  uint64_t rate_ GUARDED_BY(mu_);
  Clock::time_point booked_until_ GUARDED_BY(mu_);  // the end of the last booking
};

class ReadThrottle {
 public:
  // `limiters` apply in this order; null ones are skipped.
  explicit ReadThrottle(std::vector<RateLimiter*> limiters);
  ReadThrottle(const ReadThrottle&) = delete;
  ReadThrottle& operator=(const ReadThrottle&) = delete;

  // Waits until `bytes` may be read under every limiter. Throws backy::Cancelled when `stop` is
  // requested (before or while it waits).
  void take(uint64_t bytes, std::stop_token stop) EXCLUDES(mu_);
  // Whether any limiter has a rate now (take() may wait). An unlimited global limiter is always
  // passed in, and a reload may give it a rate, so this is asked per read, not once.
  bool limited() const;
  // Seconds take() has waited so far. Any thread.
  double throttled_seconds() const;

 private:
  std::vector<RateLimiter*> limiters_;
  std::atomic<int64_t> throttled_ns_{0};
  Mutex mu_;  // only for the cancellable sleep
  CondVar cv_;
};

}  // namespace backy

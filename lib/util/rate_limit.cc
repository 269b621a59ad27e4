#include "util/rate_limit.h"

#include <algorithm>

#include "util/error.h"

namespace backy {

void RateLimiter::set_rate(uint64_t rate) {
  MutexLock lock(mu_);
  rate_ = rate;
}

uint64_t RateLimiter::rate() const {
  MutexLock lock(mu_);
  return rate_;
}

RateLimiter::Clock::time_point RateLimiter::reserve(uint64_t bytes, Clock::time_point now) {
  MutexLock lock(mu_);
  if (rate_ == 0) return now;
  const Clock::time_point start = std::max(booked_until_, now);
  // Nanoseconds of the rate's time line, in double: bytes * 1e9 overflows 64 bits at 18 GB.
  const double ns = static_cast<double>(bytes) * 1e9 / static_cast<double>(rate_);
  booked_until_ = start + std::chrono::nanoseconds(static_cast<int64_t>(ns));
  return start;
}

ReadThrottle::ReadThrottle(std::vector<RateLimiter*> limiters) {
  for (RateLimiter* l : limiters)
    if (l) limiters_.push_back(l);
}

void ReadThrottle::take(uint64_t bytes, std::stop_token stop) {
  if (stop.stop_requested()) throw Cancelled();
  for (RateLimiter* limiter : limiters_) {
    const auto now = RateLimiter::Clock::now();
    const auto start = limiter->reserve(bytes, now);
    if (start <= now) continue;
    {
      MutexLock lock(mu_);
      // Nothing notifies: the wait ends at `start` or when `stop` is requested.
      cv_.wait_until(mu_, stop, start, [] { return false; });
    }
    throttled_ns_ +=
        std::chrono::duration_cast<std::chrono::nanoseconds>(RateLimiter::Clock::now() - now)
            .count();
    if (stop.stop_requested()) throw Cancelled();
  }
}

bool ReadThrottle::limited() const {
  return std::any_of(limiters_.begin(), limiters_.end(),
                     [](const RateLimiter* l) { return l->rate() > 0; });
}

double ReadThrottle::throttled_seconds() const {
  return static_cast<double>(throttled_ns_.load()) / 1e9;
}

}  // namespace backy

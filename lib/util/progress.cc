#include "util/progress.h"

#include <algorithm>
#include <cstdio>

#include "util/text.h"

namespace backy {

namespace {

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

double progress_rate(const ProgressSample& s) {
  return s.elapsed > 0 ? static_cast<double>(s.done) / s.elapsed : 0;
}

std::optional<double> progress_eta(const ProgressSample& s) {
  if (s.total == 0) return std::nullopt;
  if (s.done >= s.total) return 0.0;
  const double rate = progress_rate(s);
  if (rate <= 0) return std::nullopt;
  return static_cast<double>(s.total - s.done) / rate;
}

std::string describe_progress(const ProgressSample& s) {
  std::string out;
  if (s.total > 0) {
    // Floor, so that 99.6% is not shown as 100% while there is still work.
    const uint64_t pct = std::min<uint64_t>(100, s.done * 100 / s.total);
    out = std::to_string(pct) + "% (" + human_bytes(static_cast<double>(s.done)) + " of " +
          human_bytes(static_cast<double>(s.total)) + ")";
  } else {
    out = human_bytes(static_cast<double>(s.done));
  }
  if (const double rate = progress_rate(s); rate > 0) out += ", " + human_bytes(rate) + "/s";
  if (auto eta = progress_eta(s); eta && s.done < s.total)
    out += ", " + human_duration(*eta) + " left";
  return out;
}

void ProgressMeter::start() {
  started_ns_.store(steady_ns(), std::memory_order_relaxed);
}

void ProgressMeter::set(uint64_t done, uint64_t total) {
  total_.store(total, std::memory_order_relaxed);
  done_.store(done, std::memory_order_relaxed);
}

void ProgressMeter::set_throttled(double seconds) {
  throttled_.store(seconds, std::memory_order_relaxed);
}

ProgressSample ProgressMeter::sample() const {
  ProgressSample s;
  s.throttled = throttled_.load(std::memory_order_relaxed);
  s.done = done_.load(std::memory_order_relaxed);
  s.total = total_.load(std::memory_order_relaxed);
  const int64_t started = started_ns_.load(std::memory_order_relaxed);
  if (started != 0) s.elapsed = static_cast<double>(steady_ns() - started) / 1e9;
  return s;
}

}  // namespace backy

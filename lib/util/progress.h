// Progress of a long copy (a backup run, a restore): what is done, what there is to do, how fast
// it goes and when it will end, and the one way people see it ("37% (560.0 MiB of 1.5 GiB),
// 94.2 MiB/s, 6.3 s left").
//
// The math and the words are pure functions of a ProgressSample, so they are tested without a
// clock. ProgressMeter is what a copy publishes into and others read from: one writer (the
// worker thread doing the copy), any number of readers (the io thread answering `status`), no
// lock: the fields are independent atomics, and a reader that sees a new `done` with an old
// `total` sees a figure that was true a moment ago.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace backy {

struct ProgressSample {
  uint64_t done = 0;     // bytes
  uint64_t total = 0;    // bytes; 0 while not known yet
  double elapsed = 0;    // seconds since the copy started
  double throttled = 0;  // seconds of that the copy waited for its read limits (rate_limit.h)
};

// Bytes per second, the average since the start (steady enough for an ETA, and what a person
// compares runs by); 0 before any time has passed.
double progress_rate(const ProgressSample& s);
// Seconds left at that rate; nullopt while the total or the rate is not known. 0 when done.
std::optional<double> progress_eta(const ProgressSample& s);
// "37% (560.0 MiB of 1.5 GiB), 94.2 MiB/s, 6.3 s left"; without a total "560.0 MiB, 94.2 MiB/s".
std::string describe_progress(const ProgressSample& s);

class ProgressMeter {
 public:
  ProgressMeter() = default;
  ProgressMeter(const ProgressMeter&) = delete;
  ProgressMeter& operator=(const ProgressMeter&) = delete;

  // The copy begins now (elapsed counts from here). Called by the writer, before set().
  void start();
  // The writer's figures so far; `total` 0 while it is not known.
  void set(uint64_t done, uint64_t total);
  // The writer's time waited for read limits so far (seconds).
  void set_throttled(double seconds);
  // Any thread. Elapsed is 0 before start().
  ProgressSample sample() const;

 private:
  std::atomic<int64_t> started_ns_{0};  // steady_clock, 0: not started
  std::atomic<uint64_t> done_{0};
  std::atomic<uint64_t> total_{0};
  std::atomic<double> throttled_{0};
};

}  // namespace backy

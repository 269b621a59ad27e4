// Read limits (util/rate_limit.h): the token bucket's rate with an injected clock, fairness
// between readers sharing one limiter, a job's limit and the global one together, and a wait
// that a stop request ends at once. Also the size and io-priority words the config reads.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "util/error.h"
#include "util/io_priority.h"
#include "util/rate_limit.h"
#include "util/text.h"

using namespace backy;
using namespace std::chrono_literals;
using Clock = RateLimiter::Clock;

namespace {

constexpr uint64_t MiB = 1 << 20;
constexpr uint64_t kBlock = 4 * MiB;

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Readers that each read `kBlock` after another, through their limiters in order (as
// ReadThrottle: the next limiter is asked once the one before lets the read go), reading in no
// time: an event simulation on a fake clock. Counts the bytes each read before `until`.
struct SimReader {
  std::vector<RateLimiter*> limiters;
  Clock::time_point ready{};  // when it asks its next limiter
  size_t stage = 0;           // which limiter it asks next
  uint64_t bytes = 0;
};

void simulate(std::vector<SimReader>& readers, Clock::time_point until) {
  for (;;) {
    auto r = std::min_element(readers.begin(), readers.end(),
                              [](const auto& a, const auto& b) { return a.ready < b.ready; });
    if (r->ready >= until) return;
    r->ready = r->limiters[r->stage]->reserve(kBlock, r->ready);
    if (++r->stage < r->limiters.size()) continue;
    r->stage = 0;
    if (r->ready < until) r->bytes += kBlock;
  }
}

}  // namespace

TEST_CASE("rate limiter: reads follow the rate, the first at once, idle time is not saved up",
          "[rate_limit]") {
  RateLimiter limit(20 * MiB);
  const Clock::time_point t0{};
  CHECK(limit.reserve(kBlock, t0) == t0);
  // 4 MiB at 20 MiB/s is 0.2 s: each next block begins where the one before ends.
  CHECK(seconds(limit.reserve(kBlock, t0) - t0) == Approx(0.2));
  CHECK(seconds(limit.reserve(kBlock, t0 + 100ms) - t0) == Approx(0.4));
  // 100 MiB in 25 blocks: the last begins at 4.8 s, so the whole read takes the 5 s the rate
  // implies.
  RateLimiter fresh(20 * MiB);
  Clock::time_point last{};
  for (int i = 0; i < 25; ++i) last = fresh.reserve(kBlock, t0);
  CHECK(seconds(last - t0) == Approx(4.8));
  // A pause of 10 s earns no burst: after it, one block goes at once, the next 0.2 s later.
  const Clock::time_point later = t0 + 20s;
  CHECK(fresh.reserve(kBlock, later) == later);
  CHECK(seconds(fresh.reserve(kBlock, later) - later) == Approx(0.2));
}

TEST_CASE("rate limiter: rate 0 is unlimited, and a new rate applies from the next booking",
          "[rate_limit]") {
  RateLimiter limit(0);
  const Clock::time_point t0{};
  for (int i = 0; i < 100; ++i) CHECK(limit.reserve(kBlock, t0) == t0);
  limit.set_rate(40 * MiB);
  CHECK(limit.rate() == 40 * MiB);
  CHECK(limit.reserve(kBlock, t0) == t0);
  CHECK(seconds(limit.reserve(kBlock, t0) - t0) == Approx(0.1));
}

TEST_CASE("rate limiter: readers sharing one limit each get an even share, none starves",
          "[rate_limit]") {
  RateLimiter global(30 * MiB);
  std::vector<SimReader> readers(3);
  for (auto& r : readers) r.limiters = {&global};
  // One reader starts 2 s late: from then on it gets its third all the same.
  readers[2].ready = Clock::time_point{} + 2s;
  simulate(readers, Clock::time_point{} + 62s);
  const double total = double(readers[0].bytes + readers[1].bytes + readers[2].bytes);
  CHECK(total / 62 == Approx(30.0 * MiB).epsilon(0.01));
  CHECK(double(readers[0].bytes) / double(readers[1].bytes) == Approx(1).epsilon(0.02));
  CHECK(double(readers[2].bytes) / (60 * 10 * MiB) == Approx(1).epsilon(0.02));
}

TEST_CASE("rate limiter: a job's own limit and the global one both apply", "[rate_limit]") {
  // Global 30 MiB/s; job a has 10 MiB/s of its own, job b none: a reads at 10, b takes the rest.
  RateLimiter global(30 * MiB), a_limit(10 * MiB);
  std::vector<SimReader> readers(2);
  readers[0].limiters = {&a_limit, &global};
  readers[1].limiters = {&global};
  simulate(readers, Clock::time_point{} + 60s);
  CHECK(double(readers[0].bytes) / 60 == Approx(10.0 * MiB).epsilon(0.02));
  CHECK(double(readers[1].bytes) / 60 == Approx(20.0 * MiB).epsilon(0.02));
}

TEST_CASE("read throttle: real threads share a limit evenly and it holds the rate",
          "[rate_limit]") {
  // 64 KiB reads at 16 MiB/s: two threads for 0.5 s read 8 MiB together, each a good part.
  RateLimiter global(16 * MiB);
  constexpr uint64_t kRead = 64 * 1024;
  uint64_t bytes[2] = {0, 0};
  const auto t0 = Clock::now();
  {
    std::vector<std::jthread> threads;
    for (int i = 0; i < 2; ++i)
      threads.emplace_back([&, i] {
        ReadThrottle throttle({&global});
        while (Clock::now() - t0 < 500ms) {
          throttle.take(kRead, {});
          bytes[i] += kRead;
        }
      });
  }
  const double elapsed = seconds(Clock::now() - t0);
  const double rate = double(bytes[0] + bytes[1]) / elapsed;
  // The limit is a ceiling: turns a descheduled thread misses are not saved up.
  CHECK(rate < 16.0 * MiB * 1.15);
  CHECK(rate > 16.0 * MiB * 0.5);
  // Turns go to whoever asks: on a loaded machine a thread that is not scheduled loses some,
  // so this only checks that neither starves (the exact shares are the simulation's above).
  CHECK(double(std::min(bytes[0], bytes[1])) / double(bytes[0] + bytes[1]) > 0.3);
}

TEST_CASE("read throttle: a stop request ends the wait at once with Cancelled, time counted",
          "[rate_limit]") {
  RateLimiter slow(64 * 1024);  // one 4 MiB block a minute
  ReadThrottle throttle({nullptr, &slow});
  CHECK(throttle.limited());
  std::stop_source stop;
  throttle.take(kBlock, stop.get_token());  // the first goes at once
  CHECK(throttle.throttled_seconds() == 0);
  const auto t0 = Clock::now();
  std::jthread stopper([&] {
    std::this_thread::sleep_for(200ms);
    stop.request_stop();
  });
  CHECK_THROWS_AS(throttle.take(kBlock, stop.get_token()), Cancelled);
  const double waited = seconds(Clock::now() - t0);
  CHECK(waited >= 0.15);
  CHECK(waited < 5);
  CHECK(throttle.throttled_seconds() == Approx(waited).epsilon(0.2));
  // Requested before: no wait at all.
  CHECK_THROWS_AS(throttle.take(1, stop.get_token()), Cancelled);
  CHECK_FALSE(ReadThrottle({nullptr}).limited());
}

TEST_CASE("sizes and rates in words parse to bytes", "[rate_limit]") {
  CHECK(parse_bytes("20MiB") == 20 * MiB);
  CHECK(parse_bytes("100M") == 100 * MiB);
  CHECK(parse_bytes("100M/s") == 100 * MiB);
  CHECK(parse_bytes("1.5 GiB") == 1536 * MiB);
  CHECK(parse_bytes("512k") == 512 * 1024);
  CHECK(parse_bytes("4096") == 4096);
  CHECK(parse_bytes("10MB") == 10'000'000);
  CHECK(parse_bytes("1kB") == 1000);
  for (const char* bad : {"", "M", "20 MiBs", "-1M", "1.2.3M", "20mb", "8P", "ten", "9999999T"})
    CHECK_FALSE(parse_bytes(bad));
}

TEST_CASE("io priority: words, and a thread's own priority set and given back", "[rate_limit]") {
  CHECK(parse_io_priority("idle") == IoPriority{IoPriority::Class::idle, 0});
  CHECK(parse_io_priority("best-effort") == IoPriority{IoPriority::Class::best_effort, 4});
  CHECK(parse_io_priority("best-effort:7") == IoPriority{IoPriority::Class::best_effort, 7});
  CHECK(parse_io_priority("realtime:0") == IoPriority{IoPriority::Class::realtime, 0});
  for (const char* bad : {"", "idle:3", "best-effort:8", "best-effort:", "nice", "realtime:-1"})
    CHECK_FALSE(parse_io_priority(bad));
  CHECK(to_string(IoPriority{IoPriority::Class::best_effort, 2}) == "best-effort:2");

  // Any user may lower its own thread's priority to idle; another thread stays as it was.
  std::jthread([] {
    const IoPriority before = thread_io_priority();
    {
      ScopedIoPriority idle(IoPriority{IoPriority::Class::idle, 0});
      CHECK(thread_io_priority().cls == IoPriority::Class::idle);
    }
    CHECK(thread_io_priority() == before);
  });
}

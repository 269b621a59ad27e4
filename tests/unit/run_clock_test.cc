// RunClock (lib/backup/run_clock.h): every moment of a run goes to exactly one phase, so the
// phases sum to the elapsed time; a Scope lends the clock and gives it back.
#include <catch2/catch.hpp>
#include <chrono>
#include <numeric>
#include <thread>

#include "backup/run_clock.h"
#include "util/text.h"

using namespace backy;
using namespace std::chrono_literals;

namespace {

double sum(const PhaseSeconds& p) {
  return std::accumulate(p.begin(), p.end(), 0.0,
                         [](double s, const auto& kv) { return s + kv.second; });
}

}  // namespace

TEST_CASE("a run clock charges each stretch to the phase the run was in, and they sum to it",
          "[run_clock]") {
  // Begun before it was built: the time since is the first phase's (the lock, the source).
  RunClock clock(RunClock::Steady::now() - 50ms);
  CHECK(clock.phase() == Phase::prepare);
  CHECK(clock.enter(Phase::snapshot) == Phase::prepare);
  std::this_thread::sleep_for(20ms);
  clock.enter(Phase::read);
  for (int block = 0; block < 3; ++block) {
    std::this_thread::sleep_for(5ms);  // waiting for the source
    RunClock::Scope applying(clock, Phase::write);
    CHECK(clock.phase() == Phase::write);
    std::this_thread::sleep_for(10ms);
  }
  CHECK(clock.phase() == Phase::read);  // each Scope gave the clock back
  clock.enter(Phase::commit);

  const PhaseSeconds split = clock.split();
  const double elapsed = clock.elapsed();
  REQUIRE(split.size() == kPhases.size());  // every phase, those never entered at 0
  CHECK(split.at(Phase::prepare) >= 0.050);
  CHECK(split.at(Phase::snapshot) >= 0.020);
  CHECK(split.at(Phase::read) >= 0.015);
  CHECK(split.at(Phase::write) >= 0.030);
  CHECK(split.at(Phase::flush) == 0);
  CHECK(split.at(Phase::verify) == 0);
  CHECK(split.at(Phase::cleanup) == 0);
  CHECK(elapsed >= 0.115);
  // Only the moment between the two readings is missing.
  CHECK(sum(split) <= elapsed);
  CHECK(sum(split) == Approx(elapsed).margin(0.005));
}

TEST_CASE("the log names a run's largest phases, largest first, and leaves out empty ones",
          "[run_clock]") {
  const PhaseSeconds p = {{Phase::prepare, 0.01}, {Phase::snapshot, 0.12}, {Phase::read, 0.62},
                          {Phase::write, 0.31},   {Phase::flush, 0},       {Phase::commit, 75}};
  CHECK(largest_phases(p, 3) == "commit 1m15s, read 0.62 s, write 0.31 s");
  CHECK(largest_phases(p, 99) ==
        "commit 1m15s, read 0.62 s, write 0.31 s, snapshot 0.12 s, prepare 0.01 s");
  CHECK(largest_phases({{Phase::read, 0}}, 3).empty());
  CHECK(largest_phases({}, 3).empty());
  CHECK(phase_duration(0.456) == "0.46 s");
  CHECK(phase_duration(59.99) == "59.99 s");
  CHECK(phase_duration(59.999) == "1m00s");
  CHECK(phase_duration(-1) == "0.00 s");
}

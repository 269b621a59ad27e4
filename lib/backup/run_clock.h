// RunClock: where a backup run's time goes. A stopwatch that charges every moment since the
// run began to exactly one phase (repo/revision.h), the one the run is in; so the phases sum to
// the elapsed time by construction, however the steps interleave (an RBD run's reads overlap
// its writes: the run's thread is either waiting for the source, `read`, or applying a block,
// `write`, and the clock says which).
//
// The run enters each phase as it gets there (enter()); a Scope lends the clock to another
// phase for a stretch and gives it back (a block applied inside the source's read loop).
// Reading the clock costs a steady_clock::now(): cheap enough for every block. One thread (the
// run's); not copyable.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <string>

#include "repo/revision.h"

namespace backy {

class RunClock {
 public:
  using Steady = std::chrono::steady_clock;

  // Running from `began` (which may be past: the time since goes to `phase`), in `phase`.
  explicit RunClock(Steady::time_point began, Phase phase = Phase::prepare)
      : began_(began), since_(began), phase_(phase) {}
  RunClock(const RunClock&) = delete;
  RunClock& operator=(const RunClock&) = delete;

  // Charges the time since the last change to the current phase and goes on in `phase`;
  // returns the phase it left.
  Phase enter(Phase phase);
  Phase phase() const { return phase_; }

  Steady::time_point began() const { return began_; }
  // Seconds since `began`.
  double elapsed() const;
  // Seconds per phase up to now, the current one included: every phase, 0 for those never
  // entered. Sums to elapsed() (up to rounding).
  PhaseSeconds split() const;

  // The clock in `phase` for the Scope's life, then back in the phase it was in.
  class Scope {
   public:
    Scope(RunClock& clock, Phase phase) : clock_(clock), left_(clock.enter(phase)) {}
    ~Scope() { clock_.enter(left_); }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    RunClock& clock_;
    Phase left_;
  };

 private:
  Steady::time_point began_, since_;  // since_: when the current phase was entered
  Phase phase_;
  std::array<Steady::duration, kPhases.size()> spent_{};  // by phase, before since_
};

// The `n` largest phases of `phases`, largest first, for a log line: "read 0.62 s, write
// 0.31 s, snapshot 0.12 s" (phases of 0 left out); empty when there are none.
std::string largest_phases(const PhaseSeconds& phases, size_t n);

}  // namespace backy

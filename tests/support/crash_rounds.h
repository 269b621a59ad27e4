// Crash rounds: the kill -9 test of tests/integration/trust_test.cc (file source) and
// tests/ceph/rbd_trust_test.cc (RBD source), one loop for both.
//
// Each round changes the source a little (only while no run is active, so that a revision made
// in the round must equal the source as it is then), starts `backyctl run JOB --wait`, SIGKILLs
// backyd after a random delay, starts it again and checks: `backyctl scrub JOB all` finds
// nothing bad, and the RevisionLedger holds (old revisions unchanged, `latest` complete), and a
// revision the round committed equals the source. Prints one line per round to stderr.
#pragma once

#include <functional>
#include <random>
#include <string>

#include "support/ctl_daemon.h"
#include "support/revision_ledger.h"

namespace backy::test {

// The schedule of a job the rounds drive: one tag whose regular slot comes once in ten years, so
// the daemon runs the job at once while it has no revision and afterwards only when the test
// asks. (A daily tag has a regular slot every day, 06:54:34 UTC for a job named "vm": a round
// that spans it gets a run it did not ask for, and a second new revision of another content.)
inline constexpr const char* kRoundsSchedule = "{rare: {interval: 3650d, keep: 2}}";

struct CrashRounds {
  int rounds = 20;
  double max_delay = 1;  // seconds; each kill comes after a uniform random delay up to this
  // After each round, the second oldest revisions are forgotten (`backyctl forget`) down to this
  // many: checking every revision in every round costs a read of each. The oldest stays, and
  // is checked in every round.
  size_t max_revisions = 6;
  // Changes the source a little; returns the content digest of the source as it is now.
  std::function<std::string()> change_source;
  // Called after each kill, before the restart (RBD: fence the dead daemon's watches).
  std::function<void()> after_kill = [] {};
};

// REQUIRES: `d` runs, and `job` is not running. Returns how many of the killed runs had
// committed their revision before the kill.
int run_crash_rounds(CtlDaemon& d, const std::string& job, RevisionLedger& ledger,
                     const CrashRounds& rounds, std::mt19937_64& rng);

// `backyctl scrub JOB all` found every revision of `job` intact.
void check_scrub_clean(const CtlDaemon& d, const std::string& job);

}  // namespace backy::test

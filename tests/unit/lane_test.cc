// Which lane a job's next backup waits in (daemon/lane.*): upstream backy's rule, newest
// complete revision under the threshold is fast, anything else slow.
#include <catch2/catch.hpp>

#include <cmath>

#include "lane.h"

using namespace backy;

namespace {

std::vector<Revision> history_of(std::initializer_list<double> durations) {
  std::vector<Revision> h;
  for (double d : durations) {
    Revision r;
    r.uuid = "r" + std::to_string(h.size());
    r.stats.duration = d;
    h.push_back(r);
  }
  return h;
}

}  // namespace

TEST_CASE("lane: the newest revision's duration against the threshold decides", "[lane]") {
  const Seconds ten_minutes{600};
  struct Case {
    std::vector<Revision> history;
    Lane want;
  };
  const std::vector<Case> cases = {
      {{}, Lane::slow},                          // no history: a first full
      {history_of({1}), Lane::fast},             // a quick run
      {history_of({599.9}), Lane::fast},         // just under
      {history_of({600}), Lane::slow},           // at the threshold: not under it
      {history_of({3600, 30}), Lane::fast},      // a slow full, then a quick incremental
      {history_of({30, 30, 7200}), Lane::slow},  // quick runs, then a slow one: the newest counts
      {history_of({0}), Lane::fast},
      {history_of({-1}), Lane::slow},  // nonsense on disk proves no speed
      {history_of({std::nan("")}), Lane::slow},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    INFO("case " << i);
    CHECK(backup_lane(cases[i].history, ten_minutes) == cases[i].want);
  }
}

TEST_CASE("lane: the threshold is the configured one", "[lane]") {
  const auto h = history_of({90});
  CHECK(backup_lane(h, Seconds{60}) == Lane::slow);
  CHECK(backup_lane(h, Seconds{91}) == Lane::fast);
  CHECK(backup_lane(h, Seconds{0}) == Lane::slow);  // 0: every backup is slow
}

TEST_CASE("lane: names as status and the metrics show them", "[lane]") {
  CHECK(lane_name(Lane::fast) == "fast");
  CHECK(lane_name(Lane::slow) == "slow");
  CHECK(lane_name(Lane::work) == "work");
}

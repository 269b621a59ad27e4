// 400 simulated days of one job under the default schedule, run by run, with downtime, failed
// runs and manual revisions: the schedule and expiry together must keep their promises at every
// step. The checks recompute each promise from the simulation's own records (what was created,
// when the daemon was up), not by calling the function under test a second time.
#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "schedule/expiry.h"
#include "schedule/schedule.h"

namespace backy {
namespace {

using namespace std::chrono_literals;
using Tags = std::set<std::string>;

constexpr Seconds kDay = 24h;
const Schedule kDefault{
    {"daily", {kDay, 9}}, {"weekly", {7 * kDay, 5}}, {"monthly", {30 * kDay, 4}}};

struct Created {
  std::string uuid;
  TimePoint time;
};

class Simulation {
 public:
  Simulation(TimePoint start, uint64_t seed)
      : rng_(seed), now_(start), first_seen_(start), up_since_(start) {}

  // One step of the daemon's loop: ask next_run, maybe go down or fail, else create a revision
  // and expire. Returns false once the end is reached.
  bool step(TimePoint end);

  int downtimes = 0, failures = 0, runs = 0, catch_ups = 0, manual = 0;
  int overdue_seen = 0, not_overdue_seen = 0;
  size_t max_revisions = 0;
  std::vector<TimePoint> manual_times;  // sorted; one asked for while down runs once back

 private:
  void create(TimePoint at, const Tags& tags);
  void expire();
  void check_sla();
  void check_retention(TimePoint expired_at) const;
  const RevisionInfo* find(const std::string& uuid) const;
  // The tick from which each tag counts as missed, from the simulation's own records.
  std::map<std::string, TimePoint> missed_from() const;

  std::mt19937_64 rng_;
  Seconds spread_ = job_spread("vm-simulated", kDefault);
  TimePoint now_, first_seen_, up_since_;
  int consecutive_failures_ = 0;
  std::vector<RevisionInfo> history_;
  std::map<std::string, std::vector<Created>> created_;  // per tag, oldest first
  std::vector<std::string> manual_uuids_;
  int next_uuid_ = 0;

  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  Clock::duration between(Clock::duration lo, Clock::duration hi) {
    return Clock::duration(std::uniform_int_distribution<Clock::rep>(lo.count(), hi.count())(rng_));
  }
};

std::map<std::string, TimePoint> Simulation::missed_from() const {
  std::map<std::string, TimePoint> from;
  for (const auto& [tag, spec] : kDefault) {
    auto it = created_.find(tag);
    from[tag] = (it == created_.end() || it->second.empty())
                    ? TimePoint::min()
                    : it->second.back().time + spec.interval;
  }
  return from;
}

const RevisionInfo* Simulation::find(const std::string& uuid) const {
  for (const RevisionInfo& r : history_)
    if (r.uuid == uuid) return &r;
  return nullptr;
}

void Simulation::create(TimePoint at, const Tags& tags) {
  std::string uuid = "r" + std::to_string(next_uuid_++);
  history_.push_back(RevisionInfo{uuid, at, tags});
  for (const std::string& t : tags) created_[t].push_back({uuid, at});
}

void Simulation::check_sla() {
  std::optional<TimePoint> newest;
  for (const RevisionInfo& r : history_)
    newest = std::max(newest.value_or(r.timestamp), r.timestamp);
  const bool overdue = is_overdue(kDefault, now_, newest, first_seen_);
  // Smallest interval 1d: overdue exactly when the newest revision is older than 36 hours.
  REQUIRE(overdue == (now_ - newest.value_or(first_seen_) > 36h));
  // Up for 36 hours, the schedule with catch-up and backoff must have kept the job in its SLA.
  if (now_ - up_since_ >= 36h) REQUIRE_FALSE(overdue);
  ++(overdue ? overdue_seen : not_overdue_seen);
}

void Simulation::expire() {
  const auto plan = plan_expiry(kDefault, now_, history_);
  for (const ExpiryDecision& d : plan) {
    auto it = std::find_if(history_.begin(), history_.end(),
                           [&](const RevisionInfo& r) { return r.uuid == d.uuid; });
    REQUIRE(it != history_.end());
    Tags remaining;
    std::set_difference(it->tags.begin(), it->tags.end(), d.removed_tags.begin(),
                        d.removed_tags.end(), std::inserter(remaining, remaining.end()));
    REQUIRE(remaining == d.remaining_tags);
    REQUIRE(d.remove == d.remaining_tags.empty());  // the newest always has fresh tags here
    if (d.remove)
      history_.erase(it);
    else
      it->tags = d.remaining_tags;
  }
  check_retention(now_);
}

// After expiry at `expired_at`, per tag exactly these carry it: the newest `keep` revisions ever
// created with it, and every one created with it inside keep x interval. (At least
// min(keep, created so far) carry it, which is all that could exist.)
void Simulation::check_retention(TimePoint expired_at) const {
  for (const auto& [tag, spec] : kDefault) {
    auto it = created_.find(tag);
    if (it == created_.end()) continue;
    const std::vector<Created>& made = it->second;
    std::set<std::string> expected;
    for (size_t i = 0; i < made.size(); ++i)
      if (i + static_cast<size_t>(spec.keep) >= made.size() ||
          made[i].time >= expired_at - spec.keep * spec.interval)
        expected.insert(made[i].uuid);
    std::set<std::string> carriers;
    for (const RevisionInfo& r : history_)
      if (r.tags.contains(tag)) carriers.insert(r.uuid);
    INFO("tag " << tag);
    REQUIRE(carriers == expected);
    REQUIRE(carriers.size() >= std::min<size_t>(spec.keep, made.size()));
  }
  for (const std::string& uuid : manual_uuids_) {
    const RevisionInfo* r = find(uuid);
    REQUIRE(r);
    REQUIRE(r->tags.size() == 1);
    REQUIRE(is_manual_tag(*r->tags.begin()));
  }
  // Bounded: each tag holds its keep plus what the keep x interval window adds (catch-ups after
  // downtime, the slot on the window's edge), and revisions share tags. Over 200 seeds the
  // scheduled revisions never exceeded the sum of keeps + 1; growth would break this in weeks.
  size_t keeps = 0;
  for (const auto& entry : kDefault) keeps += entry.second.keep;
  REQUIRE(history_.size() - manual_uuids_.size() <= keeps + 3);
}

bool Simulation::step(TimePoint end) {
  if (now_ >= end) return false;
  check_sla();
  const DueRun run = next_run(kDefault, spread_, now_, history_);
  REQUIRE(run.time >= now_);
  REQUIRE_FALSE(run.tags.empty());

  // Catch-up is prompt: a tag missed before the run is in it, and the run is at most the grace
  // after the tag became missed (or after now, if it was missed already).
  for (const auto& [tag, from] : missed_from()) {
    if (from >= run.time) continue;
    INFO("missed tag " << tag);
    REQUIRE(run.tags.contains(tag));
    REQUIRE(run.time - std::max(now_, from) <= kCatchUpGrace);
  }

  // An operator's manual run comes first if it falls before the scheduled one (or was asked for
  // while the daemon was down: the operator tries again once it is back).
  if (!manual_times.empty() && manual_times.front() < run.time) {
    now_ = std::max(now_, manual_times.front());
    manual_times.erase(manual_times.begin());
    create(now_, {"manual:sim-" + std::to_string(manual)});
    manual_uuids_.push_back(history_.back().uuid);
    ++manual;
    now_ += between(5min, 20min);
    expire();
    return true;
  }

  // Downtime: the daemon stops some time before the run and is back 2-5 days later.
  if (chance(0.02)) {
    ++downtimes;
    now_ += between(Clock::duration(0), run.time - now_) + between(2 * kDay, 5 * kDay);
    up_since_ = now_;
    consecutive_failures_ = 0;
    REQUIRE(is_overdue(kDefault, now_,
                       history_.empty() ? std::nullopt : std::optional(history_.back().timestamp),
                       first_seen_));
    // Back within minutes, with every tag that went missed during the downtime (daily at least:
    // the downtime is longer than a day).
    const DueRun first = next_run(kDefault, spread_, now_, history_);
    REQUIRE(first.time - now_ <= kCatchUpGrace);
    REQUIRE(first.tags.contains("daily"));
    for (const auto& [tag, from] : missed_from())
      if (from <= now_) REQUIRE(first.tags.contains(tag));
    return true;
  }

  now_ = run.time;
  check_sla();
  // `backyd --once` at this moment would run the same tags (a catch-up that happens to fall on
  // a slot of another tag would take that one too).
  const Tags due = due_tags(kDefault, spread_, now_, history_);
  if (run.catch_up)
    REQUIRE(std::includes(due.begin(), due.end(), run.tags.begin(), run.tags.end()));
  else
    REQUIRE(due == run.tags);

  if (chance(0.1)) {
    ++failures;
    ++consecutive_failures_;
    now_ += between(1min, 30min) + failure_backoff(consecutive_failures_);
    return true;
  }
  consecutive_failures_ = 0;
  ++runs;
  catch_ups += run.catch_up;
  create(run.time, run.tags);
  now_ += between(5min, 40min);  // the run itself
  expire();
  max_revisions = std::max(max_revisions, history_.size());
  return true;
}

TEST_CASE("simulation: 400 days of the default schedule with downtime and failures", "[schedule]") {
  // A few seeds: each is a different pattern of downtime and failures; all are deterministic.
  for (uint64_t seed : {20240611u, 1u, 2u, 3u}) {
    DYNAMIC_SECTION("seed " << seed) {
      const TimePoint start = TimePoint(Seconds(1'699'920'000)) + 12345s;
      const TimePoint end = start + 400 * kDay;
      Simulation sim(start, seed);
      for (int day : {17, 93, 94, 201, 333}) sim.manual_times.push_back(start + day * kDay + 7h);

      int steps = 0;
      while (sim.step(end)) REQUIRE(++steps < 10000);

      INFO("downtimes " << sim.downtimes << ", failures " << sim.failures << ", runs " << sim.runs
                        << ", catch-ups " << sim.catch_ups << ", max revisions "
                        << sim.max_revisions);
      // The scenario exercised what it was meant to.
      CHECK(sim.downtimes >= 3);
      CHECK(sim.failures >= 20);
      CHECK(sim.catch_ups >= sim.downtimes);
      CHECK(sim.manual == 5);
      CHECK(sim.overdue_seen >= sim.downtimes);
      CHECK(sim.not_overdue_seen > 0);
      // About one run a day while up; far fewer would mean skipped slots, far more churn.
      CHECK(sim.runs >= 300);
      CHECK(sim.runs <= 500);
      CHECK(sim.max_revisions >= 18);  // the keeps did fill up
    }
  }
}

}  // namespace
}  // namespace backy

// Tests of schedule/schedule.h: spread, regular slots, catch-up, due tags, SLA, backoff, forced
// tags. Times are written relative to kBase so the tables read as "day + hour" offsets.
#include "schedule/schedule.h"

#include <catch2/catch.hpp>
#include <climits>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace backy {
namespace {

using namespace std::chrono_literals;
using Tags = std::set<std::string>;

// 2023-11-14T00:00:00Z, a Tuesday. With spread 0, daily slots fall on every kBase + n*1d,
// weekly slots on Thursdays (kBase - 5d + n*7d), 30-day slots on kBase - 25d + n*30d.
constexpr int64_t kBase = 1'699'920'000;
constexpr Seconds kDay = 24h;

TimePoint at(Clock::duration offset) {
  return TimePoint(Seconds(kBase)) + offset;
}
// Seconds after kBase, for readable failure messages (Catch cannot print a time_point).
int64_t rel(TimePoint t) {
  return std::chrono::duration_cast<Seconds>(t - TimePoint(Seconds(kBase))).count();
}

const Schedule kDaily{{"daily", {kDay, 9}}};
const Schedule kDefault{
    {"daily", {kDay, 9}}, {"weekly", {7 * kDay, 5}}, {"monthly", {30 * kDay, 4}}};
const Schedule kHourlyDaily{{"hourly", {1h, 24}}, {"daily", {kDay, 7}}};
const Tags kAll = {"daily", "weekly", "monthly"};

RevisionInfo rev(std::string uuid, Clock::duration offset, Tags tags) {
  return RevisionInfo{std::move(uuid), at(offset), std::move(tags)};
}

TEST_CASE("next regular run: earliest slot over the tags, carrying all tags due on it",
          "[schedule]") {
  struct Row {
    const char* what;
    const Schedule* schedule;
    Seconds spread;
    Clock::duration now;
    Clock::duration expected;
    Tags tags;
  };
  const std::vector<Row> rows = {
      {"before today's slot", &kDaily, 3h, 1h, 3h, {"daily"}},
      {"exactly on a slot: the next one", &kDaily, 3h, 3h, kDay + 3h, {"daily"}},
      {"one second before a slot", &kDaily, 3h, 3h - 1s, 3h, {"daily"}},
      {"half a second before a slot", &kDaily, 3h, 3h - 500ms, 3h, {"daily"}},
      {"half a second after a slot", &kDaily, 3h, 3h + 500ms, kDay + 3h, {"daily"}},
      {"spread larger than the interval", &kDaily, 2 * kDay + 3h, 1h, 3h, {"daily"}},
      {"spread 0: daily only", &kDefault, 0s, 1h, kDay, {"daily"}},
      {"spread 0: Thursday, weekly too", &kDefault, 0s, kDay + 1h, 2 * kDay, {"daily", "weekly"}},
      {"spread 0: a 30-day slot", &kDefault, 0s, 4 * kDay + 1h, 5 * kDay, {"daily", "monthly"}},
      {"spread 0: all three", &kDefault, 0s, 64 * kDay + 1h, 65 * kDay, kAll},
      {"spread 2d3h: weekly", &kDefault, 51h, 3 * kDay + 5h, 4 * kDay + 3h, {"daily", "weekly"}},
      {"spread 2d3h: 30-day", &kDefault, 51h, 6 * kDay + 4h, 7 * kDay + 3h, {"daily", "monthly"}},
      {"hourly and daily coincide", &kHourlyDaily, 5h + 30min, 5h, 5h + 30min, {"hourly", "daily"}},
      {"hourly alone", &kHourlyDaily, 5h + 30min, 5h + 30min, 6h + 30min, {"hourly"}},
  };
  for (const Row& row : rows) {
    SECTION(row.what) {
      DueRun run = next_regular_run(*row.schedule, row.spread, at(row.now));
      CHECK(rel(run.time) == rel(at(row.expected)));
      CHECK(run.tags == row.tags);
      CHECK_FALSE(run.catch_up);
    }
  }
}

TEST_CASE("next regular run before the epoch and for an empty schedule", "[schedule]") {
  // floor toward -infinity: one hour before the epoch, the next daily slot is the epoch itself.
  DueRun run = next_regular_run(kDaily, 0s, TimePoint(-1h));
  CHECK(run.time.time_since_epoch() == Clock::duration::zero());

  DueRun never = next_regular_run(Schedule{}, 0s, at(0s));
  CHECK(never.time == TimePoint::max());
  CHECK(never.tags.empty());
}

TEST_CASE("huge intervals do not overflow", "[schedule]") {
  const Schedule huge{{"daily", {kDay, 9}}, {"forever", {Seconds(INT64_MAX), 1}}};
  DueRun run = next_regular_run(huge, 0s, at(1h));
  CHECK(rel(run.time) == rel(at(kDay)));
  CHECK(run.tags == Tags{"daily"});
  const Schedule only_huge{{"forever", {Seconds(INT64_MAX / 2), 1}}};
  CHECK(next_regular_run(only_huge, 5s, at(0s)).time == TimePoint::max());
  CHECK_FALSE(is_overdue(only_huge, at(0s), at(-1000 * kDay), at(-1000 * kDay)));
}

TEST_CASE("spread is stable across runs and machines", "[schedule]") {
  // Computed once from the implementation and pinned: changing the hash moves every job's time
  // of day on upgrade, which must be a deliberate decision.
  struct Row {
    const char* name;
    int64_t default_spread;  // largest interval 30d
    int64_t daily_spread;    // largest interval 1d
  };
  const std::vector<Row> rows = {
      {"", 1442342, 59942},
      {"vm01", 2051683, 64483},
      {"vm02", 1441188, 58788},
      {"test01", 1119986, 83186},
      {"db-primary.example.com", 982088, 31688},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    CHECK(job_spread(row.name, kDefault).count() == row.default_spread);
    CHECK(job_spread(row.name, kDaily).count() == row.daily_spread);
  }
  CHECK(job_spread("vm01", Schedule{}) == 0s);
}

TEST_CASE("spread is in range and spreads similar names over the day", "[schedule]") {
  std::vector<int> per_hour(24, 0);
  std::set<int64_t> distinct;
  for (int i = 0; i < 1000; ++i) {
    std::string name = "vm" + std::to_string(1000 + i);
    Seconds d = job_spread(name, kDaily);
    REQUIRE(d >= 0s);
    REQUIRE(d < kDay);
    Seconds m = job_spread(name, kDefault);
    REQUIRE(m >= 0s);
    REQUIRE(m < 30 * kDay);
    // The daily slot only depends on the spread mod 1d: adding a tag whose interval is a multiple
    // of the largest keeps every job's time of day.
    REQUIRE(m.count() % kDay.count() == d.count());
    ++per_hour[d.count() / 3600];
    distinct.insert(d.count());
  }
  // 1000 names, 86400 seconds: a uniform hash collides about 6 times; each hour expects ~42.
  CHECK(distinct.size() >= 985);
  for (int n : per_hour) {
    CHECK(n >= 20);
    CHECK(n <= 70);
  }
}

TEST_CASE("next run: catch-up of missed tags", "[schedule]") {
  // Default schedule, spread 3h: slots at 03:00; weekly on kBase+2d+3h, 30-day on kBase+5d+3h.
  const Seconds spread = 3h;
  const std::vector<RevisionInfo> fresh = {rev("m", -25 * kDay + 3h, {"daily", "monthly"}),
                                           rev("w", -5 * kDay + 3h, {"daily", "weekly"}),
                                           rev("d", -kDay + 3h, {"daily"})};
  const std::vector<RevisionInfo> weekly_missed = {rev("m", -25 * kDay + 3h, {"monthly"}),
                                                   rev("w", -9 * kDay + 3h, {"weekly"}),
                                                   rev("d", -kDay + 3h, {"daily"})};
  const std::vector<RevisionInfo> weekly_was_late = {rev("m", -20 * kDay, {"monthly"}),
                                                     rev("w", -7 * kDay + 5h, {"weekly"}),
                                                     rev("d", 3h, {"daily"})};
  const std::vector<RevisionInfo> weekly_almost_regular = {
      rev("m", -20 * kDay, {"monthly"}), rev("w", -6 * kDay + 3h - 2min, {"weekly"}),
      rev("d", 3h, {"daily"})};
  const std::vector<RevisionInfo> manual_only = {rev("x", 0s, {"manual:pre-upgrade"})};
  const std::vector<RevisionInfo> old_schedule = {rev("h", 50min, {"hourly"})};
  const std::vector<RevisionInfo> daily_exactly_1d = {rev("m", -2 * kDay, {"monthly", "weekly"}),
                                                      rev("d", 1h - kDay, {"daily"})};
  const std::vector<RevisionInfo> daily_under_1d = {rev("m", -2 * kDay, {"monthly", "weekly"}),
                                                    rev("d", 1h - kDay + 1s, {"daily"})};

  struct Row {
    const char* what;
    const std::vector<RevisionInfo>* history;
    Clock::duration now;
    DueRun expected;
  };
  const std::vector<RevisionInfo> none;
  // clang-format off
  const std::vector<Row> rows = {
      {"no revisions: now, every tag", &none, 1h, {at(1h), kAll, true}},
      {"no revisions, slot in 2 minutes: still now", &none, 3h - 2min, {at(3h - 2min), kAll, true}},
      {"nothing missed: the regular run", &fresh, 1h, {at(3h), {"daily"}, false}},
      {"today's slot passed unrun: now", &fresh, 4h, {at(4h), {"daily"}, true}},
      {"weekly missed, slot 2h away: now, weekly only",
          &weekly_missed, 1h, {at(1h), {"weekly"}, true}},
      {"weekly missed, slot in 4 minutes: joins it",
          &weekly_missed, 3h - 4min, {at(3h), {"daily", "weekly"}, false}},
      {"slot exactly 5 minutes away: joins it",
          &weekly_missed, 3h - 5min, {at(3h), {"daily", "weekly"}, false}},
      {"slot 5 minutes and 1 second away: now",
          &weekly_missed, 3h - 5min - 1s, {at(3h - 5min - 1s), {"weekly"}, true}},
      {"weekly becomes missed before the next slot: then",
          &weekly_was_late, 3h + 10min, {at(5h), {"weekly"}, true}},
      {"weekly becomes missed 2 minutes before the slot: joins it",
          &weekly_almost_regular, 4h, {at(kDay + 3h), {"daily", "weekly"}, false}},
      {"only manual revisions: every schedule tag now", &manual_only, 1h, {at(1h), kAll, true}},
      {"tags of an old schedule do not count", &old_schedule, 1h, {at(1h), kAll, true}},
      {"newest daily exactly 1d old: missed", &daily_exactly_1d, 1h, {at(1h), {"daily"}, true}},
      // Its slot yesterday at 03:00 produced no revision, so it is caught up once a day old.
      {"newest daily 1d - 1s old: missed a second later",
          &daily_under_1d, 1h, {at(1h + 1s), {"daily"}, true}},
  };
  // clang-format on
  for (const Row& row : rows) {
    SECTION(row.what) {
      DueRun run = next_run(kDefault, spread, at(row.now), *row.history);
      CHECK(rel(run.time) == rel(row.expected.time));
      CHECK(run.tags == row.expected.tags);
      CHECK(run.catch_up == row.expected.catch_up);
    }
  }
}

TEST_CASE("missed tags", "[schedule]") {
  const std::vector<RevisionInfo> history = {rev("a", -8 * kDay, {"weekly", "manual:x"}),
                                             rev("b", -kDay, {"daily"}),
                                             rev("c", -2h, {"retired"})};
  CHECK(missed_tags(kDefault, at(0s), history) == Tags{"daily", "weekly", "monthly"});
  CHECK(missed_tags(kDefault, at(-1h), history) == Tags{"weekly", "monthly"});
  CHECK(missed_tags(kDefault, at(0s), {}) == Tags{"daily", "weekly", "monthly"});
}

TEST_CASE("next run does not go stale while the caller waits for it", "[schedule]") {
  // Random histories; next_run(t) must be the same DueRun for every t in [now, time).
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> secs(0, 40 * kDay.count());
  const std::vector<std::string> names = {"daily", "weekly", "monthly", "manual:m"};
  for (int round = 0; round < 300; ++round) {
    std::vector<RevisionInfo> history;
    int n = static_cast<int>(rng() % 6);
    for (int i = 0; i < n; ++i) {
      Tags tags;
      for (const std::string& t : names)
        if (rng() % 3 == 0) tags.insert(t);
      history.push_back(rev(std::to_string(i), -Seconds(secs(rng)), tags));
    }
    const TimePoint now = at(Seconds(secs(rng) % kDay.count()) + 123ms);
    const Seconds spread = Seconds(secs(rng));
    const DueRun run = next_run(kDefault, spread, now, history);
    INFO("round " << round << ", due in " << rel(run.time) - rel(now) << "s");
    REQUIRE(run.time >= now);
    REQUIRE_FALSE(run.tags.empty());
    for (int k = 1; k <= 8; ++k) {
      TimePoint t = now + (run.time - now) * k / 8;
      if (t >= run.time) t = run.time - Clock::duration(1);
      if (t < now) continue;
      REQUIRE(next_run(kDefault, spread, t, history) == run);
    }
  }
}

TEST_CASE("due tags for a run right now", "[schedule]") {
  const Seconds spread = 3h;
  const std::vector<RevisionInfo> recent = {rev("m", -kDay, {"monthly", "weekly"}),
                                            rev("d", 3h - 20h, {"daily"})};
  const std::vector<RevisionInfo> weekly_missed = {
      rev("m", -kDay, {"monthly"}), rev("w", -9 * kDay, {"weekly"}), rev("d", 3h - 20h, {"daily"})};
  struct Row {
    const char* what;
    const std::vector<RevisionInfo>* history;
    Clock::duration now;
    Tags expected;
  };
  const std::vector<RevisionInfo> none;
  const std::vector<Row> rows = {
      {"no revisions: every tag", &none, 1h, {"daily", "weekly", "monthly"}},
      {"nothing due", &recent, 1h, {}},
      {"on the daily slot", &recent, 3h, {"daily"}},
      {"within the slot's second", &recent, 3h + 500ms, {"daily"}},
      {"a second after the slot", &recent, 3h + 1s, {}},
      {"missed, no grace before the slot", &weekly_missed, 3h - 3min, {"weekly"}},
  };
  for (const Row& row : rows) {
    SECTION(row.what) {
      CHECK(due_tags(kDefault, spread, at(row.now), *row.history) == row.expected);
    }
  }
}

TEST_CASE("SLA: overdue after 1.5 x the smallest interval", "[schedule]") {
  struct Row {
    const char* what;
    const Schedule* schedule;
    std::optional<Clock::duration> newest;
    Clock::duration first_seen;
    bool overdue;
  };
  const Clock::duration never = -1000 * kDay;
  const std::vector<Row> rows = {
      {"hourly: 1.5h old is not yet overdue", &kHourlyDaily, -90min, never, false},
      {"hourly: 1.5h and 1ns old", &kHourlyDaily, -90min - 1ns, never, true},
      {"hourly: 2h old", &kHourlyDaily, -2h, never, true},
      {"daily: 35h old", &kDefault, -35h, never, false},
      {"daily: 36h and 1s old", &kDefault, -36h - 1s, never, true},
      {"no revision, seen 1h ago", &kHourlyDaily, std::nullopt, -1h, false},
      {"no revision, seen 2h ago", &kHourlyDaily, std::nullopt, -2h, true},
      {"a fresh revision outweighs an old first sighting", &kHourlyDaily, -10min, never, false},
      {"revision from the future (clock stepped back)", &kDefault, 2h, never, false},
      {"empty schedule is never overdue", nullptr, -100 * kDay, never, false},
  };
  const Schedule empty;
  for (const Row& row : rows) {
    SECTION(row.what) {
      std::optional<TimePoint> newest;
      if (row.newest) newest = at(*row.newest);
      CHECK(is_overdue(row.schedule ? *row.schedule : empty, at(0s), newest, at(row.first_seen)) ==
            row.overdue);
    }
  }
}

TEST_CASE("failure backoff starts at retry-after", "[schedule]") {
  CHECK(failure_backoff(1, Seconds(3)) == Seconds(3));
  CHECK(failure_backoff(2, Seconds(3)) == Seconds(6));
  CHECK(failure_backoff(4, Seconds(3)) == Seconds(24));
  CHECK(failure_backoff(30, Seconds(3)) == std::chrono::hours(6));
  CHECK(failure_backoff(1, std::chrono::hours(24)) == std::chrono::hours(6));
}

TEST_CASE("failure backoff doubles from 2 minutes up to 6 hours", "[schedule]") {
  struct Row {
    int failures;
    std::chrono::minutes wait;
  };
  const std::vector<Row> rows = {{-1, 0min},   {0, 0min},    {1, 2min},        {2, 4min},
                                 {3, 8min},    {8, 256min},  {9, 360min},      {10, 360min},
                                 {63, 360min}, {64, 360min}, {INT_MAX, 360min}};
  for (const Row& row : rows) {
    INFO("failures: " << row.failures);
    CHECK(failure_backoff(row.failures).count() == Seconds(row.wait).count());
    CHECK(failure_backoff(row.failures, std::chrono::minutes(2)).count() ==
          Seconds(row.wait).count());
  }
}

TEST_CASE("forced tags: schedule tags and manual:<name> only", "[schedule]") {
  CHECK_FALSE(check_forced_tags(kDefault, {"daily"}));
  CHECK_FALSE(check_forced_tags(kDefault, {"daily", "weekly", "manual:before-upgrade"}));
  CHECK_FALSE(check_forced_tags(kDefault, {"manual:x"}));

  auto one = check_forced_tags(kDefault, {"daily", "hourly"});
  REQUIRE(one);
  CHECK_THAT(*one, Catch::Contains("'hourly'"));
  CHECK_THAT(*one, Catch::Contains("daily, monthly, weekly"));
  CHECK_THAT(*one, !Catch::Contains("'daily'"));

  auto two = check_forced_tags(kDefault, {"yearly", "manual:"});
  REQUIRE(two);
  CHECK_THAT(*two, Catch::Contains("'yearly'") && Catch::Contains("'manual:'"));

  auto empty = check_forced_tags(kDefault, {});
  REQUIRE(empty);
  CHECK_THAT(*empty, Catch::Contains("no tags"));

  CHECK(is_manual_tag("manual:x"));
  CHECK_FALSE(is_manual_tag("daily"));
  CHECK_FALSE(is_manual_tag("Manual:x"));
}

}  // namespace
}  // namespace backy

TEST_CASE("tag lists as written on a command line", "[schedule]") {
  CHECK(backy::parse_tag_list("daily,weekly") == std::set<std::string>{"daily", "weekly"});
  CHECK(backy::parse_tag_list("weekly,,daily,") == std::set<std::string>{"daily", "weekly"});
  CHECK(backy::parse_tag_list("manual:x") == std::set<std::string>{"manual:x"});
  CHECK(backy::parse_tag_list("").empty());
  CHECK(backy::join_tags({"weekly", "daily"}) == "daily,weekly");
  CHECK(backy::join_tags({}).empty());
  CHECK(backy::parse_tag_list(backy::join_tags({"a", "b:c"})) == std::set<std::string>{"a", "b:c"});
}

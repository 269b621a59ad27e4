// Tests of schedule/expiry.h: which revisions lose which tags, and which are deleted.
#include "schedule/expiry.h"

#include <catch2/catch.hpp>
#include <climits>
#include <map>
#include <string>
#include <vector>

namespace backy {
namespace {

using namespace std::chrono_literals;
using Tags = std::set<std::string>;

constexpr int64_t kBase = 1'699'920'000;  // 2023-11-14T00:00:00Z
constexpr Seconds kDay = 24h;
TimePoint at(Clock::duration offset) {
  return TimePoint(Seconds(kBase)) + offset;
}

RevisionInfo rev(std::string uuid, Clock::duration offset, Tags tags) {
  return RevisionInfo{std::move(uuid), at(offset), std::move(tags)};
}

// The plan as uuid -> decision, for lookups in the checks.
std::map<std::string, ExpiryDecision> by_uuid(const std::vector<ExpiryDecision>& plan) {
  std::map<std::string, ExpiryDecision> m;
  for (const ExpiryDecision& d : plan) m[d.uuid] = d;
  return m;
}

// One revision per day for `days` days, newest (uuid "d0") at kBase, all carrying `tags`.
std::vector<RevisionInfo> daily_history(int days, const Tags& tags) {
  std::vector<RevisionInfo> h;
  for (int i = days - 1; i >= 0; --i) h.push_back(rev("d" + std::to_string(i), -i * kDay, tags));
  return h;
}

TEST_CASE("expiry: the newest keep stay, older ones go once older than keep x interval",
          "[schedule]") {
  const Schedule schedule{{"daily", {kDay, 3}}};
  // d0..d9 at kBase - 0..9 days; now = kBase: window is 3 days, so d3 (exactly 3 days old)
  // still keeps its tag, d4..d9 lose it and, with no other tag, are deleted.
  auto plan = plan_expiry(schedule, at(0s), daily_history(10, {"daily"}));
  REQUIRE(plan.size() == 6);
  for (int i = 0; i < 6; ++i) {
    const ExpiryDecision& d = plan[i];
    CHECK(d.uuid == "d" + std::to_string(9 - i));  // oldest first
    CHECK(d.removed_tags == Tags{"daily"});
    CHECK(d.remaining_tags.empty());
    CHECK(d.remove);
    CHECK_THAT(d.reason, Catch::Contains("daily") && Catch::Contains("no tags left"));
  }

  // An hour later d3 is also past the window.
  auto later = by_uuid(plan_expiry(schedule, at(1h), daily_history(10, {"daily"})));
  CHECK(later.size() == 7);
  CHECK(later.contains("d3"));
  CHECK_FALSE(later.contains("d2"));
}

TEST_CASE("expiry: table of keep counts and windows", "[schedule]") {
  struct Row {
    const char* what;
    Schedule schedule;
    int days;  // daily_history(days)
    Clock::duration now;
    size_t removed;  // how many revisions the plan deletes
  };
  const std::vector<Row> rows = {
      {"fewer revisions than keep, however old", {{"daily", {kDay, 5}}}, 3, 100 * kDay, 0},
      {"exactly keep, however old", {{"daily", {kDay, 5}}}, 5, 100 * kDay, 0},
      {"one more than keep, old", {{"daily", {kDay, 5}}}, 6, 100 * kDay, 1},
      {"keep 1, old", {{"daily", {kDay, 1}}}, 10, 100 * kDay, 9},
      {"more than keep, but all inside the window", {{"daily", {7 * kDay, 2}}}, 10, 0s, 0},
      {"window cuts at keep x interval", {{"daily", {2 * kDay, 2}}}, 10, 0s, 5},
      {"a huge interval keeps everything", {{"daily", {Seconds(INT64_MAX), INT_MAX}}}, 10, 0s, 0},
      {"a huge interval, keep 1", {{"daily", {Seconds(INT64_MAX / 4), 1}}}, 10, 0s, 0},
  };
  for (const Row& row : rows) {
    SECTION(row.what) {
      auto plan = plan_expiry(row.schedule, at(row.now), daily_history(row.days, {"daily"}));
      size_t removed = 0;
      for (const ExpiryDecision& d : plan) removed += d.remove;
      CHECK(removed == row.removed);
      CHECK(plan.size() == row.removed);  // here every change is a deletion
    }
  }
}

TEST_CASE("expiry: a revision keeps living while any tag keeps it", "[schedule]") {
  const Schedule schedule{{"daily", {kDay, 2}}, {"weekly", {7 * kDay, 4}}};
  const std::vector<RevisionInfo> history = {
      rev("old-weekly", -20 * kDay, {"daily", "weekly"}),
      rev("old-daily", -19 * kDay, {"daily"}),
      rev("mid", -10 * kDay, {"daily"}),
      rev("new1", -1 * kDay, {"daily"}),
      rev("new0", 0s, {"daily"}),
  };
  auto plan = by_uuid(plan_expiry(schedule, at(0s), history));
  REQUIRE(plan.size() == 3);
  CHECK(plan["old-weekly"].removed_tags == Tags{"daily"});
  CHECK(plan["old-weekly"].remaining_tags == Tags{"weekly"});
  CHECK_FALSE(plan["old-weekly"].remove);
  CHECK(plan["old-daily"].remove);
  CHECK(plan["mid"].remove);
}

TEST_CASE("expiry: tags not in the schedule are dropped, manual tags never", "[schedule]") {
  // "hourly" was removed from the schedule; "weekly" too, leaving only daily.
  const Schedule schedule{{"daily", {kDay, 9}}};
  const std::vector<RevisionInfo> history = {
      rev("ancient-manual", -900 * kDay, {"manual:before-upgrade"}),
      rev("manual-and-daily", -800 * kDay, {"daily", "manual:keep-me"}),
      rev("weekly-only", -5 * kDay, {"weekly"}),
      rev("hourly-daily", -2 * kDay, {"hourly", "daily"}),
      rev("daily", -1 * kDay, {"daily"}),
      rev("newest", 0s, {"daily"}),
  };
  auto list = plan_expiry(schedule, at(0s), history);
  auto plan = by_uuid(list);
  REQUIRE(list.size() == 2);
  CHECK_FALSE(plan.contains("ancient-manual"));
  CHECK_FALSE(plan.contains("manual-and-daily"));  // among the newest 9 daily: unchanged
  CHECK(plan["weekly-only"].removed_tags == Tags{"weekly"});
  CHECK(plan["weekly-only"].remove);
  CHECK_THAT(plan["weekly-only"].reason, Catch::Contains("not in the schedule"));
  CHECK(plan["hourly-daily"].removed_tags == Tags{"hourly"});
  CHECK(plan["hourly-daily"].remaining_tags == Tags{"daily"});
  CHECK_FALSE(plan["hourly-daily"].remove);
  CHECK(list[0].uuid == "weekly-only");  // oldest first

  // With daily keep 1, the manual revision loses daily but lives on for its manual tag.
  const Schedule keep1{{"daily", {kDay, 1}}};
  auto plan1 = by_uuid(plan_expiry(keep1, at(0s), history));
  CHECK(plan1["manual-and-daily"].removed_tags == Tags{"daily"});
  CHECK(plan1["manual-and-daily"].remaining_tags == Tags{"manual:keep-me"});
  CHECK_FALSE(plan1["manual-and-daily"].remove);
  CHECK_FALSE(plan1.contains("ancient-manual"));
}

TEST_CASE("expiry: the newest revision is never deleted", "[schedule]") {
  // The schedule was replaced: no revision carries any of its tags.
  const Schedule schedule{{"daily", {kDay, 9}}};
  const std::vector<RevisionInfo> history = {
      rev("older", -2 * kDay, {"nightly"}), rev("newest", 0s, {"nightly"}),
      rev("middle", -1 * kDay, {}),  // left without tags by an earlier plan
  };
  auto list = plan_expiry(schedule, at(1h), history);
  auto plan = by_uuid(list);
  REQUIRE(list.size() == 3);
  CHECK(plan["older"].remove);
  CHECK(plan["middle"].remove);
  CHECK(plan["middle"].removed_tags.empty());
  CHECK(plan["newest"].removed_tags == Tags{"nightly"});
  CHECK(plan["newest"].remaining_tags.empty());
  CHECK_FALSE(plan["newest"].remove);
  CHECK_THAT(plan["newest"].reason, Catch::Contains("newest"));
  CHECK(list.back().uuid == "newest");

  // Already without tags and still the newest: nothing to do.
  CHECK(plan_expiry(schedule, at(1h), {rev("bare", 0s, {})}).empty());
  // Two revisions with the same timestamp: the later one in history counts as newer.
  auto tie = by_uuid(plan_expiry(schedule, at(1h), {rev("a", 0s, {}), rev("b", 0s, {})}));
  CHECK(tie.size() == 1);
  CHECK(tie["a"].remove);
}

TEST_CASE("expiry: empty history, empty schedule", "[schedule]") {
  CHECK(plan_expiry(Schedule{{"daily", {kDay, 1}}}, at(0s), {}).empty());
  // An empty schedule drops every non-manual tag but still keeps the newest revision.
  auto plan = by_uuid(plan_expiry(
      Schedule{}, at(0s),
      {rev("a", -kDay, {"daily"}), rev("m", -kDay + 1s, {"manual:x"}), rev("b", 0s, {"daily"})}));
  CHECK(plan.size() == 2);
  CHECK(plan["a"].remove);
  CHECK_FALSE(plan["b"].remove);
  CHECK_FALSE(plan.contains("m"));
}

}  // namespace
}  // namespace backy

namespace backy {
namespace {

TEST_CASE("expiry: a held (mounted) revision loses its tags but is not deleted until released",
          "[schedule]") {
  const Schedule schedule{{"daily", {kDay, 3}}};
  auto held = by_uuid(plan_expiry(schedule, at(0s), daily_history(10, {"daily"}), {"d7"}));
  REQUIRE(held.size() == 6);
  CHECK_FALSE(held.at("d7").remove);
  CHECK(held.at("d7").removed_tags == Tags{"daily"});
  CHECK(held.at("d7").remaining_tags.empty());
  CHECK_THAT(held.at("d7").reason, Catch::Contains("mounted"));
  CHECK(held.at("d6").remove);
  CHECK(held.at("d8").remove);

  // Released: the next plan deletes it (it carries no tags any more).
  auto history = daily_history(10, {"daily"});
  for (auto& r : history)
    if (r.uuid == "d7") r.tags.clear();
  auto released = by_uuid(plan_expiry(schedule, at(0s), history));
  CHECK(released.at("d7").remove);
}

}  // namespace
}  // namespace backy

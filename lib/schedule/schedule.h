// When a job runs and with which tags: spread, regular slots, catch-up, SLA, failure backoff.
//
// Pure functions of (schedule, spread, now, history): nothing here reads the wall clock, touches
// a file or keeps state, so the daemon, `backyd --once`, `backyctl status` and the tests all get
// the same answer for the same inputs. Safe to call from any thread. The expiry plan (which
// revisions lose tags or go) lives beside it in schedule/expiry.h.
//
// Semantics follow backy 2.x (docs/operations.md, "How schedules place runs"):
//   - Every tag {interval, keep} has regular slots k * interval + (spread mod interval) seconds
//     after the Unix epoch. A job's regular run is the earliest slot over its tags and carries
//     every tag whose slot falls on that same second (daily and weekly coincide once a week).
//   - A tag is *missed* once the newest revision carrying it is at least `interval` old, or when
//     no revision carries it. A missed tag does not wait for its slot: it runs as soon as it is
//     missed, unless a regular run comes within 5 minutes anyway, which then also carries it.
//   - A job with no revisions at all runs now with every tag.
//
// All times are in whole seconds where slots are concerned (slots are whole seconds after the
// epoch); history timestamps keep their full precision.
#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "schedule/duration.h"
#include "util/time.h"

namespace backy {

// Tags with this prefix are given by an operator for an ad-hoc run (`--tags
// manual:before-upgrade`). They are never part of a schedule, never due, and never expire.
inline constexpr std::string_view kManualTagPrefix = "manual:";
bool is_manual_tag(const std::string& tag);

// The one rule for tag names, wherever they come from (a schedule, `run --tags`, `tags --add`):
// 1 to 64 of [A-Za-z0-9_.:-]. No comma (tag lists are comma-separated), no space, no slash.
bool is_valid_tag(const std::string& tag);

// What the schedule needs to know of one revision. REQUIRES: only complete revisions are passed
// as history; an incomplete one proves nothing about whether a backup exists.
struct RevisionInfo {
  std::string uuid;
  TimePoint timestamp;  // when its run began
  std::set<std::string> tags;
};

// One run of a job: when, and with which tags.
struct DueRun {
  TimePoint time{};
  std::set<std::string> tags;
  // True when `time` is not a regular slot: the run is early, to catch up missed tags.
  bool catch_up = false;
  bool operator==(const DueRun&) const = default;
};

// The job's spread in seconds, in [0, largest interval of `schedule`); 0 for an empty schedule.
// A hash of the name's bytes that is the same on every machine, build and run, so a job keeps its
// time of day across restarts and 1000 jobs do not start in the same second.
Seconds job_spread(const std::string& job_name, const Schedule& schedule);

// The job's next regular run strictly after `now`: the earliest slot over all tags, carrying every
// tag due on that slot. catch_up is false. An empty schedule never runs: {TimePoint::max(), {}}.
DueRun next_regular_run(const Schedule& schedule, Seconds spread, TimePoint now);

// Schedule tags that are missed at `now` (see the top of this file). Tags of `history` that the
// schedule does not name (manual:*, tags of an old schedule) never count.
std::set<std::string> missed_tags(const Schedule& schedule, TimePoint now,
                                  const std::vector<RevisionInfo>& history);

// The job's next run at or after `now`, with catch-up:
//   - no revisions at all: {now, every tag};
//   - some tag missed now and no regular run within 5 minutes: {now, the missed tags};
//   - a tag becomes missed later, more than 5 minutes before the next regular run: {that moment,
//     the tags missed then};
//   - otherwise the next regular run, plus every tag that is missed by its time.
// The answer does not go stale: next_run(t) is the same for every t in [now, time) as long as the
// history does not change, so a caller may recompute whenever it likes before the due time. At or
// after `time`, run the DueRun the timer was armed with: the slot at `time` itself is no longer
// "strictly after now" and would be skipped by a recomputation.
DueRun next_run(const Schedule& schedule, Seconds spread, TimePoint now,
                const std::vector<RevisionInfo>& history);

// The tags to run with if the job runs right now (`backyd --once`): every tag if there are no
// revisions, else the missed tags plus the tags whose regular slot is the current second. Empty
// when nothing is due. Unlike next_run there is no 5-minute grace: the operator asked for now.
std::set<std::string> due_tags(const Schedule& schedule, Seconds spread, TimePoint now,
                               const std::vector<RevisionInfo>& history);

// The grace before a missed tag runs on its own instead of joining the next regular run.
inline constexpr Seconds kCatchUpGrace{5 * 60};

// SLA: true when the newest complete revision (any tags, manual ones included), or with none the
// moment the job was first seen, is more than 1.5 x the smallest interval of the schedule old.
// An empty schedule is never overdue.
bool is_overdue(const Schedule& schedule, TimePoint now, std::optional<TimePoint> newest_revision,
                TimePoint first_seen);

// How long to wait before retrying after the n-th consecutive failure: `first`, doubled for each
// failure after the first, at most 6 hours; with the default (the config's retry-after) 2, 4, 8
// ... 256, 360, 360 ... minutes. 0 for n < 1 (no failure, no wait).
Seconds failure_backoff(int consecutive_failures, Seconds first = std::chrono::minutes(2));

// Tags as written on a command line and in logs: "daily,weekly". parse_tag_list drops empty
// items ("a,,b" -> {a, b}); join_tags writes them sorted, comma-separated.
std::set<std::string> parse_tag_list(const std::string& text);
std::string join_tags(const std::set<std::string>& tags);

// Checks the tags of a forced run (`backyd --once --tags a,b`, `backyctl run --tags`): each must
// be a tag of the schedule or manual:<name> with a non-empty name. nullopt when all are fine,
// otherwise a message naming every offending tag. An empty set is an error too.
std::optional<std::string> check_forced_tags(const Schedule& schedule,
                                             const std::set<std::string>& tags);

}  // namespace backy

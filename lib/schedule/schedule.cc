#include "schedule/schedule.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>

#include "schedule/time_arith.h"

namespace backy {

using schedule_detail::clamp_time;
using schedule_detail::floor_div;
using schedule_detail::floor_mod;
using schedule_detail::kTicksPerSecond;
using schedule_detail::ticks;
using schedule_detail::Wide;

namespace {

// FNV-1a over the bytes, then the MurmurHash3 finalizer. FNV alone leaves names that differ in
// their last byte ("vm01", "vm02") close together in the low bits the modulo keeps; the finalizer
// spreads every input bit over the whole word. Both are fixed, byte-order independent formulas.
uint64_t stable_hash(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

// Intervals are positive in a loaded config; a zero or negative one would make every slot
// computation divide by zero, so such a tag is treated as not scheduled at all.
bool usable(const TagSpec& spec) {
  return spec.interval.count() > 0;
}

// Whole seconds since the epoch, rounded down: a slot at second S is "now" during all of S.
Wide epoch_seconds(TimePoint t) {
  return floor_div(ticks(t), kTicksPerSecond);
}

// The first slot of `spec` strictly after second `t`, in seconds since the epoch.
Wide next_slot(const TagSpec& spec, Wide spread, Wide t) {
  Wide interval = spec.interval.count();
  Wide s = floor_mod(spread, interval);
  return (floor_div(t - s, interval) + 1) * interval + s;
}

bool on_slot(const TagSpec& spec, Wide spread, Wide t) {
  Wide interval = spec.interval.count();
  return floor_mod(t - floor_mod(spread, interval), interval) == 0;
}

// Per schedule tag, the tick from which it counts as missed: newest revision carrying it plus
// its interval. A tag no revision carries has been missed forever.
std::map<std::string, Wide> missed_from(const Schedule& schedule,
                                        const std::vector<RevisionInfo>& history) {
  constexpr Wide kForever = std::numeric_limits<Wide>::min();
  std::map<std::string, Wide> from;
  for (const auto& [tag, spec] : schedule) {
    if (!usable(spec)) continue;
    std::optional<Wide> newest;
    for (const RevisionInfo& r : history)
      if (r.tags.contains(tag))
        newest = std::max(newest.value_or(ticks(r.timestamp)), ticks(r.timestamp));
    from[tag] = newest ? *newest + ticks(spec.interval) : kForever;
  }
  return from;
}

std::set<std::string> missed_at(const std::map<std::string, Wide>& from, Wide t) {
  std::set<std::string> tags;
  for (const auto& [tag, since] : from)
    if (t >= since) tags.insert(tag);
  return tags;
}

std::set<std::string> all_tags(const Schedule& schedule) {
  std::set<std::string> tags;
  for (const auto& entry : schedule)
    if (usable(entry.second)) tags.insert(entry.first);
  return tags;
}

}  // namespace

bool is_manual_tag(const std::string& tag) {
  return tag.starts_with(kManualTagPrefix);
}

bool is_valid_tag(const std::string& tag) {
  if (tag.empty() || tag.size() > 64) return false;
  for (char c : tag) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Seconds job_spread(const std::string& job_name, const Schedule& schedule) {
  int64_t largest = 0;
  for (const auto& entry : schedule) largest = std::max(largest, entry.second.interval.count());
  if (largest <= 0) return Seconds(0);
  return Seconds(static_cast<int64_t>(stable_hash(job_name) % static_cast<uint64_t>(largest)));
}

DueRun next_regular_run(const Schedule& schedule, Seconds spread, TimePoint now) {
  const Wide t = epoch_seconds(now);
  std::optional<Wide> best;
  std::set<std::string> tags;
  for (const auto& [tag, spec] : schedule) {
    if (!usable(spec)) continue;
    Wide slot = next_slot(spec, spread.count(), t);
    if (!best || slot < *best) {
      best = slot;
      tags.clear();
    }
    if (slot == *best) tags.insert(tag);
  }
  if (!best) return DueRun{TimePoint::max(), {}, false};
  return DueRun{clamp_time(*best * kTicksPerSecond), std::move(tags), false};
}

std::set<std::string> missed_tags(const Schedule& schedule, TimePoint now,
                                  const std::vector<RevisionInfo>& history) {
  return missed_at(missed_from(schedule, history), ticks(now));
}

DueRun next_run(const Schedule& schedule, Seconds spread, TimePoint now,
                const std::vector<RevisionInfo>& history) {
  DueRun regular = next_regular_run(schedule, spread, now);
  if (regular.tags.empty()) return regular;
  if (history.empty()) return DueRun{now, all_tags(schedule), true};

  // The first moment (not before now) at which some tag is missed. If the regular run is more
  // than the grace away from it, catch up then; otherwise the regular run takes the missed tags.
  // Taking the *first* such moment rather than only "missed now" is what keeps the answer from
  // going stale while a caller sleeps towards it (see the header).
  const auto from = missed_from(schedule, history);
  Wide first_missed = std::numeric_limits<Wide>::max();
  for (const auto& entry : from) first_missed = std::min(first_missed, entry.second);
  const Wide when = std::max(ticks(now), first_missed);
  const Wide regular_at = ticks(regular.time);
  if (regular_at - when > ticks(kCatchUpGrace))
    return DueRun{clamp_time(when), missed_at(from, when), true};

  regular.tags.merge(missed_at(from, regular_at));
  return regular;
}

std::set<std::string> due_tags(const Schedule& schedule, Seconds spread, TimePoint now,
                               const std::vector<RevisionInfo>& history) {
  if (history.empty()) return all_tags(schedule);
  std::set<std::string> tags = missed_tags(schedule, now, history);
  const Wide t = epoch_seconds(now);
  for (const auto& [tag, spec] : schedule)
    if (usable(spec) && on_slot(spec, spread.count(), t)) tags.insert(tag);
  return tags;
}

bool is_overdue(const Schedule& schedule, TimePoint now, std::optional<TimePoint> newest_revision,
                TimePoint first_seen) {
  std::optional<Wide> smallest;
  for (const auto& entry : schedule) {
    if (!usable(entry.second)) continue;
    Wide i = ticks(entry.second.interval);
    smallest = std::min(smallest.value_or(i), i);
  }
  if (!smallest) return false;
  const Wide age = ticks(now) - ticks(newest_revision.value_or(first_seen));
  return 2 * age > 3 * *smallest;  // age > 1.5 x interval, exactly, in integer ticks
}

Seconds failure_backoff(int consecutive_failures, Seconds first) {
  if (consecutive_failures < 1) return Seconds(0);
  constexpr Seconds kCap = std::chrono::hours(6);
  const Seconds base = std::clamp(first, Seconds(1), kCap);
  // Doubling 40 times exceeds the cap from any base: stopping there keeps the shift defined.
  const int shift = std::min(consecutive_failures - 1, 40);
  if (base.count() > (kCap.count() >> shift)) return kCap;
  return Seconds(base.count() << shift);
}

std::set<std::string> parse_tag_list(const std::string& text) {
  std::set<std::string> out;
  for (size_t start = 0; start <= text.size();) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    if (comma > start) out.insert(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

std::string join_tags(const std::set<std::string>& tags) {
  std::string out;
  for (const auto& t : tags) out += (out.empty() ? "" : ",") + t;
  return out;
}

std::optional<std::string> check_forced_tags(const Schedule& schedule,
                                             const std::set<std::string>& tags) {
  std::string known;
  for (const auto& entry : schedule) known += (known.empty() ? "" : ", ") + entry.first;
  const std::string hint =
      "a run takes tags of the job's schedule (" + known + ") or manual:<name>";
  if (tags.empty()) return "no tags given: " + hint;

  std::vector<std::string> bad;
  for (const std::string& tag : tags) {
    bool manual = is_manual_tag(tag) && tag.size() > kManualTagPrefix.size();
    if (!manual && !schedule.contains(tag)) bad.push_back(tag);
  }
  if (bad.empty()) return std::nullopt;
  std::string msg = bad.size() == 1 ? "unknown tag " : "unknown tags ";
  for (size_t i = 0; i < bad.size(); ++i) msg += (i ? ", '" : "'") + bad[i] + "'";
  return msg + ": " + hint;
}

}  // namespace backy

#include "schedule/expiry.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "schedule/time_arith.h"

namespace backy {

using schedule_detail::ticks;
using schedule_detail::Wide;

std::vector<ExpiryDecision> plan_expiry(const Schedule& schedule, TimePoint now,
                                        const std::vector<RevisionInfo>& history,
                                        const std::set<std::string>& held) {
  if (history.empty()) return {};
  // Indices into history, oldest first.
  std::vector<size_t> order(history.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return history[a].timestamp < history[b].timestamp; });

  // Why each tag goes, per revision index.
  std::vector<std::map<std::string, std::string>> removed(history.size());

  for (const auto& [tag, spec] : schedule) {
    std::vector<size_t> carriers;
    for (size_t i : order)
      if (history[i].tags.contains(tag)) carriers.push_back(i);
    const size_t keep = static_cast<size_t>(std::max(spec.keep, 0));
    if (carriers.size() <= keep) continue;
    // In 128 bits: keep x interval of a generous config would overflow TimePoint's ticks.
    const Wide window = Wide(keep) * ticks(spec.interval);
    const Wide threshold = ticks(now) - window;
    const std::string why = "beyond the newest " + std::to_string(keep) + " and older than " +
                            std::to_string(keep) + " x " + format_duration(spec.interval);
    for (size_t n = 0; n + keep < carriers.size(); ++n) {
      size_t i = carriers[n];
      if (ticks(history[i].timestamp) < threshold) removed[i][tag] = why;
    }
  }

  for (size_t i = 0; i < history.size(); ++i)
    for (const std::string& tag : history[i].tags)
      if (!schedule.contains(tag) && !is_manual_tag(tag)) removed[i][tag] = "not in the schedule";

  const size_t newest = order.back();
  std::vector<ExpiryDecision> plan;
  for (size_t i : order) {
    const RevisionInfo& rev = history[i];
    ExpiryDecision d{rev.uuid, {}, {}, false, ""};
    for (const std::string& tag : rev.tags) {
      auto it = removed[i].find(tag);
      if (it == removed[i].end()) {
        d.remaining_tags.insert(tag);
        continue;
      }
      d.removed_tags.insert(tag);
      d.reason += (d.reason.empty() ? "" : "; ") + tag + ": " + it->second;
    }
    if (d.remaining_tags.empty()) {
      const bool is_held = held.contains(rev.uuid);
      d.remove = i != newest && !is_held;
      d.reason += std::string(d.reason.empty() ? "" : "; ") +
                  (d.remove      ? "no tags left"
                   : i == newest ? "no tags left, kept as the newest revision"
                                 : "no tags left, kept while it is mounted or exported");
    }
    if (d.removed_tags.empty() && !d.remove) continue;
    plan.push_back(std::move(d));
  }
  return plan;
}

}  // namespace backy

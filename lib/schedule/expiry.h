// Which revisions of a job lose which tags, and which are deleted: the expiry plan.
//
// Pure: plan_expiry() looks only at (schedule, now, history) and returns decisions; the repo
// module applies them (rewrites .rev tags, deletes files). Nothing here touches a file or reads
// the clock, so a plan can be logged or shown exactly as it would be applied.
//
// Rules (backy 2.x; docs/operations.md, "How schedules place runs"):
//   - Per schedule tag {interval, keep}: the newest `keep` revisions carrying it keep it; an older
//     one loses it once it is older than keep x interval. A tag is therefore kept while either
//     holds, so a burst of runs (catch-up after downtime) cannot push out a revision that is still
//     inside the window, and a job that stopped running keeps its last `keep` forever.
//   - Tags the schedule does not name (a tag removed from the schedule) are dropped at once;
//     manual:* tags are never dropped.
//   - A revision left without tags is deleted, except the newest revision: it is the parent of the
//     next incremental run and the target of `latest`, so it stays even with no tags left (the
//     next plan, once a newer revision exists, deletes it).
//   - A held revision (mounted or exported: mount/mount_registry.h) is not deleted while held;
//     it may lose tags, and the first plan after the hold ends deletes it.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "schedule/schedule.h"
#include "util/time.h"

namespace backy {

// What happens to one revision.
struct ExpiryDecision {
  std::string uuid;
  std::set<std::string> removed_tags;
  std::set<std::string> remaining_tags;  // its tags after the plan
  bool remove = false;                   // delete the revision (remaining_tags is empty)
  std::string reason;                    // for the log: why each tag went, why it is (not) deleted
  bool operator==(const ExpiryDecision&) const = default;
};

// One decision for every revision that changes (loses a tag or is deleted), oldest first;
// revisions that stay as they are do not appear. `history` is every complete revision of the
// job, in any order; a tie in timestamps is broken by order in `history` (later = newer).
// `held`: uuids of revisions that must not be deleted now.
std::vector<ExpiryDecision> plan_expiry(const Schedule& schedule, TimePoint now,
                                        const std::vector<RevisionInfo>& history,
                                        const std::set<std::string>& held = {});

}  // namespace backy

// apply_expiry: carry out the schedule's expiry plan on one job's directory.
//
// schedule/expiry.h decides (pure); this applies: rewrites the .rev of revisions that lose tags
// and deletes the revisions left without any. Each change is logged with its reason. The newest
// revision is never deleted (the plan guarantees it; this checks it again, since a deleted
// revision cannot be brought back).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "repo/repository.h"
#include "schedule/expiry.h"

namespace spdlog {
class logger;
}

namespace backy {

std::vector<RevisionInfo> revision_infos(const std::vector<Revision>& revisions);

// REQUIRES: `lock` is held on `repo`. Returns the decisions it carried out. `held`: revisions
// not to delete now (mounted or exported; plan_expiry).
std::vector<ExpiryDecision> apply_expiry(Repository& repo, const Repository::Lock& lock,
                                         const Schedule& schedule, TimePoint now,
                                         spdlog::logger& log,
                                         const std::set<std::string>& held = {});

}  // namespace backy

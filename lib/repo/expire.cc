#include "repo/expire.h"

#include <spdlog/spdlog.h>

#include "util/error.h"

namespace backy {

std::vector<RevisionInfo> revision_infos(const std::vector<Revision>& revisions) {
  std::vector<RevisionInfo> out;
  out.reserve(revisions.size());
  for (const auto& r : revisions) out.push_back({r.uuid, r.timestamp, r.tags});
  return out;
}

std::vector<ExpiryDecision> apply_expiry(Repository& repo, const Repository::Lock& lock,
                                         const Schedule& schedule, TimePoint now,
                                         spdlog::logger& log) {
  const std::vector<Revision> revisions = repo.revisions();
  if (revisions.empty()) return {};
  const std::string newest = revisions.back().uuid;
  std::vector<ExpiryDecision> plan = plan_expiry(schedule, now, revision_infos(revisions));
  for (const ExpiryDecision& d : plan) {
    if (d.remove) {
      if (d.uuid == newest) throw Error("expiry plan would delete the newest revision " + newest);
      log.info("expiring revision {}: {}", d.uuid, d.reason);
      repo.remove(lock, d.uuid);
    } else {
      Revision rev = repo.find(d.uuid);
      rev.tags = d.remaining_tags;
      std::string kept;
      for (const auto& t : d.remaining_tags) kept += (kept.empty() ? "" : ",") + t;
      log.info("revision {} keeps [{}]: {}", d.uuid, kept, d.reason);
      repo.update(lock, rev);
    }
  }
  return plan;
}

}  // namespace backy

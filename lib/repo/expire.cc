#include "repo/expire.h"

#include <spdlog/spdlog.h>

#include <map>

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
                                         spdlog::logger& log, const std::set<std::string>& held) {
  const std::vector<Revision> revisions = repo.revisions();
  if (revisions.empty()) return {};
  const std::string newest = revisions.back().uuid;
  std::vector<ExpiryDecision> plan = plan_expiry(schedule, now, revision_infos(revisions), held);
  std::map<std::string, const Revision*> by_uuid;
  for (const Revision& r : revisions) by_uuid[r.uuid] = &r;
  for (const ExpiryDecision& d : plan) {
    if (d.remove) {
      if (d.uuid == newest) throw Error("expiry plan would delete the newest revision " + newest);
      if (held.contains(d.uuid)) throw Error("expiry plan would delete held revision " + d.uuid);
      log.info("expiring revision {}: {}", d.uuid, d.reason);
      repo.remove(lock, d.uuid);
    } else if (by_uuid.at(d.uuid)->tags != d.remaining_tags) {
      // Only a revision that loses tags is rewritten: a .rev is touched no more than needed.
      Revision rev = *by_uuid.at(d.uuid);
      rev.tags = d.remaining_tags;
      log.info("revision {} keeps [{}]: {}", d.uuid, join_tags(d.remaining_tags), d.reason);
      repo.update(lock, rev);
    }
  }
  return plan;
}

}  // namespace backy

#include "repo/adopt.h"

#include "store/scrub.h"
#include "util/error.h"

namespace backy {

namespace {

Revision ours_of(const UpstreamRevision& u, const BlockSums& sums) {
  Revision r;
  r.uuid = u.uuid;
  r.timestamp = u.timestamp;
  r.parent = u.parent;
  r.tags = u.tags;
  r.trust = u.trust;
  r.source = {{"type", "upstream-backy"}};
  r.size = sums.image_size();
  r.stats.bytes_written = u.bytes_written;
  r.stats.duration = u.duration;
  return r;
}

}  // namespace

AdoptReport adopt_upstream(Repository& repo, const Repository::Lock& lock, std::stop_token stop,
                           const AdoptHooks& hooks) {
  AdoptReport report;
  // What an earlier, interrupted adoption left (temp files, a .sums without its commit) goes.
  report.warnings = repo.repair(lock).warnings;
  const std::vector<UpstreamRevision> found = repo.upstream_revisions(&report.unreadable);
  size_t committed = 0;
  for (const UpstreamRevision& u : found) {
    AdoptOutcome outcome{u.uuid, false, ""};
    if (u.backend_type != "cowfile") {
      outcome.why = "backend_type '" + u.backend_type +
                    "': upstream's chunk store, which backyd does not read (left alone)";
    } else {
      try {
        UniqueFd image = repo.open_image(u.uuid);
        const BlockSums sums = sums_of_image(image.get(), repo.image_path(u.uuid).string(), stop);
        if (hooks.before_commit) hooks.before_commit(committed);
        repo.commit_adopted(lock, ours_of(u, sums), sums);
        outcome.adopted = true;
        ++committed;
      } catch (const Cancelled&) {
        throw;
      } catch (const Error& e) {
        outcome.why = e.what();
      }
    }
    report.revisions.push_back(outcome);
    if (hooks.each) hooks.each(outcome, report.revisions.size(), found.size());
  }
  // `latest` names the newest revision, now perhaps an adopted one.
  const auto after = repo.repair(lock).warnings;
  report.warnings.insert(report.warnings.end(), after.begin(), after.end());
  return report;
}

}  // namespace backy

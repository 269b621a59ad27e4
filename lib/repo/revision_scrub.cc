#include "repo/revision_scrub.h"

#include "util/error.h"

namespace backy {

ScrubReport scrub_revision(Repository& repo, const Repository::Lock& lock, const std::string& uuid,
                           std::stop_token stop) {
  ScrubReport report;
  report.revision = repo.find(uuid);
  Revision& rev = report.revision;
  try {
    BlockSums sums = repo.load_sums(uuid);
    UniqueFd image = repo.open_image(uuid);
    report.bad_blocks = scrub_image(image.get(), repo.image_path(uuid).string(), sums, stop);
  } catch (const Cancelled&) {
    throw;
  } catch (const Error& e) {
    rev.trust = Trust::distrusted;
    rev.scrubbed = format_iso8601(Clock::now());
    repo.update(lock, rev);
    throw Error("scrub of " + uuid + " failed, revision marked distrusted: " + e.what());
  }
  rev.bad_blocks.clear();
  for (const auto& b : report.bad_blocks) rev.bad_blocks.push_back(b.block);
  rev.trust = report.bad_blocks.empty() ? Trust::verified : Trust::distrusted;
  rev.scrubbed = format_iso8601(Clock::now());
  repo.update(lock, rev);
  return report;
}

}  // namespace backy

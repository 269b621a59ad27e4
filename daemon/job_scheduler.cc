#include "job_scheduler.h"

namespace backy {

std::string to_string(JobState s) {
  switch (s) {
    case JobState::waiting:
      return "waiting";
    case JobState::queued:
      return "queued";
    case JobState::running:
      return "running";
    case JobState::failed:
      return "failed";
    case JobState::paused:
      return "paused";
  }
  return "waiting";
}

NewestRevision newest_of(const Revision& r) {
  return {r.uuid, r.timestamp, r.tags, r.stats.duration, r.trust, r.consistency};
}

HistorySummary summarize_history(const std::vector<Revision>& history,
                                 std::vector<std::string> problems) {
  HistorySummary s;
  if (!history.empty()) s.newest = newest_of(history.back());
  s.revisions = history.size();
  for (const auto& r : history) {
    s.bytes_written += r.stats.bytes_written;
    if (r.trust == Trust::distrusted) s.findings.distrusted.push_back(r.uuid);
    if (!r.bad_blocks.empty()) s.findings.bad_blocks[r.uuid] = r.bad_blocks.size();
  }
  s.findings.problems = std::move(problems);
  return s;
}

void JobScheduler::each_status(const std::function<void(JobStatus&&)>& f) const {
  for (auto& s : status()) f(std::move(s));
}

}  // namespace backy

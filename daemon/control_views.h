// What the control socket shows besides the job table (job_table_view.h) and metrics
// (metrics_view.h): a job's revisions, base-dir's space, the lanes, health. Pure functions, no
// I/O: the handler gathers the facts, these only shape them. The JSON shapes are documented in
// docs/protocol.md.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "job_scheduler.h"
#include "protocol/message.h"
#include "util/fs_space.h"

namespace backy {

protocol::Json revision_json(const Revision& r);
// base-dir's free space and inodes as status shows them: {"path", "free_bytes", "total_bytes",
// "free_inodes", "total_inodes", "free_percent", "free_inode_percent"}; null when unknown.
protocol::Json space_json(const std::string& base_dir, const std::optional<FsSpace>& space);

struct HealthFacts {
  std::vector<JobStatus> jobs;   // each with its revisions' findings (evaluate_health only)
  std::optional<bool> reflinks;  // whether base-dir supports reflinks (unknown: nullopt)
  std::string base_dir;
  std::optional<std::string> refused_reload;  // JobScheduler::refused_reload
  std::optional<FsSpace> space;               // base-dir's filesystem (unknown: nullopt)
  double free_space_warning = 10, free_space_critical = 5;  // percent, from the config
  TimePoint now{};                                          // for ages in the perfdata
};

// {"status": "OK"|"WARNING"|"CRITICAL", "exit_code": 0|1|2, "summary": "...",
//  "problems": [{"level": "CRITICAL"|"WARNING", "job": "...", "message": "..."}],
//  "perfdata": "jobs=12 overdue=0 ..."}  (monitoring-plugin performance data)
// CRITICAL: a job overdue, a revision with bad blocks, base-dir below free-space-critical.
// WARNING: a paused job, a job whose last run failed but is within its SLA, a committed run whose
// later steps failed (expiry, `latest`, the source's clean-up), distrusted revisions, a base-dir
// without reflinks or below free-space-warning, unreadable metadata, a refused configuration
// reload (until an accepted one).
protocol::Json evaluate_health(const HealthFacts& facts);

// evaluate_health one job at a time, without a copy of the job table: add() each job on the
// thread that owns them, then finish() with the daemon's facts (facts.jobs and now unused)
// where base-dir can be asked. The problems kept are what the answer lists.
class HealthCheck {
 public:
  explicit HealthCheck(TimePoint now) : now_(now) {}
  void add(const JobStatus& s);
  // REQUIRES: called once.
  protocol::Json finish(const HealthFacts& facts);

 private:
  void problem(bool critical, const std::string& job, const std::string& message);

  TimePoint now_;
  protocol::Json problems_ = protocol::Json::array();
  int jobs_ = 0, critical_ = 0, warning_ = 0, overdue_ = 0, failed_ = 0, bad_revs_ = 0,
      distrusted_ = 0, paused_ = 0, never_ = 0;
  double oldest_ = 0;  // seconds: the oldest among the jobs' newest revisions
};

// {"fast": {"slots", "running", "queued"}, "slow": {...}, "work": {...}}: status' summary.lanes.
protocol::Json lanes_json(const std::vector<LaneLoad>& lanes);

}  // namespace backy

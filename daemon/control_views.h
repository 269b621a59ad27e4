// What the control socket shows: the job table, a job's revisions, health and metrics, built as
// JSON (or Prometheus text) from the scheduler's values. Pure functions, no I/O: the handler
// gathers the facts, these only shape them. The JSON shapes are documented in docs/protocol.md.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "job_scheduler.h"
#include "protocol/message.h"
#include "util/fs_space.h"

namespace backy {

// The wire name of a job state ("waiting", "queued", "running", "failed", "paused").

protocol::Json job_json(const JobStatus& s);
protocol::Json revision_json(const Revision& r);
// {"done": bytes, "total": bytes (0: not known yet), "elapsed": s, "rate": bytes/s,
//  "eta": s or null, "throttled": s waited for read limits}: a running backup in `status` and in
//  run --wait's progress lines.
protocol::Json progress_json(const ProgressSample& p);
// base-dir's free space and inodes as status shows them: {"path", "free_bytes", "total_bytes",
// "free_inodes", "total_inodes", "free_percent", "free_inode_percent"}; null when unknown.
protocol::Json space_json(const std::string& base_dir, const std::optional<FsSpace>& space);
// The `status` result: jobs, a summary, base-dir's space, and the orphaned job directories.
// `table` (what backyctl's text table asks for, "table": true): "jobs" holds only the jobs the
// text says more of (running or paused), and "rows" one array per job of the fields the table
// prints (status_row_json): with 10,000 jobs a tenth of the bytes to encode, send and parse.
protocol::Json status_json(const std::vector<JobStatus>& jobs,
                           const std::vector<std::string>& orphans, int running, int queued,
                           int worker_limit, const protocol::Json& space = nullptr,
                           bool table = false);
// [job, state, lane, overdue, last backup's time or null, its tags ("a,b") or null, its duration
// or null, next time or null, next tags ("a,b")]: one row of the text table.
protocol::Json status_row_json(const JobStatus& s);

struct HealthFacts {
  std::vector<JobStatus> jobs;   // each with its revisions' findings
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

// {"fast": {"slots", "running", "queued"}, "slow": {...}, "work": {...}}: status' summary.lanes.
protocol::Json lanes_json(const std::vector<LaneLoad>& lanes);

// Prometheus text exposition format, version 0.0.4.
std::string metrics_text(const std::vector<JobStatus>& jobs, int running, int queued,
                         int worker_limit);
// backy_lane_slots, backy_lane_running, backy_lane_queued{lane="fast"|"slow"|"work"}: appended
// to metrics_text's.
std::string lane_metrics_text(const std::vector<LaneLoad>& lanes);
// backy_read_limit_bytes: the global read-limit (bytes/s, 0: none), appended to metrics_text's.
std::string read_limit_metrics_text(uint64_t read_limit);
// The base-dir families (free and total bytes and inodes), appended to metrics_text's where known.
std::string space_metrics_text(const FsSpace& space);

}  // namespace backy

// The `metrics` answer: Prometheus text exposition format, version 0.0.4 (docs/protocol.md,
// "metrics"). Pure, no I/O; any thread, one object per answer.
//
// Prometheus wants each family's samples together, so a job's figures cannot go out as the job
// comes by: JobMetrics keeps a few numbers per job (about 100 bytes, not a JobStatus) and writes
// the families from them in one pass into one buffer (fmt).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "job_scheduler.h"
#include "util/fs_space.h"

namespace backy {

class JobMetrics {
 public:
  // Each job, in the order its samples are listed.
  void add(const JobStatus& s);
  // The job families, then backy_jobs, backy_jobs_running, backy_jobs_queued,
  // backy_worker_limit.
  std::string text(int running, int queued, int worker_limit) const;

 private:
  struct Row {
    std::string label;  // the job's name, escaped as a label value
    bool succeeded = false;
    double last_success = 0, last_duration = 0, throttled_total = 0;
    uint64_t bytes_written = 0, revisions = 0, failures = 0, read_limit = 0;
    int consecutive_failures = 0;
    bool overdue = false;
  };
  std::vector<Row> rows_;
};

// JobMetrics over `jobs` (tests, and small tables).
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

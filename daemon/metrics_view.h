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

// What the metrics answer says, gathered on the io thread (where the job table and the
// scheduler's figures live) and formatted elsewhere: with 10,000 jobs the formatting is about
// 30 ms, and runs on a reader so that the event loop only pays for copying the rows. All but
// base-dir's space, which the reader asks itself (statvfs may hang).
struct MetricsFigures {
  JobMetrics jobs;
  int running = 0, queued = 0, worker_limit = 0;
  std::vector<LaneLoad> lanes;
  uint64_t read_limit = 0;  // the global one, bytes/s; 0: none

  // jobs.text(running, queued, worker_limit), lane_metrics_text(lanes) and
  // read_limit_metrics_text(read_limit), in this order.
  std::string text() const;
};

// JobMetrics over `jobs` (tests, and small tables).
std::string metrics_text(const std::vector<JobStatus>& jobs, int running, int queued,
                         int worker_limit);
// backy_lane_slots, backy_lane_running, backy_lane_queued{lane="fast"|"slow"|"work"}: appended
// to the job families.
std::string lane_metrics_text(const std::vector<LaneLoad>& lanes);
// backy_read_limit_bytes: the global read-limit (bytes/s, 0: none), appended to the lanes'.
std::string read_limit_metrics_text(uint64_t read_limit);
// The base-dir families (free and total bytes and inodes), appended to MetricsFigures::text()
// where known.
std::string space_metrics_text(const FsSpace& space);

}  // namespace backy

#include "metrics_view.h"

#include <fmt/compile.h>
#include <fmt/format.h>

#include <optional>
#include <sstream>

namespace backy {

namespace {

// Prometheus label values escape backslash, double quote and newline.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

void JobMetrics::add(const JobStatus& s) {
  Row r;
  r.label = label(s.name);
  if (s.last_backup) {
    r.succeeded = true;
    r.last_success = to_unix_seconds(s.last_backup->timestamp);
    r.last_duration = s.last_backup->duration;
  }
  r.throttled_total = s.throttled_total;
  r.bytes_written = s.bytes_written_total;
  r.revisions = s.revision_count;
  r.failures = s.total_failures;
  r.read_limit = s.read_limit;
  r.consecutive_failures = s.consecutive_failures;
  r.overdue = s.overdue;
  rows_.push_back(std::move(r));
}

std::string JobMetrics::text(int running, int queued, int worker_limit) const {
  // One buffer, written in place (fmt): with 10,000 jobs this is 100,000 lines, and streams
  // and a snprintf per number were most of the answer's time.
  std::string o;
  o.reserve(rows_.size() * 420 + 4096);
  auto out = std::back_inserter(o);
  auto family = [&](const char* name, const char* type, const char* help, auto value) {
    fmt::format_to(out, "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    // Appends and a compiled "{}": a format string parsed per sample was most of the time.
    const std::string_view prefix(name);
    for (const Row& r : rows_)
      if (const std::optional<double> v = value(r)) {
        o += prefix;
        o += "{job=\"";
        o += r.label;
        o += "\"} ";
        fmt::format_to(out, FMT_COMPILE("{}"), *v);
        o += '\n';
      }
  };
  using V = std::optional<double>;
  family("backy_job_last_success_timestamp_seconds", "gauge",
         "Start time of the newest complete revision (Unix seconds).",
         // 0 for a job that never succeeded, so that an alert on the age fires for it too.
         [](const Row& r) -> V { return r.succeeded ? r.last_success : 0.0; });
  family("backy_job_never_succeeded", "gauge", "1 when the job has no complete revision at all.",
         [](const Row& r) -> V { return r.succeeded ? 0.0 : 1.0; });
  family("backy_job_last_duration_seconds", "gauge", "Duration of the newest complete revision.",
         [](const Row& r) -> V { return r.succeeded ? V(r.last_duration) : std::nullopt; });
  family("backy_job_bytes_written", "gauge", "Bytes written by the job's kept revisions.",
         [](const Row& r) -> V { return double(r.bytes_written); });
  family("backy_job_revisions", "gauge", "Complete revisions kept.",
         [](const Row& r) -> V { return double(r.revisions); });
  family("backy_job_failures_total", "counter", "Failed runs since the daemon started.",
         [](const Row& r) -> V { return double(r.failures); });
  family("backy_job_consecutive_failures", "gauge", "Failed runs since the last success.",
         [](const Row& r) -> V { return double(r.consecutive_failures); });
  family("backy_job_read_limit_bytes", "gauge",
         "The job's own read-limit in bytes per second (0: none; the global one also applies).",
         [](const Row& r) -> V { return double(r.read_limit); });
  family("backy_job_throttled_seconds_total", "counter",
         "Seconds the job's runs waited for their read limits since the daemon started.",
         [](const Row& r) -> V { return r.throttled_total; });
  family("backy_job_overdue", "gauge", "1 when the job's newest revision is past its SLA.",
         [](const Row& r) -> V { return r.overdue ? 1.0 : 0.0; });
  auto scalar = [&](const char* name, const char* help, double v) {
    fmt::format_to(out, "# HELP {} {}\n# TYPE {} gauge\n{} {}\n", name, help, name, name, v);
  };
  scalar("backy_jobs", "Configured jobs.", double(rows_.size()));
  scalar("backy_jobs_running", "Backups running now.", running);
  scalar("backy_jobs_queued", "Backups waiting for a worker.", queued);
  scalar("backy_worker_limit", "Backups that may run at once.", worker_limit);
  return o;
}

std::string MetricsFigures::text() const {
  return jobs.text(running, queued, worker_limit) + lane_metrics_text(lanes) +
         read_limit_metrics_text(read_limit);
}

std::string metrics_text(const std::vector<JobStatus>& jobs, int running, int queued,
                         int worker_limit) {
  JobMetrics m;
  for (const auto& s : jobs) m.add(s);
  return m.text(running, queued, worker_limit);
}

std::string lane_metrics_text(const std::vector<LaneLoad>& lanes) {
  std::ostringstream o;
  auto family = [&](const char* name, const char* help, int LaneLoad::*field) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " gauge\n";
    for (const auto& l : lanes)
      o << name << "{lane=\"" << lane_name(l.lane) << "\"} " << l.*field << '\n';
  };
  family("backy_lane_slots", "Tasks the lane may run at once (worker-limit).", &LaneLoad::slots);
  family("backy_lane_running", "Tasks running in the lane.", &LaneLoad::running);
  family("backy_lane_queued", "Tasks waiting for a slot in the lane.", &LaneLoad::queued);
  return o.str();
}

std::string read_limit_metrics_text(uint64_t read_limit) {
  return "# HELP backy_read_limit_bytes The global read-limit all running backups share, in bytes "
         "per second (0: none).\n# TYPE backy_read_limit_bytes gauge\nbacky_read_limit_bytes " +
         std::to_string(read_limit) + '\n';
}

std::string space_metrics_text(const FsSpace& s) {
  std::ostringstream o;
  auto scalar = [&](const char* name, const char* help, uint64_t v) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " gauge\n"
      << name << ' ' << v << '\n';
  };
  scalar("backy_base_dir_free_bytes", "Free bytes in base-dir's filesystem.", s.free_bytes);
  scalar("backy_base_dir_size_bytes", "Size of base-dir's filesystem.", s.total_bytes);
  scalar("backy_base_dir_free_inodes", "Free inodes in base-dir's filesystem.", s.free_inodes);
  scalar("backy_base_dir_inodes", "Inodes of base-dir's filesystem (0: not fixed).",
         s.total_inodes);
  return o.str();
}

}  // namespace backy

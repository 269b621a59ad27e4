#include "control_views.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "schedule/schedule.h"
#include "util/text.h"

namespace backy {

using protocol::Json;

namespace {

Json tags_json(const std::set<std::string>& tags) {
  return Json(std::vector<std::string>(tags.begin(), tags.end()));
}

Json run_json(const RunOutcome& r) {
  Json j{{"ok", r.ok},
         {"started", format_iso8601(r.started)},
         {"duration", r.duration},
         {"throttled", r.throttled},
         {"tags", tags_json(r.tags)}};
  if (r.ok)
    j["uuid"] = r.uuid;
  else
    j["error"] = r.error;
  if (!r.warnings.empty()) j["warnings"] = r.warnings;
  return j;
}

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

Json revision_json(const Revision& r) {
  Json bad = Json::array();
  for (uint64_t b : r.bad_blocks) bad.push_back(b);
  Json out = {{"uuid", r.uuid},
              {"time", format_iso8601(r.timestamp)},
              {"parent", r.parent},
              {"tags", tags_json(r.tags)},
              {"trust", to_string(r.trust)},
              {"consistency", to_string(r.consistency)},
              {"size", r.size},
              {"bytes_read", r.stats.bytes_read},
              {"bytes_written", r.stats.bytes_written},
              {"duration", r.stats.duration},
              {"bad_blocks", bad},
              {"scrubbed", r.scrubbed}};
  // Where the run's time went. Not in the job table's last_backup: status JOB has it, and a
  // table of 10,000 jobs need not carry it.
  if (!r.stats.phases.empty()) {
    Json phases = Json::object();
    for (const auto& [phase, secs] : r.stats.phases) phases[std::string(to_string(phase))] = secs;
    out["phases"] = std::move(phases);
  }
  return out;
}

Json job_json(const JobStatus& s) {
  Json j{
      {"job", s.name},
      {"state", to_string(s.state)},
      {"overdue", s.overdue},
      {"last_backup", nullptr},
      {"last_run", nullptr},
      // A paused job and a running backup have no next time (the epoch): null, not 1970.
      {"next_time", s.next_time == TimePoint{} ? Json(nullptr) : Json(format_iso8601(s.next_time))},
      {"next_tags", tags_json(s.next_tags)},
      {"consecutive_failures", s.consecutive_failures},
      {"total_failures", s.total_failures},
      {"revisions", s.revision_count},
      {"bytes_written", s.bytes_written_total},
      {"read_limit", s.read_limit ? Json(s.read_limit) : Json(nullptr)},
      {"io_priority", s.io_priority.empty() ? Json(nullptr) : Json(s.io_priority)},
      {"throttled", s.throttled}};
  if (s.last_backup) {
    const Revision& r = *s.last_backup;
    j["last_backup"] = Json{{"uuid", r.uuid},
                            {"time", format_iso8601(r.timestamp)},
                            {"tags", tags_json(r.tags)},
                            {"duration", r.stats.duration},
                            {"trust", to_string(r.trust)},
                            {"consistency", to_string(r.consistency)}};
  }
  if (s.last_run) j["last_run"] = run_json(*s.last_run);
  if (s.running_since) j["running_since"] = format_iso8601(*s.running_since);
  if (s.progress) j["progress"] = progress_json(*s.progress);
  j["lane"] = lane_name(s.lane);
  j["pause"] = s.pause ? Json{{"by", s.pause->by},
                              {"since", format_iso8601(s.pause->since)},
                              {"reason", s.pause->reason}}
                       : Json(nullptr);
  return j;
}

Json progress_json(const ProgressSample& p) {
  const auto eta = progress_eta(p);
  return Json{{"done", p.done},
              {"total", p.total},
              {"elapsed", p.elapsed},
              {"rate", progress_rate(p)},
              {"eta", eta ? Json(*eta) : Json(nullptr)},
              {"throttled", p.throttled}};
}

Json space_json(const std::string& base_dir, const std::optional<FsSpace>& space) {
  if (!space) return nullptr;
  return Json{{"path", base_dir},
              {"free_bytes", space->free_bytes},
              {"total_bytes", space->total_bytes},
              {"free_inodes", space->free_inodes},
              {"total_inodes", space->total_inodes},
              {"free_percent", space->free_percent()},
              {"free_inode_percent", space->free_inode_percent()}};
}

Json status_row_json(const JobStatus& s) {
  const auto& last = s.last_backup;
  return Json::array(
      {s.name, to_string(s.state), lane_name(s.lane), s.overdue,
       last ? Json(format_iso8601(last->timestamp)) : Json(nullptr),
       last ? Json(join_tags(last->tags)) : Json(nullptr),
       last ? Json(last->stats.duration) : Json(nullptr),
       s.next_time == TimePoint{} ? Json(nullptr) : Json(format_iso8601(s.next_time)),
       join_tags(s.next_tags)});
}

Json status_json(const std::vector<JobStatus>& jobs, const std::vector<std::string>& orphans,
                 int running, int queued, int worker_limit, const Json& space, bool table) {
  Json list = Json::array();
  Json rows = Json::array();
  int overdue = 0, failed = 0, paused = 0;
  for (const auto& s : jobs) {
    if (table) {
      rows.push_back(status_row_json(s));
      if (s.running_since || s.pause) list.push_back(job_json(s));
    } else {
      list.push_back(job_json(s));
    }
    overdue += s.overdue;
    failed += s.state == JobState::failed;
    paused += s.state == JobState::paused;
  }
  Json result{{"jobs", std::move(list)},
              {"orphans", orphans},
              {"base_dir", space},
              {"summary",
               {{"jobs", jobs.size()},
                {"running", running},
                {"queued", queued},
                {"overdue", overdue},
                {"failed", failed},
                {"paused", paused},
                {"worker_limit", worker_limit}}}};
  if (table) result["rows"] = std::move(rows);
  return result;
}

Json evaluate_health(const HealthFacts& f) {
  Json problems = Json::array();
  int critical = 0, warning = 0, overdue = 0, failed = 0, bad_revs = 0, distrusted = 0, paused = 0,
      low_space = 0;
  auto add = [&](bool crit, const std::string& job, const std::string& message) {
    (crit ? critical : warning)++;
    problems.push_back(
        {{"level", crit ? "CRITICAL" : "WARNING"}, {"job", job}, {"message", message}});
  };
  for (const auto& s : f.jobs) {
    if (s.pause) {
      // An admin stopped it on purpose: a reminder, not an alarm, however old its backup.
      ++paused;
      std::string m = "paused by " + s.pause->by + " since " + format_iso8601(s.pause->since);
      if (!s.pause->reason.empty()) m += ": " + s.pause->reason;
      if (s.overdue)
        m += " (last backup " +
             (s.last_backup ? format_iso8601(s.last_backup->timestamp) : std::string("never")) +
             ")";
      add(false, s.name, m);
    } else if (s.overdue) {
      ++overdue;
      add(true, s.name,
          "overdue: last backup " +
              (s.last_backup ? format_iso8601(s.last_backup->timestamp) : std::string("never")));
    } else if (s.last_run && !s.last_run->ok) {
      ++failed;
      add(false, s.name, "last run failed (still within SLA): " + s.last_run->error);
    }
    // A committed run whose later steps (expiry, `latest`, the source's clean-up) failed.
    if (s.last_run && s.last_run->ok)
      for (const auto& w : s.last_run->warnings) add(false, s.name, "last run: " + w);
    const RepoFindings& found = s.findings;
    for (const auto& [uuid, n] : found.bad_blocks) {
      ++bad_revs;
      add(true, s.name,
          "revision " + uuid + ": scrub found " + std::to_string(n) + " bad block" +
              (n == 1 ? "" : "s"));
    }
    for (const auto& uuid : found.distrusted) {
      if (found.bad_blocks.count(uuid)) continue;
      ++distrusted;
      add(false, s.name, "revision " + uuid + " is distrusted");
    }
    for (const auto& p : found.problems) add(false, s.name, p);
  }
  if (f.refused_reload)
    add(false, "",
        "configuration reload refused, the previous configuration is running: " +
            *f.refused_reload);
  if (f.space) {
    const bool crit = f.space->free_percent() < f.free_space_critical ||
                      f.space->free_inode_percent() < f.free_space_critical;
    const double threshold = crit ? f.free_space_critical : f.free_space_warning;
    if (auto low = space_below(*f.space, threshold); low && ++low_space)
      add(crit, "",
          "base-dir " + f.base_dir + ": " + *low + ", below " +
              (crit ? "free-space-critical " : "free-space-warning ") + format_percent(threshold) +
              (crit ? ": no backup starts" : ""));
  }
  if (f.reflinks == false)
    add(false, "",
        "base-dir " + f.base_dir +
            " does not support reflinks: every revision costs its full size");

  const std::string jobs = count(f.jobs.size(), "job");
  std::string status = critical ? "CRITICAL" : warning ? "WARNING" : "OK";
  std::string summary;
  if (!critical && !warning) {
    summary = jobs + ", all within SLA";
  } else {
    std::vector<std::string> parts;
    if (overdue) parts.push_back(std::to_string(overdue) + " overdue");
    if (bad_revs) parts.push_back(count(bad_revs, "revision") + " with bad blocks");
    if (failed) parts.push_back(std::to_string(failed) + " failed within SLA");
    if (paused) parts.push_back(std::to_string(paused) + " paused");
    if (low_space) parts.push_back("base-dir low on space");
    if (distrusted) parts.push_back(count(distrusted, "distrusted revision"));
    int other = critical + warning - overdue - bad_revs - failed - distrusted - paused - low_space;
    if (other) parts.push_back(count(other, "other problem"));
    summary = jobs;
    for (const auto& p : parts) summary += ", " + p;
  }
  // Performance data for the monitoring plugin's graphs: counts, the oldest newest-backup age
  // (jobs that never succeeded are counted apart: they have no age), base-dir's free share.
  int never = 0;
  double oldest = 0;
  for (const auto& s : f.jobs) {
    if (!s.last_backup) {
      ++never;
      continue;
    }
    oldest =
        std::max(oldest, std::chrono::duration<double>(f.now - s.last_backup->timestamp).count());
  }
  std::string perf = "jobs=" + std::to_string(f.jobs.size()) +
                     " overdue=" + std::to_string(overdue) + " failed=" + std::to_string(failed) +
                     " paused=" + std::to_string(paused) +
                     " never_succeeded=" + std::to_string(never) +
                     " oldest_backup_age=" + std::to_string(static_cast<long long>(oldest)) + "s";
  if (f.space) {
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  " free_space=%.2f%%;%g:;%g: free_inodes=%.2f%%;%g:;%g:", f.space->free_percent(),
                  f.free_space_warning, f.free_space_critical, f.space->free_inode_percent(),
                  f.free_space_warning, f.free_space_critical);
    perf += buf;
  }
  return Json{{"status", status},
              {"exit_code", critical  ? 2
                            : warning ? 1
                                      : 0},
              {"summary", summary},
              {"problems", std::move(problems)},
              {"perfdata", perf}};
}

std::string metrics_text(const std::vector<JobStatus>& jobs, int running, int queued,
                         int worker_limit) {
  // One buffer, written in place (fmt): with 10,000 jobs this is 100,000 lines, and streams
  // and a snprintf per number were most of the answer's time.
  std::string o;
  o.reserve(jobs.size() * 400 + 4096);
  auto out = std::back_inserter(o);
  std::vector<std::string> labels;
  labels.reserve(jobs.size());
  for (const auto& s : jobs) labels.push_back(label(s.name));
  auto family = [&](const char* name, const char* type, const char* help, auto value) {
    fmt::format_to(out, "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    for (size_t i = 0; i < jobs.size(); ++i)
      if (auto v = value(jobs[i]))
        fmt::format_to(out, "{}{{job=\"{}\"}} {}\n", name, labels[i], *v);
  };
  family("backy_job_last_success_timestamp_seconds", "gauge",
         "Start time of the newest complete revision (Unix seconds).",
         [](const JobStatus& s) -> std::optional<double> {
           // 0 for a job that never succeeded, so that an alert on the age fires for it too.
           return s.last_backup ? to_unix_seconds(s.last_backup->timestamp) : 0.0;
         });
  family("backy_job_never_succeeded", "gauge", "1 when the job has no complete revision at all.",
         [](const JobStatus& s) -> std::optional<double> { return s.last_backup ? 0.0 : 1.0; });
  family("backy_job_last_duration_seconds", "gauge", "Duration of the newest complete revision.",
         [](const JobStatus& s) -> std::optional<double> {
           if (!s.last_backup) return std::nullopt;
           return s.last_backup->stats.duration;
         });
  family("backy_job_bytes_written", "gauge", "Bytes written by the job's kept revisions.",
         [](const JobStatus& s) -> std::optional<double> { return double(s.bytes_written_total); });
  family("backy_job_revisions", "gauge", "Complete revisions kept.",
         [](const JobStatus& s) -> std::optional<double> { return double(s.revision_count); });
  family("backy_job_failures_total", "counter", "Failed runs since the daemon started.",
         [](const JobStatus& s) -> std::optional<double> { return double(s.total_failures); });
  family(
      "backy_job_consecutive_failures", "gauge", "Failed runs since the last success.",
      [](const JobStatus& s) -> std::optional<double> { return double(s.consecutive_failures); });
  family("backy_job_read_limit_bytes", "gauge",
         "The job's own read-limit in bytes per second (0: none; the global one also applies).",
         [](const JobStatus& s) -> std::optional<double> { return double(s.read_limit); });
  family("backy_job_throttled_seconds_total", "counter",
         "Seconds the job's runs waited for their read limits since the daemon started.",
         [](const JobStatus& s) -> std::optional<double> { return s.throttled_total; });
  family("backy_job_overdue", "gauge", "1 when the job's newest revision is past its SLA.",
         [](const JobStatus& s) -> std::optional<double> { return s.overdue ? 1.0 : 0.0; });
  auto scalar = [&](const char* name, const char* help, double v) {
    fmt::format_to(out, "# HELP {} {}\n# TYPE {} gauge\n{} {}\n", name, help, name, name, v);
  };
  scalar("backy_jobs", "Configured jobs.", double(jobs.size()));
  scalar("backy_jobs_running", "Backups running now.", running);
  scalar("backy_jobs_queued", "Backups waiting for a worker.", queued);
  scalar("backy_worker_limit", "Backups that may run at once.", worker_limit);
  return o;
}

Json lanes_json(const std::vector<LaneLoad>& lanes) {
  Json j = Json::object();
  for (const auto& l : lanes)
    j[std::string(lane_name(l.lane))] =
        Json{{"slots", l.slots}, {"running", l.running}, {"queued", l.queued}};
  return j;
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

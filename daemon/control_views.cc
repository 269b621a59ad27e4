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

void HealthCheck::problem(bool critical, const std::string& job, const std::string& message) {
  (critical ? critical_ : warning_)++;
  problems_.push_back(
      {{"level", critical ? "CRITICAL" : "WARNING"}, {"job", job}, {"message", message}});
}

void HealthCheck::add(const JobStatus& s) {
  ++jobs_;
  const std::string last_backup =
      s.last_backup ? format_iso8601(s.last_backup->timestamp) : std::string("never");
  if (s.pause) {
    // An admin stopped it on purpose: a reminder, not an alarm, however old its backup.
    ++paused_;
    std::string m = "paused by " + s.pause->by + " since " + format_iso8601(s.pause->since);
    if (!s.pause->reason.empty()) m += ": " + s.pause->reason;
    if (s.overdue) m += " (last backup " + last_backup + ")";
    problem(false, s.name, m);
  } else if (s.overdue) {
    ++overdue_;
    problem(true, s.name, "overdue: last backup " + last_backup);
  } else if (s.last_run && !s.last_run->ok) {
    ++failed_;
    problem(false, s.name, "last run failed (still within SLA): " + s.last_run->error);
  }
  // A committed run whose later steps (expiry, `latest`, the source's clean-up) failed.
  if (s.last_run && s.last_run->ok)
    for (const auto& w : s.last_run->warnings) problem(false, s.name, "last run: " + w);
  const RepoFindings& found = s.findings;
  for (const auto& [uuid, n] : found.bad_blocks) {
    ++bad_revs_;
    problem(true, s.name,
            "revision " + uuid + ": scrub found " + std::to_string(n) + " bad block" +
                (n == 1 ? "" : "s"));
  }
  for (const auto& uuid : found.distrusted) {
    if (found.bad_blocks.count(uuid)) continue;
    ++distrusted_;
    problem(false, s.name, "revision " + uuid + " is distrusted");
  }
  for (const auto& p : found.problems) problem(false, s.name, p);
  // The oldest newest-backup age, for the perfdata (jobs that never succeeded are counted
  // apart: they have no age).
  if (!s.last_backup)
    ++never_;
  else
    oldest_ =
        std::max(oldest_, std::chrono::duration<double>(now_ - s.last_backup->timestamp).count());
}

Json HealthCheck::finish(const HealthFacts& f) {
  if (f.refused_reload)
    problem(false, "",
            "configuration reload refused, the previous configuration is running: " +
                *f.refused_reload);
  int low_space = 0;
  if (f.space) {
    const bool crit = f.space->free_percent() < f.free_space_critical ||
                      f.space->free_inode_percent() < f.free_space_critical;
    const double threshold = crit ? f.free_space_critical : f.free_space_warning;
    if (auto low = space_below(*f.space, threshold); low && ++low_space)
      problem(crit, "",
              "base-dir " + f.base_dir + ": " + *low + ", below " +
                  (crit ? "free-space-critical " : "free-space-warning ") +
                  format_percent(threshold) + (crit ? ": no backup starts" : ""));
  }
  if (f.reflinks == false)
    problem(false, "",
            "base-dir " + f.base_dir +
                " does not support reflinks: every revision costs its full size");

  const std::string jobs = count(jobs_, "job");
  std::string status = critical_ ? "CRITICAL" : warning_ ? "WARNING" : "OK";
  std::string summary;
  if (!critical_ && !warning_) {
    summary = jobs + ", all within SLA";
  } else {
    std::vector<std::string> parts;
    if (overdue_) parts.push_back(std::to_string(overdue_) + " overdue");
    if (bad_revs_) parts.push_back(count(bad_revs_, "revision") + " with bad blocks");
    if (failed_) parts.push_back(std::to_string(failed_) + " failed within SLA");
    if (paused_) parts.push_back(std::to_string(paused_) + " paused");
    if (low_space) parts.push_back("base-dir low on space");
    if (distrusted_) parts.push_back(count(distrusted_, "distrusted revision"));
    int other =
        critical_ + warning_ - overdue_ - bad_revs_ - failed_ - distrusted_ - paused_ - low_space;
    if (other) parts.push_back(count(other, "other problem"));
    summary = jobs;
    for (const auto& p : parts) summary += ", " + p;
  }
  // Performance data for the monitoring plugin's graphs: counts, the oldest newest-backup age,
  // base-dir's free share.
  std::string perf = "jobs=" + std::to_string(jobs_) + " overdue=" + std::to_string(overdue_) +
                     " failed=" + std::to_string(failed_) + " paused=" + std::to_string(paused_) +
                     " never_succeeded=" + std::to_string(never_) +
                     " oldest_backup_age=" + std::to_string(static_cast<long long>(oldest_)) + "s";
  if (f.space) {
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  " free_space=%.2f%%;%g:;%g: free_inodes=%.2f%%;%g:;%g:", f.space->free_percent(),
                  f.free_space_warning, f.free_space_critical, f.space->free_inode_percent(),
                  f.free_space_warning, f.free_space_critical);
    perf += buf;
  }
  return Json{{"status", status},
              {"exit_code", critical_  ? 2
                            : warning_ ? 1
                                       : 0},
              {"summary", summary},
              {"problems", std::move(problems_)},
              {"perfdata", perf}};
}

Json evaluate_health(const HealthFacts& facts) {
  HealthCheck check(facts.now);
  for (const auto& s : facts.jobs) check.add(s);
  return check.finish(facts);
}

Json lanes_json(const std::vector<LaneLoad>& lanes) {
  Json j = Json::object();
  for (const auto& l : lanes)
    j[std::string(lane_name(l.lane))] =
        Json{{"slots", l.slots}, {"running", l.running}, {"queued", l.queued}};
  return j;
}

}  // namespace backy

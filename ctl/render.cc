#include "render.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <iomanip>
#include <sstream>
#include <string_view>
#include <system_error>
#include <vector>

#include "repo/revision.h"
#include "util/error.h"
#include "util/progress.h"
#include "util/text.h"
#include "util/time.h"
#include "util/uuid.h"

namespace backy::ctl {

using protocol::Json;

namespace {

std::string join(const Json& arr, const char* sep = ",") {
  std::string out;
  if (!arr.is_array()) return out;
  for (const auto& e : arr) {
    if (!out.empty()) out += sep;
    out += e.is_string() ? e.get<std::string>() : e.dump();
  }
  return out;
}

// A plain text table: columns as wide as their widest cell, two spaces apart.
void table(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return;
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    out << line << '\n';
  }
}

// "2026-11-28 08:56:30 (3 h ago)": the time, and how long ago (or how soon) that is.
std::string time_with_age(const std::string& iso) {
  const auto t = parse_iso8601(iso);
  if (!t) return short_time(iso);
  return short_time(iso) + " (" +
         relative_time(std::chrono::duration<double>(*t - Clock::now()).count()) + ")";
}

// ", read-limit 20.0 MiB/s, io-priority idle, throttled 4.8 s": a job's limits, and the time its
// running (else last) run waited for them; empty when it has none of these.
std::string limits_text(const Json& j) {
  std::string s;
  if (j.contains("read_limit") && j["read_limit"].is_number())
    s += ", read-limit " + human_bytes(j["read_limit"].get<double>()) + "/s";
  if (j.contains("io_priority") && j["io_priority"].is_string())
    s += ", io-priority " + j["io_priority"].get<std::string>();
  if (const double t = j.value("throttled", 0.0); t > 0) s += ", throttled " + human_duration(t);
  return s;
}

// The daemon's rows for the text table (docs/protocol.md, status with "table": a line per job of
// nine tab-separated fields), added to `rows` as the table prints them.
void add_status_rows(std::string_view text, std::vector<std::vector<std::string>>& rows) {
  constexpr size_t kFields = 9;
  for (size_t pos = 0; pos < text.size();) {
    const size_t eol = std::min(text.find('\n', pos), text.size());
    const std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    std::array<std::string_view, kFields> f;
    size_t n = 0;
    for (size_t start = 0;; ++n) {
      const size_t tab = line.find('\t', start);
      if (n < kFields) f[n] = line.substr(start, tab == std::string_view::npos ? tab : tab - start);
      if (tab == std::string_view::npos) break;
      start = tab + 1;
    }
    if (n + 1 != kFields) throw Error("status: a row is not 9 fields: " + std::string(line));
    const bool last = !f[4].empty();  // the last backup's time, tags and duration go together
    double duration = 0;
    const bool timed =
        last && std::from_chars(f[6].data(), f[6].data() + f[6].size(), duration).ec == std::errc{};
    rows.push_back({std::string(f[0]), std::string(f[1]), std::string(f[2]),
                    f[3] == "1" ? "overdue" : "ok", last ? time_with_age(std::string(f[4])) : "-",
                    last ? std::string(f[5]) : "-", timed ? human_duration(duration) : "-",
                    f[7].empty() ? "-" : time_with_age(std::string(f[7])), std::string(f[8])});
  }
}

int status_table(const Json& r, std::ostream& out) {
  std::vector<std::vector<std::string>> rows{{"Job", "State", "Lane", "SLA", "Last backup (UTC)",
                                              "Tags", "Duration", "Next backup (UTC)",
                                              "Next tags"}};
  // The daemon's text rows (its answer to "table": true), else the whole jobs.
  if (r.contains("rows")) {
    if (!r["rows"].is_string())
      throw Error(
          "status: backyd's table rows are not text (a backyd older than this backyctl? "
          "restart it, or use status --json)");
    add_status_rows(r["rows"].get_ref<const std::string&>(), rows);
  } else
    for (const auto& j : r["jobs"]) {
      const Json& last = j["last_backup"];
      rows.push_back(
          {j.value("job", ""), j.value("state", ""), j.value("lane", "-"),
           j.value("overdue", false) ? "overdue" : "ok",
           last.is_object() ? time_with_age(last.value("time", "")) : "-",
           last.is_object() ? join(last["tags"]) : "-",
           last.is_object() ? human_duration(last.value("duration", 0.0)) : "-",
           j["next_time"].is_string() ? time_with_age(j["next_time"].get<std::string>()) : "-",
           join(j["next_tags"])});
    }
  table(out, rows);
  for (const auto& j : r["jobs"])
    if (j.contains("running_since")) {
      out << j.value("job", "") << ": running since " << short_time(j.value("running_since", ""));
      if (j.contains("progress")) out << ", " << describe_progress(progress_sample(j["progress"]));
      out << limits_text(j) << '\n';
    }
  const Json& s = r["summary"];
  out << count(s.value("jobs", 0), "job") << ": " << s.value("running", 0) << " running, "
      << s.value("queued", 0) << " queued, " << s.value("failed", 0) << " failed, "
      << s.value("paused", 0) << " paused, " << s.value("overdue", 0) << " overdue (worker limit "
      << s.value("worker_limit", 0) << " per lane)\n";
  if (const Json& lanes = s.value("lanes", Json::object()); !lanes.empty()) {
    const char* sep = "lanes: ";
    for (const auto& [name, l] : lanes.items()) {
      out << sep << name << ' ' << l.value("running", 0) << '/' << l.value("slots", 0)
          << " running " << l.value("queued", 0) << " queued";
      sep = ", ";
    }
    out << '\n';
  }
  for (const auto& j : r["jobs"]) {
    const Json& p = j["pause"];
    if (!p.is_object()) continue;
    out << j.value("job", "") << ": paused by " << p.value("by", "?") << " since "
        << short_time(p.value("since", "")) << " UTC";
    if (!p.value("reason", "").empty()) out << ": " << p.value("reason", "");
    out << '\n';
  }
  if (r.contains("read_limit") && r["read_limit"].is_number())
    out << "read-limit " << human_bytes(r["read_limit"].get<double>())
        << "/s shared by all running backups\n";
  if (const Json& b = r["base_dir"]; b.is_object())
    out << "base-dir " << b.value("path", "") << ": " << human_bytes(b.value("free_bytes", 0.0))
        << " free of " << human_bytes(b.value("total_bytes", 0.0)) << " ("
        << format_percent(b.value("free_percent", 0.0)) << "), inodes "
        << format_percent(b.value("free_inode_percent", 0.0)) << " free\n";
  if (!r["orphans"].empty())
    out << "Orphaned job directories (not in the configuration): " << join(r["orphans"], ", ")
        << '\n';
  if (r.contains("exports") && !r["exports"].empty()) {
    out << "\nNBD exports (backyctl export --stop JOB REV ends one):\n";
    std::vector<std::vector<std::string>> ex{
        {"Job", "Revision", "Since (UTC)", "State", "Address"}};
    for (const auto& e : r["exports"])
      ex.push_back(
          {e.value("job", ""), e.value("uuid", ""), short_time(e.value("since", "")),
           e.value("state", ""),
           e.value("address", "") + (e.value("tcp", false) ? "  (TCP, no authentication)" : "")});
    table(out, ex);
  }
  return 0;
}

// "1.23 s: prepare 0.02 s, snapshot 0.10 s, read 0.61 s, ...": a revision's run and where its
// time went, in the run's order; empty for one recorded before phases were.
std::string phases_text(const Json& rev) {
  const auto phases = rev.find("phases");
  if (phases == rev.end() || !phases->is_object()) return "";
  std::string split;
  for (Phase p : kPhases) {
    const auto secs = phases->find(std::string(to_string(p)));
    if (secs == phases->end() || !secs->is_number()) continue;
    split += (split.empty() ? "" : ", ") + std::string(to_string(p)) + " " +
             phase_duration(secs->get<double>());
  }
  if (split.empty()) return "";
  return phase_duration(rev.value("duration", 0.0)) + ": " + split;
}

int job_revisions(const Json& r, std::ostream& out) {
  std::vector<std::vector<std::string>> rows{
      {"Date (UTC)", "ID", "Size", "Written", "Duration", "Tags", "Trust", "Consistency"}};
  for (const auto& v : r["revisions"])
    rows.push_back({time_with_age(v.value("time", "")), short_uuid(v.value("uuid", "")),
                    human_bytes(v.value("size", 0.0)), human_bytes(v.value("bytes_written", 0.0)),
                    human_duration(v.value("duration", 0.0)), join(v["tags"]), v.value("trust", ""),
                    v.value("consistency", "crash")});
  table(out, rows);
  out << count(r["revisions"].size(), "revision") << ", "
      << human_bytes(r.value("bytes_written", 0.0)) << " data (estimated)\n";
  if (!r["revisions"].empty())
    if (const std::string split = phases_text(r["revisions"].back()); !split.empty())
      out << "newest run " << split << '\n';
  if (r.contains("job") && r["job"].is_object()) {
    const Json& j = r["job"];
    if (j.contains("lane")) out << "lane: " << j.value("lane", "") << '\n';
    const std::string limits = limits_text(j);
    if (!limits.empty()) out << limits.substr(2) << '\n';
  }
  for (const auto& p : r["problems"]) out << "problem: " << p.get<std::string>() << '\n';
  return 0;
}

int per_job(const Json& r, std::ostream& out, const char* verb) {
  int code = 0;
  for (const auto& j : r["jobs"]) {
    out << j.value("job", "") << ": ";
    if (j.contains("error") && !j["error"].is_null()) {
      out << "error: " << j["error"].get<std::string>() << '\n';
      code = 1;
    } else if (j.contains("uuid")) {
      out << "finished, revision " << j["uuid"].get<std::string>() << " ("
          << human_duration(j.value("duration", 0.0)) << ")\n";
    } else if (j.contains("already")) {
      out << "already " << j["already"].get<std::string>() << '\n';
    } else {
      out << verb << '\n';
    }
  }
  return code;
}

}  // namespace

std::string short_time(const std::string& iso) {
  if (iso.size() < 19) return "-";
  std::string s = iso.substr(0, 19);
  s[10] = ' ';
  return s;
}

int exit_code(const std::string& cmd, const Json& r) {
  if (cmd == "health") return r.value("exit_code", 3);
  if (cmd == "reload") return r.value("accepted", false) ? 0 : 1;
  if (cmd == "run" || cmd == "pause" || cmd == "resume") {
    for (const auto& j : r["jobs"])
      if ((j.contains("error") && !j["error"].is_null()) || j.value("ok", true) == false) return 1;
  }
  if (cmd == "scrub")
    for (const auto& v : r["revisions"])
      if (v.value("trust", "") == "distrusted") return 1;
  // Something upstream's stays behind: a script must not take the move for done.
  if (cmd == "adopt") {
    if (!r["unreadable"].empty()) return 1;
    for (const auto& v : r["revisions"])
      if (!v.value("adopted", false)) return 1;
  }
  return 0;
}

int render(const std::string& cmd, const Json& r, std::ostream& out) {
  if (cmd == "status") return r.contains("jobs") ? status_table(r, out) : job_revisions(r, out);
  if (cmd == "version") {
    out << "backyctl " << BACKY_VERSION << "\nbackyd " << r.value("version", "?") << " (protocol "
        << r.value("protocol", 0) << ")\n";
  } else if (cmd == "metrics") {
    if (const auto text = r.find("text"); text != r.end() && text->is_string())
      out << text->get_ref<const std::string&>();  // megabytes with 10,000 jobs: no copy
  } else if (cmd == "health") {
    // The monitoring-plugin format: "STATUS - summary | perfdata", then the details.
    out << "BACKY " << r.value("status", "UNKNOWN") << " - " << r.value("summary", "");
    if (!r.value("perfdata", "").empty()) out << " | " << r.value("perfdata", "");
    out << '\n';
    for (const auto& p : r["problems"]) {
      out << p.value("level", "") << ": ";
      if (!p.value("job", "").empty()) out << p.value("job", "") << ": ";
      out << p.value("message", "") << '\n';
    }
  } else if (cmd == "run") {
    per_job(r, out, "queued");
  } else if (cmd == "pause") {
    per_job(r, out, "paused");
  } else if (cmd == "resume") {
    per_job(r, out, "resumed");
  } else if (cmd == "reload") {
    if (r.value("accepted", false)) {
      out << "configuration accepted";
      for (const char* k : {"added", "removed", "changed"})
        if (!r[k].empty()) out << "; " << k << ": " << join(r[k], ", ");
      out << '\n';
    } else {
      out << "configuration rejected; the daemon keeps the old one:\n";
      for (const auto& e : r["errors"]) out << "  " << e.get<std::string>() << '\n';
    }
  } else if (cmd == "restore") {
    out << "restored revision " << r.value("uuid", "") << " to " << r.value("target", "") << " ("
        << human_bytes(r.value("size", 0.0)) << ")\n";
  } else if (cmd == "path") {
    out << r.value("path", "") << '\n';
  } else if (cmd == "scrub") {
    for (const auto& v : r["revisions"]) {
      out << v.value("uuid", "") << ": " << v.value("trust", "");
      if (v.contains("bad_blocks") && !v["bad_blocks"].empty())
        out << ", " << count(v["bad_blocks"].size(), "bad block") << ": "
            << join(v["bad_blocks"], " ");
      if (v.contains("error")) out << " (" << v["error"].get<std::string>() << ")";
      out << '\n';
    }
  } else if (cmd == "clone") {
    out << "cloned revision " << r.value("uuid", "") << " to " << r.value("target", "") << " ("
        << r.value("how", "") << ")\n";
  } else if (cmd == "mount") {
    out << "mounted revision " << r.value("uuid", "") << " of " << r.value("job", "") << " at "
        << r.value("dir", "") << " (" << r.value("fstype", "") << ", "
        << (r.value("partition", 0) == 0 ? std::string("whole image")
                                         : "partition " + std::to_string(r.value("partition", 0)))
        << ", read-only)\n";
  } else if (cmd == "umount") {
    out << "unmounted " << r.value("dir", "") << " (revision " << r.value("uuid", "") << " of "
        << r.value("job", "") << ")\n";
  } else if (cmd == "mounts") {
    if (r["mounts"].empty()) out << "nothing mounted\n";
    for (const auto& m : r["mounts"])
      out << m.value("dir", "") << "  " << m.value("job", "") << " " << m.value("uuid", "")
          << "  partition " << m.value("partition", 0) << " " << m.value("fstype", "") << " "
          << m.value("loop", "")
          << (m.value("in_flight", false)  ? "  (being mounted)"
              : m.value("released", false) ? "  (not mounted: released)"
              : m.value("mounted", false)  ? ""
                                           : "  (NOT MOUNTED: stale; mounts --prune releases it)")
          << '\n';
    for (const auto& p : r["problems"]) out << "problem: " << p.get<std::string>() << '\n';
  } else if (cmd == "export" && r.contains("stopped")) {
    for (const auto& e : r["stopped"])
      out << "stopped the export of revision " << e.value("uuid", "") << " of "
          << e.value("job", "") << " at " << e.value("address", "") << '\n';
  } else if (cmd == "export") {
    out << "serving revision " << r.value("uuid", "") << " of " << r.value("job", "")
        << " read-only over NBD until `backyctl export --stop " << r.value("job", "") << " "
        << r.value("uuid", "") << "`\n"
        << "  address: " << r.value("address", "") << "\n  uri:     " << r.value("uri", "")
        << "\n  e.g.:    qemu-img convert -p -f raw -O raw '" << r.value("uri", "")
        << "' disk.img\n";
    if (r.contains("warning")) out << "WARNING: " << r["warning"].get<std::string>() << '\n';
  } else if (cmd == "forget") {
    const bool dry_run = r.value("dry_run", false);
    for (const auto& v : r["forgotten"])
      out << (dry_run ? "would forget " : "forgot ") << v.value("uuid", "") << "  "
          << short_time(v.value("time", "")) << "  " << join(v["tags"]) << '\n';
  } else if (cmd == "adopt") {
    for (const auto& v : r["revisions"])
      out << (v.value("adopted", false) ? "adopted " : "left alone ") << v.value("uuid", "")
          << (v.value("adopted", false) ? "" : ": " + v.value("why", "")) << '\n';
    for (const auto& p : r["unreadable"]) out << "unreadable: " << p.get<std::string>() << '\n';
    for (const auto& w : r["warnings"]) out << "warning: " << w.get<std::string>() << '\n';
    if (r["revisions"].empty() && r["unreadable"].empty())
      out << "no revisions of upstream backy in " << r.value("job", "") << '\n';
  } else if (cmd == "tags") {
    for (const auto& v : r["revisions"])
      out << v.value("uuid", "") << ": " << join(v["tags"]) << '\n';
  }
  return exit_code(cmd, r);
}

ProgressSample progress_sample(const Json& p) {
  ProgressSample s;
  s.done = p.value("done", uint64_t{0});
  s.total = p.value("total", uint64_t{0});
  s.elapsed = p.value("elapsed", 0.0);
  return s;
}

bool is_progress_figure(const Json& p) {
  if (!p.contains("done") || !p["done"].is_number()) return false;
  // The last figure (all done) is an event: a log shows that the work completed.
  return !p.contains("total") || !p["total"].is_number() || p["done"] < p["total"];
}

std::string render_progress(const std::string& cmd, const Json& p) {
  std::ostringstream o;
  if (cmd == "run") {
    const std::string event = p.value("event", "");
    // A run's end is printed once, by the answer (render()), not as progress as well.
    if (event == "finished") return "";
    o << p.value("job", "") << ": ";
    if (event == "progress")
      o << describe_progress(progress_sample(p));
    else if (event == "already")
      o << "already " << p.value("state", "") << ", waiting for that run";
    else
      o << event;
  } else if (p.contains("total") && p.contains("done")) {
    o << cmd << ' ' << short_uuid(p.value("uuid", "")) << ": ";
    if (cmd == "restore")
      o << describe_progress(progress_sample(p));
    else
      o << "revision " << p["done"].get<double>() + 1 << " of " << p["total"].get<double>();
  } else {
    o << p.dump();
  }
  return o.str();
}

}  // namespace backy::ctl

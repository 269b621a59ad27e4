#include "job_table_view.h"

#include <fmt/format.h>

#include <cmath>
#include <iterator>
#include <string_view>

#include "schedule/schedule.h"

namespace backy {

using protocol::Json;
using protocol::JsonWriter;

namespace {

void write_tags(JsonWriter& w, const std::set<std::string>& tags) {
  w.begin_array();
  for (const auto& t : tags) w.value(t);
  w.end_array();
}

void write_time_or_null(JsonWriter& w, TimePoint t) {
  // A paused job and a running backup have no next time (the epoch): null, not 1970.
  if (t == TimePoint{})
    w.null();
  else
    w.value(format_iso8601(t));
}

void write_run(JsonWriter& w, const RunOutcome& r) {
  w.begin_object().member("duration", r.duration);
  if (!r.ok) w.member("error", r.error);
  w.member("ok", r.ok).member("started", format_iso8601(r.started)).key("tags");
  write_tags(w, r.tags);
  w.member("throttled", r.throttled);
  if (r.ok) w.member("uuid", r.uuid);
  if (!r.warnings.empty()) {
    w.key("warnings").begin_array();
    for (const auto& warning : r.warnings) w.value(warning);
    w.end_array();
  }
  w.end_object();
}

Json parsed(const std::string& text) {
  return Json::parse(text);
}

}  // namespace

void write_progress(JsonWriter& w, const ProgressSample& p) {
  const auto eta = progress_eta(p);
  w.begin_object().member("done", p.done).member("elapsed", p.elapsed).key("eta");
  if (eta)
    w.value(*eta);
  else
    w.null();
  w.member("rate", progress_rate(p)).member("throttled", p.throttled).member("total", p.total);
  w.end_object();
}

Json progress_json(const ProgressSample& p) {
  std::string text;
  JsonWriter w(text);
  write_progress(w, p);
  return parsed(text);
}

void write_job(JsonWriter& w, const JobStatus& s) {
  w.begin_object()
      .member("bytes_written", s.bytes_written_total)
      .member("consecutive_failures", s.consecutive_failures)
      .key("io_priority");
  if (s.io_priority.empty())
    w.null();
  else
    w.value(s.io_priority);
  w.member("job", s.name).member("lane", lane_name(s.lane)).key("last_backup");
  if (const auto& r = s.last_backup) {
    w.begin_object()
        .member("consistency", to_string(r->consistency))
        .member("duration", r->duration)
        .key("tags");
    write_tags(w, r->tags);
    w.member("time", format_iso8601(r->timestamp))
        .member("trust", to_string(r->trust))
        .member("uuid", r->uuid)
        .end_object();
  } else {
    w.null();
  }
  w.key("last_run");
  if (s.last_run)
    write_run(w, *s.last_run);
  else
    w.null();
  w.key("next_tags");
  write_tags(w, s.next_tags);
  w.key("next_time");
  write_time_or_null(w, s.next_time);
  w.member("overdue", s.overdue).key("pause");
  if (s.pause)
    w.begin_object()
        .member("by", s.pause->by)
        .member("reason", s.pause->reason)
        .member("since", format_iso8601(s.pause->since))
        .end_object();
  else
    w.null();
  if (s.progress) {
    w.key("progress");
    write_progress(w, *s.progress);
  }
  w.key("read_limit");
  if (s.read_limit)
    w.value(s.read_limit);
  else
    w.null();
  w.member("revisions", s.revision_count);
  if (s.running_since) w.member("running_since", format_iso8601(*s.running_since));
  w.member("state", to_string(s.state))
      .member("throttled", s.throttled)
      .member("total_failures", s.total_failures)
      .end_object();
}

Json job_json(const JobStatus& s) {
  std::string text;
  JsonWriter w(text);
  write_job(w, s);
  return parsed(text);
}

namespace {

// A field of a table row as text: a byte that would end the field or the row (or any other
// control byte: a tag read from a revision file is the disk's) becomes '?'.
void append_field(std::string& out, std::string_view field) {
  for (const char c : field) {
    const auto u = static_cast<unsigned char>(c);
    out += u < 0x20 || u == 0x7f ? '?' : c;
  }
}

}  // namespace

void append_status_row(std::string& out, const JobStatus& s) {
  const auto& last = s.last_backup;
  append_field(out, s.name);
  out += '\t';
  out += to_string(s.state);
  out += '\t';
  out += lane_name(s.lane);
  out += s.overdue ? "\t1\t" : "\t0\t";
  if (last) {
    out += format_iso8601(last->timestamp);
    out += '\t';
    append_field(out, join_tags(last->tags));
    out += '\t';
    if (std::isfinite(last->duration))
      fmt::format_to(std::back_inserter(out), "{}", last->duration);
    out += '\t';
  } else {
    out += "\t\t\t";
  }
  if (s.next_time != TimePoint{}) out += format_iso8601(s.next_time);
  out += '\t';
  append_field(out, join_tags(s.next_tags));
  out += '\n';
}

StatusAnswer::StatusAnswer(bool table, size_t jobs) : table_(table) {
  jobs_.reserve(jobs);
}

void StatusAnswer::add(JobStatus&& s) {
  jobs_.push_back(std::move(s));
}

std::string StatusAnswer::finish(const StatusTail& t) {
  // Bytes of a job's row and of its object, with room to spare: a typical one is 130 and 470.
  constexpr size_t kRowBytes = 256, kJobBytes = 1024;
  std::string line;
  line.reserve(jobs_.size() * (table_ ? kRowBytes : kJobBytes) + 4096);
  line = protocol::result_line_open();
  JsonWriter out(line);
  out.begin_object();
  int overdue = 0, failed = 0, paused = 0;
  for (const JobStatus& s : jobs_) {
    overdue += s.overdue;
    failed += s.state == JobState::failed;
    paused += s.state == JobState::paused;
  }
  if (!table_) {
    out.key("jobs").begin_array();
    for (const JobStatus& s : jobs_) write_job(out, s);
    out.end_array();
  } else {
    std::string rows;
    rows.reserve(jobs_.size() * kRowBytes);
    for (const JobStatus& s : jobs_) append_status_row(rows, s);
    out.key("rows").value(rows);
    rows = {};
    // The jobs the text says more of: the running and the paused.
    out.key("jobs").begin_array();
    for (const JobStatus& s : jobs_)
      if (s.running_since || s.pause) write_job(out, s);
    out.end_array();
  }
  const auto jobs = static_cast<int>(jobs_.size());
  jobs_.clear();
  jobs_.shrink_to_fit();
  out.key("orphans").begin_array();
  for (const auto& o : t.orphans) out.value(o);
  out.end_array();
  out.key("base_dir").value(t.base_dir);
  out.key("exports").value(t.exports);
  out.key("read_limit");
  if (t.read_limit)
    out.value(t.read_limit);
  else
    out.null();
  out.key("summary")
      .begin_object()
      .member("failed", failed)
      .member("jobs", jobs)
      .key("lanes")
      .value(t.lanes)
      .member("overdue", overdue)
      .member("paused", paused)
      .member("queued", t.queued)
      .member("running", t.running)
      .member("worker_limit", t.worker_limit)
      .end_object();
  out.end_object();
  line += protocol::result_line_close();
  return line;
}

}  // namespace backy

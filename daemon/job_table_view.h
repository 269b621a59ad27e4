// The job table as the control socket shows it (docs/protocol.md, "status"): one job's object,
// one row of the text table, and the whole `status` answer, encoded straight into the response
// line job after job (protocol/json_writer.h). With 10,000 jobs the answer is megabytes: it
// never exists as a tree, and its peak memory is the line itself and a JobEntry per job. Pure,
// no I/O; any thread, one object per answer.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "job_scheduler.h"
#include "protocol/json_writer.h"

namespace backy {

// What the job table shows of one job: the fields of its JobStatus that write_job and
// write_status_row read, under the same names, copied as they are (no time formatted, no string
// escaped) and without the findings. `status` copies each job into one on the io thread, where
// the table lives, and encodes them on a reader: with 10,000 jobs the copy is a few
// milliseconds, the encoding tens.
struct JobEntry {
  explicit JobEntry(const JobStatus& s);

  std::string name;
  JobState state = JobState::waiting;
  Lane lane = Lane::slow;
  bool overdue = false;
  std::optional<NewestRevision> last_backup;
  std::optional<RunOutcome> last_run;
  std::optional<TimePoint> running_since;
  std::optional<ProgressSample> progress;
  TimePoint next_time;
  std::set<std::string> next_tags;
  int consecutive_failures = 0;
  uint64_t total_failures = 0, revision_count = 0, bytes_written_total = 0, read_limit = 0;
  std::optional<PauseNote> pause;
  std::string io_priority;
  double throttled = 0;
};

// One entry of status' "jobs" (and status JOB's "job"), members in nlohmann's (sorted) order.
void write_job(protocol::JsonWriter& w, const JobEntry& s);
protocol::Json job_json(const JobStatus& s);
// [job, state, lane, overdue, last backup's time or null, its tags ("a,b") or null, its duration
// or null, next time or null, next tags ("a,b")]: one row of backyctl's text table.
void write_status_row(protocol::JsonWriter& w, const JobEntry& s);
// {"done", "total", "elapsed", "rate", "eta", "throttled"}: a running backup in `status` and in
// run --wait's progress lines.
void write_progress(protocol::JsonWriter& w, const ProgressSample& p);
protocol::Json progress_json(const ProgressSample& p);

// What the `status` answer says besides the jobs (all small).
struct StatusTail {
  std::vector<std::string> orphans;
  int running = 0, queued = 0, worker_limit = 0;
  protocol::Json lanes = protocol::Json::object();  // lanes_json
  protocol::Json exports = protocol::Json::array();
  uint64_t read_limit = 0;            // the global one; 0: none (null on the wire)
  protocol::Json base_dir = nullptr;  // space_json
};

// The `status` result: "jobs", "orphans", "base_dir", "summary", "exports", "read_limit".
// `table` (what backyctl's text table asks for, "table": true): "jobs" holds only the jobs the
// text says more of (running or paused), and "rows" a row per job (write_status_row): with
// 10,000 jobs a quarter of the bytes to encode, send and parse.
// add() copies (a JobEntry), finish() encodes: the io thread adds the jobs, a reader finishes.
class StatusAnswer {
 public:
  // `jobs`: how many add() will come, reserved for. finish() reserves the line once from the
  // count instead of growing it by copies (each growth of a line of megabytes briefly holds it
  // twice). The reservation is generous: pages of it the line never reaches are never touched,
  // so they cost no memory.
  explicit StatusAnswer(bool table, size_t jobs = 0);
  // Each job, in the order the table lists them.
  void add(const JobStatus& s);
  // The complete response line (protocol::encode_result's framing). REQUIRES: called once.
  std::string finish(const StatusTail& tail);

 private:
  bool table_;
  std::vector<JobEntry> jobs_;
};

}  // namespace backy

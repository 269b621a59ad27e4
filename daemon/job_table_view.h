// The job table as the control socket shows it (docs/protocol.md, "status"): one job's object,
// one row of the text table, and the whole `status` answer, encoded straight into the response
// line job after job (protocol/json_writer.h). With 10,000 jobs the answer is megabytes: it
// never exists as a tree, and its peak memory is the line itself and a JobStatus per job. Pure,
// no I/O; any thread, one object per answer.
#pragma once

#include <string>
#include <vector>

#include "job_scheduler.h"
#include "protocol/json_writer.h"

namespace backy {

// One entry of status' "jobs" (and status JOB's "job"), members in nlohmann's (sorted) order.
void write_job(protocol::JsonWriter& w, const JobStatus& s);
protocol::Json job_json(const JobStatus& s);
// One row of backyctl's text table, appended to `out` as a line of nine tab-separated fields:
// job, state, lane, overdue ("1" or "0"), last backup's time, its tags ("a,b"), its duration in
// seconds, next time, next tags ("a,b"). A field with nothing to show is empty; a control byte
// in a name or tag (the disk's, not the config's) becomes '?', so that fields and rows stay apart.
void append_status_row(std::string& out, const JobStatus& s);
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
// text says more of (running or paused), and "rows" is one string of a line per job
// (append_status_row): with 10,000 jobs a quarter of the bytes to encode and send, and one long
// string that backyctl decodes in a tight loop (protocol/json_line.h) instead of 90,000 short
// ones through nlohmann's lexer and tree.
// add() keeps the job's status, finish() encodes: the io thread adds the jobs (each_status makes
// each one for the call, so keeping it is a move), a reader finishes.
class StatusAnswer {
 public:
  // `jobs`: how many add() will come, reserved for. finish() reserves the line once from the
  // count instead of growing it by copies (each growth of a line of megabytes briefly holds it
  // twice). The reservation is generous: pages of it the line never reaches are never touched,
  // so they cost no memory.
  explicit StatusAnswer(bool table, size_t jobs = 0);
  // Each job, in the order the table lists them.
  void add(JobStatus&& s);
  // The complete response line (protocol::encode_result's framing). REQUIRES: called once.
  std::string finish(const StatusTail& tail);

 private:
  bool table_;
  std::vector<JobStatus> jobs_;
};

}  // namespace backy

// The backup-completed-callback: an operator's program run after each successful backup of a
// job, with the job name as its only argument and the job's revision list (JSON) on stdin, as
// upstream backy runs it. The run-callback: the same, after every run, with the outcome.
//
// Its exit status and output (stdout and stderr together) are logged; a failure is a warning,
// never a failed backup. It cannot hang the daemon: after `timeout`, or when `stop` is requested
// (shutdown), its whole process group gets SIGKILL. The program is spawned directly (no shell),
// in its own process group, with default signal dispositions and the daemon's environment
// (util/child_process.h).
//
// Blocking (poll, waitpid): call it on a worker thread, never on the io_context thread.
#pragma once

#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "job_scheduler.h"
#include "repo/revision.h"
#include "schedule/duration.h"
#include "util/child_process.h"

namespace spdlog {
class logger;
}

namespace backy {

// How a callback ended (util/child_process.h runs it).
using CallbackResult = ChildResult;
inline constexpr size_t kMaxCallbackOutput = kMaxChildOutput;

CallbackResult run_completion_callback(const std::string& program, const std::string& job,
                                       const std::string& input, Seconds timeout,
                                       std::stop_token stop = {});

// run_completion_callback, with the outcome and output logged to `log` (the job's logger).
void run_and_log_completion_callback(const std::string& program, const std::string& job,
                                     const std::vector<Revision>& revisions, Seconds timeout,
                                     spdlog::logger& log, std::stop_token stop = {});

// The callback's stdin: a JSON array of the revisions, oldest first, with the .rev fields.
std::string revisions_json(const std::vector<Revision>& revisions);

// run_completion_callback of any program, with `input` on its stdin, logged under `setting`'s
// name (the configuration key that named the program).
void run_and_log_callback(std::string_view setting, const std::string& program,
                          const std::string& job, const std::string& input, Seconds timeout,
                          spdlog::logger& log, std::stop_token stop = {});

// The run-callback's stdin, after every run, ok or not: {"job", "ok", "started", "duration",
// "tags", "uuid" and "warnings" (ok) or "error", "revisions": [...as revisions_json]}.
std::string run_outcome_json(const std::string& job, const RunOutcome& run,
                             const std::vector<Revision>& revisions);

}  // namespace backy

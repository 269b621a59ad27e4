// How backyctl shows a daemon's answer to a person: tables for status, one line per job for
// run/pause/resume, and so on. Each returns the exit code the answer implies (1 when a job in a
// multi-job answer failed, a scrub found damage, or a reload was rejected; health's own codes).
#pragma once

#include <ostream>
#include <string>

#include "protocol/message.h"
#include "util/progress.h"

namespace backy::ctl {

int render(const std::string& command, const protocol::Json& result, std::ostream& out);
// A progress line of a long command, for stderr; empty when there is nothing to show (a run's
// end: the answer shows it).
std::string render_progress(const std::string& command, const protocol::Json& progress);
// Whether a progress line carries figures (done < total) of work under way, which may be left
// out of a plain output, rather than an event (queued, already running, all done).
bool is_progress_figure(const protocol::Json& progress);
// The figures of a progress line or of a running job's "progress" in `status`.
ProgressSample progress_sample(const protocol::Json& progress);
// The exit code of a `--json` answer (the same rules, without the text).
int exit_code(const std::string& command, const protocol::Json& result);

// ISO 8601 UTC from the daemon -> "2026-11-28 08:56:30"; "-" when empty.
std::string short_time(const std::string& iso);

}  // namespace backy::ctl

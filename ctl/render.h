// How backyctl shows a daemon's answer to a person: tables for status, one line per job for
// run/pause/resume, and so on. Each returns the exit code the answer implies (1 when a job in a
// multi-job answer failed, a scrub found damage, or a reload was rejected; health's own codes).
#pragma once

#include <ostream>
#include <string>

#include "protocol/message.h"

namespace backy::ctl {

int render(const std::string& command, const protocol::Json& result, std::ostream& out);
// A progress line of a long command, for stderr.
std::string render_progress(const std::string& command, const protocol::Json& progress);
// The exit code of a `--json` answer (the same rules, without the text).
int exit_code(const std::string& command, const protocol::Json& result);

// ISO 8601 UTC from the daemon -> "2026-11-28 08:56:30"; "-" when empty.
std::string short_time(const std::string& iso);

}  // namespace backy::ctl

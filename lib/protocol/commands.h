// The control socket's command table: which commands exist, which need admin rights, and what
// arguments each takes. The daemon checks every request against it before acting, so handlers
// can read their arguments without re-checking types.
//
//   command  admin  args (? = optional)
//   version         -
//   status          job?: string
//   health          -
//   metrics         -
//   run      yes    jobs: [string] (at least one), tags?: [string], wait?: bool
//   pause    yes    jobs?: [string], all?: bool       (exactly one of the two)
//   resume   yes    jobs?: [string], all?: bool
//   reload   yes    -
//   restore  yes    job, rev, target: string, force?: bool, fd?: bool (the client takes the
//                   image as a file descriptor; required unless target is rbd:)
//   scrub    yes    job: string, rev?: string ("all" when absent)
//   forget   yes    job, rev: string
//   tags     yes    job, rev: string, add?: [string], remove?: [string] (at least one tag)
//
// Job names follow the config's rule (is_safe_job_name), tags [A-Za-z0-9_.:-]{1,64}.
// Pure; any thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "protocol/message.h"

namespace backy::protocol {

struct CommandInfo {
  std::string name;
  bool admin = false;  // changes something: root or the admin group only
};

// nullptr when `name` is no command.
const CommandInfo* find_command(const std::string& name);
const std::vector<CommandInfo>& all_commands();

// Checks `r.args` against the table above; nullopt when it is fine, else a bad_request naming
// the argument. Unknown arguments are refused too (a typo must not be silently ignored).
std::optional<Error> validate_args(const Request& r);

bool is_valid_tag(const std::string& tag);

}  // namespace backy::protocol

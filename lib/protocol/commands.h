// The control socket's command table: every command backyd answers, in one place. Each row says
// who may run it, which arguments it takes, how backyctl spells it on a command line, and its
// one-line help. Everything else is derived from the rows:
//
//   the daemon's argument and permission checks   validate_args(), CommandSpec::access
//   the daemon's dispatch                         daemon/commands.cc binds each name to a
//                                                 handler and refuses to start if one has none
//   backyctl's command line, --help, completion   ctl/args.cc, ctl/completion.cc
//   docs/protocol.md's command list               markdown_command_list(); a unit test holds
//                                                 the document to it (and the man page to --help)
//
// Adding a command is adding a row here, a handler there, and a section in docs/protocol.md;
// the tests name whichever is missing.
//
// Job names follow the config's rule (is_safe_job_name), tags the schedule's (is_valid_tag).
// Pure; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/message.h"

namespace backy::protocol {

enum class Access {
  anyone,  // reads only
  admin,   // changes something: root or the admin group
  root,    // acts on the host outside base-dir: uid 0 only
};
std::string_view to_string(Access access);

enum class ArgKind {
  job,        // a job name
  string,     // non-empty, no NUL
  jobs,       // at least one job name
  tags,       // tag names (may be empty)
  boolean,    // true or false
  partition,  // an integer 0..256 (0: the whole image); backyctl takes it from a valued option
};

struct ArgSpec {
  std::string_view name;
  ArgKind kind;
  bool required = false;
};

// How backyctl fills an argument from a word of its command line.
struct Positional {
  enum Count { one, optional, many, any };  // many: 1 or more; any: 0 or more
  std::string_view arg;                     // the argument it fills
  Count count = one;
  std::string_view fallback = {};  // an absent optional positional's value ("": leave it out)
  // What bash completion offers: words, or @jobs (the daemon's jobs), @files (file names).
  std::string_view completes = {};
};

// A command's own option. A switch sets its boolean argument to true; a valued option
// (`--tags daily,weekly`, repeatable) appends comma-separated tags to its list argument, or,
// for a partition argument (`--partition 2`), sets that number, or, for a string argument
// (`--listen 127.0.0.1:10809`), sets that string.
struct Option {
  std::string_view flag;  // "--wait"
  std::string_view arg;
  bool takes_value = false;
};

// When backyctl may give up waiting for the answer.
enum class ReplyTime {
  prompt,         // answered at once: a 120 s timeout catches a hung daemon
  slow,           // reads or writes revisions: no timeout
  slow_if_waits,  // slow when "wait" is true (run --wait)
};

struct CommandSpec {
  std::string_view name;
  Access access;
  std::vector<ArgSpec> args = {};
  std::vector<Positional> positionals = {};
  std::vector<Option> options = {};
  std::string_view synopsis;  // as --help and backyctl(8) show it: "run JOB... [--wait]"
  std::string_view help;      // one line
  ReplyTime reply_time = ReplyTime::prompt;
  // Rules across arguments ("jobs" or "all", not both); the reason when `args` break them.
  std::optional<std::string> (*check)(const Json& args) = nullptr;
  // backyctl's last touch on a request built from a command line (restore makes a relative
  // target absolute: the daemon runs elsewhere).
  void (*finish)(Json& args) = nullptr;
};

// Every command, in the order --help lists them.
const std::vector<CommandSpec>& all_commands();
// nullptr when `name` is no command.
const CommandSpec* find_command(std::string_view name);

// Checks `r.args` against the command's row; nullopt when it is fine, else a bad_request naming
// the argument (or unknown_command). Unknown arguments are refused too: a typo must not be
// silently ignored.
std::optional<Error> validate_args(const Request& r);

// The command list of docs/protocol.md (a Markdown table: command, who, arguments, what it does).
std::string markdown_command_list();

}  // namespace backy::protocol

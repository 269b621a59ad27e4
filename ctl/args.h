// backyctl's command line: global options, then a command and its arguments, turned into the one
// protocol request to send. Pure: no socket, no output (std::filesystem::absolute aside).
//
//   backyctl [-s PATH | -c CONFIG] [--json] COMMAND [ARGS...]
//
// What each command takes comes from the command table (protocol/commands.h): its positionals,
// its own options and its synopsis. Options may appear anywhere on the line; a command's options
// are accepted only by the commands they belong to.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/message.h"

namespace backy::ctl {

struct Invocation {
  std::optional<std::string> socket;  // -s/--socket
  std::optional<std::string> config;  // -c/--config
  bool json = false;
  bool help = false;
  bool version = false;       // --version without a command
  protocol::Request request;  // command and args
};

// Throws backy::Error with a message for the user (usage errors).
Invocation parse_args(const std::vector<std::string>& argv);

// The socket to use: -s, else global.socket of -c CONFIG (read without validating the rest, so a
// half-edited config does not lock the operator out), else the default.
std::string socket_path(const Invocation& inv);

// Whether the answer may take longer than a timeout should allow (a run --wait, a restore).
bool waits_long(const protocol::Request& request);

// backyctl --help: the global options, then every command's synopsis and help line.
const std::string& usage();

// The options before or after any command, as --help lists them and completion offers them.
struct GlobalOption {
  std::string_view short_flag;  // "" when none
  std::string_view long_flag;
  std::string_view value_name;  // "" for a flag without a value
  std::string_view help;
};
const std::vector<GlobalOption>& global_options();

}  // namespace backy::ctl

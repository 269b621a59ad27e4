#include "args.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "config_socket.h"
#include "protocol/commands.h"
#include "schedule/schedule.h"
#include "util/error.h"
#include "util/file_io.h"

namespace backy::ctl {

using protocol::CommandSpec;
using protocol::Json;
using protocol::Positional;

namespace {

const char* const kHead = "Usage: backyctl [options] COMMAND [ARGS...]\n\nOptions:\n";

const char* const kRevLine =
    "REV: a uuid or its first 6 or more characters, N (0 = newest), latest,\n"
    "     tag:NAME and all (forget, scrub, tags).\n";

std::string make_usage() {
  std::string out = kHead;
  for (const auto& g : global_options()) {
    std::string line =
        "  " + std::string(g.short_flag.empty() ? "   " : std::string(g.short_flag) + ",") + " " +
        std::string(g.long_flag) + (g.value_name.empty() ? "" : " " + std::string(g.value_name));
    line.resize(22, ' ');
    out += line + std::string(g.help) + "\n";
  }
  out += "\nCommands:\n";
  size_t width = 0;
  for (const auto& c : protocol::all_commands()) width = std::max(width, c.synopsis.size());
  for (const auto& c : protocol::all_commands()) {
    std::string line = "  " + std::string(c.synopsis);
    line.resize(std::max(width + 4, size_t{36}), ' ');
    out += line + std::string(c.help) + "\n";
  }
  return out + kRevLine;
}

[[noreturn]] void usage_error(const CommandSpec& spec) {
  throw Error("usage: backyctl " + std::string(spec.synopsis));
}

const protocol::Option* find_option(const CommandSpec& spec, const std::string& flag) {
  for (const auto& o : spec.options)
    if (o.flag == flag) return &o;
  return nullptr;
}

// A command's own options as met on the line, before the command is known.
struct GivenOption {
  std::string flag;
  std::optional<std::string> value;
};

// Fills the positional arguments from the words after the command, in the row's order.
void fill_positionals(const CommandSpec& spec, const std::vector<std::string>& words, Json& args) {
  size_t next = 0;
  for (const auto& p : spec.positionals) {
    const std::string arg(p.arg);
    switch (p.count) {
      case Positional::one:
        if (next >= words.size()) usage_error(spec);
        args[arg] = words[next++];
        break;
      case Positional::optional:
        if (next < words.size())
          args[arg] = words[next++];
        else if (!p.fallback.empty())
          args[arg] = std::string(p.fallback);
        break;
      case Positional::many:
      case Positional::any:
        if (next == words.size() && p.count == Positional::many) usage_error(spec);
        if (next < words.size())
          args[arg] = std::vector<std::string>(words.begin() + next, words.end());
        next = words.size();
        break;
    }
  }
  if (next != words.size()) usage_error(spec);
}

}  // namespace

const std::string& usage() {
  static const std::string text = make_usage();
  return text;
}

const std::vector<GlobalOption>& global_options() {
  static const std::vector<GlobalOption> options{
      {"-s", "--socket", "PATH", "the daemon's control socket (default /run/backy/backyd.sock)"},
      {"-c", "--config", "FILE", "read the socket path from this configuration (global.socket)"},
      {"", "--json", "", "print JSON instead of text (errors too)"},
      {"-V", "--version", "", "print backyctl's version, and the daemon's when reachable"},
      {"-h", "--help", "", "show this help"}};
  return options;
}

Invocation parse_args(const std::vector<std::string>& argv) {
  Invocation inv;
  std::vector<std::string> words;
  std::vector<GivenOption> given;
  for (size_t i = 0; i < argv.size(); ++i) {
    std::string a = argv[i];
    std::optional<std::string> inline_value;
    if (a.rfind("--", 0) == 0 && a.find('=') != std::string::npos) {
      inline_value = a.substr(a.find('=') + 1);
      a = a.substr(0, a.find('='));
    }
    auto value = [&]() -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= argv.size()) throw Error("option " + a + " needs a value");
      return argv[++i];
    };
    const GlobalOption* global = nullptr;
    for (const auto& g : global_options())
      if (a == g.long_flag || (!g.short_flag.empty() && a == g.short_flag)) global = &g;
    if (global) {
      const std::string_view flag = global->long_flag;
      if (flag == "--socket") inv.socket = value();
      if (flag == "--config") inv.config = value();
      if (flag == "--json") inv.json = true;
      if (flag == "--version") inv.version = true;
      if (flag == "--help") inv.help = true;
    } else if (a.size() > 1 && a[0] == '-' && a != "-") {
      // A command's option: which command owns it is known once the line is read; whether it
      // takes a value is the same for every command that has it.
      const protocol::Option* known = nullptr;
      for (const auto& c : protocol::all_commands())
        if (!known) known = find_option(c, a);
      if (!known) throw Error("unknown option " + a);
      given.push_back({a, known->takes_value ? std::optional(value()) : std::nullopt});
    } else {
      words.push_back(argv[i]);
    }
  }
  if (inv.help || (inv.version && words.empty())) return inv;
  if (words.empty()) throw Error("no command given (backyctl --help lists them)");
  const std::string cmd = words[0];
  const CommandSpec* spec = protocol::find_command(cmd);
  if (!spec) throw Error("unknown command \"" + cmd + "\"");

  Json args = Json::object();
  fill_positionals(*spec, std::vector<std::string>(words.begin() + 1, words.end()), args);
  for (const auto& g : given) {
    const protocol::Option* o = find_option(*spec, g.flag);
    if (!o) throw Error(g.flag + " does not apply to " + cmd);
    const std::string arg(o->arg);
    if (!o->takes_value) {
      args[arg] = true;
      continue;
    }
    auto kind_is = [&](protocol::ArgKind kind) {
      return std::ranges::any_of(spec->args, [&](const protocol::ArgSpec& a) {
        return a.name == o->arg && a.kind == kind;
      });
    };
    if (kind_is(protocol::ArgKind::string)) {  // --listen ADDR:PORT: the daemon checks it
      args[arg] = *g.value;
      continue;
    }
    if (kind_is(protocol::ArgKind::partition)) {  // --partition N: the daemon checks the range
      const std::string& v = *g.value;
      if (v.empty() || v.size() > 3 || v.find_first_not_of("0123456789") != std::string::npos)
        throw Error(g.flag + " needs a number, not \"" + v + "\"");
      args[arg] = std::stoi(v);
      continue;
    }
    if (!args.contains(arg)) args[arg] = Json::array();
    for (const auto& t : parse_tag_list(*g.value)) args[arg].push_back(t);
  }
  if (spec->check && spec->check(args)) usage_error(*spec);
  if (spec->finish) spec->finish(args);
  // The text table needs a row of printed fields per job, not every job's whole object.
  if (cmd == "status" && !inv.json && !args.contains("job")) args["table"] = true;
  inv.request = protocol::Request{cmd, args};
  // Catch what the daemon would refuse before connecting, with the same words.
  if (auto err = protocol::validate_args(inv.request)) throw Error(err->message);
  return inv;
}

bool waits_long(const protocol::Request& request) {
  const CommandSpec* spec = protocol::find_command(request.command);
  if (!spec) return false;
  switch (spec->reply_time) {
    case protocol::ReplyTime::prompt:
      return false;
    case protocol::ReplyTime::slow:
      return true;
    case protocol::ReplyTime::slow_if_waits:
      return request.args.value("wait", false);
  }
  return false;
}

std::string socket_path(const Invocation& inv) {
  if (inv.socket) return *inv.socket;
  if (inv.config) {
    try {
      if (auto socket = configured_socket(read_file(*inv.config))) return *socket;
    } catch (const YAML::Exception& e) {
      throw Error("cannot read the socket path from " + *inv.config + ": " + e.what());
    } catch (const Error& e) {
      throw Error("cannot read the socket path from " + *inv.config + ": " + e.what());
    }
  }
  return "/run/backy/backyd.sock";
}

}  // namespace backy::ctl

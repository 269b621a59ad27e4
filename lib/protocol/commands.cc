#include "protocol/commands.h"

#include <map>

#include "config/config.h"

namespace backy::protocol {

namespace {

enum class Kind { job, string, strings, jobs, tags, boolean };

struct Arg {
  const char* name;
  Kind kind;
  bool required;
};

// The argument table of docs/protocol.md; keep the two in step.
const std::map<std::string, std::vector<Arg>>& arg_table() {
  static const std::map<std::string, std::vector<Arg>> table{
      {"version", {}},
      {"status", {{"job", Kind::job, false}}},
      {"health", {}},
      {"metrics", {}},
      {"run",
       {{"jobs", Kind::jobs, true}, {"tags", Kind::tags, false}, {"wait", Kind::boolean, false}}},
      {"pause", {{"jobs", Kind::jobs, false}, {"all", Kind::boolean, false}}},
      {"resume", {{"jobs", Kind::jobs, false}, {"all", Kind::boolean, false}}},
      {"reload", {}},
      {"restore",
       {{"job", Kind::job, true},
        {"rev", Kind::string, true},
        {"target", Kind::string, true},
        {"force", Kind::boolean, false},
        {"fd", Kind::boolean, false}}},
      {"scrub", {{"job", Kind::job, true}, {"rev", Kind::string, false}}},
      {"forget", {{"job", Kind::job, true}, {"rev", Kind::string, true}}},
      {"tags",
       {{"job", Kind::job, true},
        {"rev", Kind::string, true},
        {"add", Kind::tags, false},
        {"remove", Kind::tags, false}}},
  };
  return table;
}

Error bad(const std::string& cmd, const std::string& what) {
  return Error{ErrorCode::bad_request, cmd + ": " + what};
}

std::optional<std::string> check(const Arg& a, const Json& v) {
  const std::string n = std::string("\"") + a.name + "\"";
  switch (a.kind) {
    case Kind::boolean:
      if (!v.is_boolean()) return n + " must be true or false";
      return std::nullopt;
    case Kind::string:
      if (!v.is_string() || v.get<std::string>().empty()) return n + " must be a non-empty string";
      if (v.get<std::string>().find('\0') != std::string::npos) return n + " contains NUL";
      return std::nullopt;
    case Kind::job:
      if (!v.is_string() || !is_safe_job_name(v.get<std::string>()))
        return n + " must be a job name ([A-Za-z0-9][A-Za-z0-9._-]*)";
      return std::nullopt;
    case Kind::strings:
    case Kind::jobs:
    case Kind::tags: {
      if (!v.is_array()) return n + " must be an array of strings";
      if (a.kind == Kind::jobs && v.empty()) return n + " must name at least one job";
      for (const auto& e : v) {
        if (!e.is_string()) return n + " must be an array of strings";
        const std::string s = e.get<std::string>();
        if (a.kind == Kind::jobs && !is_safe_job_name(s)) return "\"" + s + "\" is no job name";
        if (a.kind == Kind::tags && !is_valid_tag(s))
          return "\"" + s + "\" is no valid tag ([A-Za-z0-9_.:-], 1 to 64 characters)";
      }
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace

const std::vector<CommandInfo>& all_commands() {
  static const std::vector<CommandInfo> commands{
      {"version", false}, {"status", false}, {"health", false}, {"metrics", false},
      {"run", true},      {"pause", true},   {"resume", true},  {"reload", true},
      {"restore", true},  {"scrub", true},   {"forget", true},  {"tags", true},
  };
  return commands;
}

const CommandInfo* find_command(const std::string& name) {
  for (const auto& c : all_commands())
    if (c.name == name) return &c;
  return nullptr;
}

bool is_valid_tag(const std::string& tag) {
  if (tag.empty() || tag.size() > 64) return false;
  for (char c : tag) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::optional<Error> validate_args(const Request& r) {
  auto it = arg_table().find(r.command);
  if (it == arg_table().end())
    return Error{ErrorCode::unknown_command, "unknown command \"" + r.command + "\""};
  const auto& spec = it->second;
  for (const auto& [key, value] : r.args.items()) {
    const Arg* arg = nullptr;
    for (const auto& a : spec)
      if (key == a.name) arg = &a;
    if (!arg) return bad(r.command, "unknown argument \"" + key + "\"");
    if (auto why = check(*arg, value)) return bad(r.command, *why);
  }
  for (const auto& a : spec)
    if (a.required && !r.args.contains(a.name))
      return bad(r.command, std::string("missing argument \"") + a.name + "\"");
  if (r.command == "pause" || r.command == "resume") {
    const bool all = r.args.value("all", false);
    if (all == r.args.contains("jobs"))
      return bad(r.command, "give either \"jobs\" or \"all\": true");
  }
  if (r.command == "tags") {
    const bool any = (r.args.contains("add") && !r.args["add"].empty()) ||
                     (r.args.contains("remove") && !r.args["remove"].empty());
    if (!any) return bad(r.command, "nothing to do: give \"add\" or \"remove\" tags");
  }
  return std::nullopt;
}

}  // namespace backy::protocol

#include "protocol/commands.h"

#include <filesystem>

#include "config/config.h"
#include "schedule/schedule.h"

namespace backy::protocol {

namespace {

// Cross-argument rules.

std::optional<std::string> jobs_or_all(const Json& args) {
  const bool all = args.value("all", false);
  if (all == args.contains("jobs")) return "give either \"jobs\" or \"all\": true";
  return std::nullopt;
}

std::optional<std::string> some_tag_change(const Json& args) {
  const bool any = (args.contains("add") && !args["add"].empty()) ||
                   (args.contains("remove") && !args["remove"].empty());
  if (!any) return "nothing to do: give \"add\" or \"remove\" tags";
  return std::nullopt;
}

// export JOB REV [--listen ADDR:PORT], or export --stop JOB [REV].
std::optional<std::string> export_or_stop(const Json& args) {
  if (args.value("stop", false)) {
    if (args.contains("listen")) return "\"listen\" does not go with \"stop\"";
    return std::nullopt;
  }
  if (!args.contains("rev")) return "name the revision to export (\"rev\")";
  return std::nullopt;
}

// A file target names the caller's file: relative to the caller's directory, and written by
// backyctl from the image the daemon passes (the "fd" argument); rbd: targets the daemon writes.
void restore_target(Json& args) {
  std::string target = args["target"];
  if (target.rfind("rbd:", 0) == 0) return;
  if (target != "-") target = std::filesystem::absolute(target).lexically_normal().string();
  args["target"] = target;
  args["fd"] = true;
}

// A path the caller names (clone's file, mount's directory): absolute, normalised, without a
// trailing '/', since the daemon runs elsewhere and compares it as a string.
std::string caller_path(const std::string& path) {
  std::string p = std::filesystem::absolute(path).lexically_normal().string();
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

// clone: backyctl writes the file from the image the daemon passes (as restore to a file).
void clone_target(Json& args) {
  args["target"] = caller_path(args["target"]);
  args["fd"] = true;
}

void mount_dir(Json& args) {
  args["dir"] = caller_path(args["dir"]);
}

constexpr std::string_view kRevWords = "latest 0 1 2";
constexpr std::string_view kRevSetWords = "latest 0 1 2 all tag:";

using P = Positional;

// pause and resume: the same arguments, a different verb.
CommandSpec jobs_or_all_command(std::string_view name, std::string_view synopsis,
                                std::string_view help) {
  return {.name = name,
          .access = Access::admin,
          .args = {{"jobs", ArgKind::jobs}, {"all", ArgKind::boolean}},
          .positionals = {{"jobs", P::any, "", "@jobs"}},
          .options = {{"--all", "all"}},
          .synopsis = synopsis,
          .help = help,
          .check = jobs_or_all};
}

// pause also says why.
CommandSpec pause_command() {
  CommandSpec spec =
      jobs_or_all_command("pause", "pause JOB...|--all [--reason TEXT]",
                          "stop scheduling jobs, until resumed (also across restarts)");
  spec.args.push_back({"reason", ArgKind::string});
  spec.options.push_back({"--reason", "reason", true});
  return spec;
}

}  // namespace

const std::vector<CommandSpec>& all_commands() {
  static const std::vector<CommandSpec> commands{
      {.name = "status",
       .access = Access::anyone,
       .args = {{"job", ArgKind::job}, {"table", ArgKind::boolean}},
       .positionals = {{"job", P::optional, "", "@jobs"}},
       .synopsis = "status [JOB]",
       .help = "the job table, or one job's revisions"},
      {.name = "health",
       .access = Access::anyone,
       .synopsis = "health",
       .help = "monitoring check (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)"},
      {.name = "metrics",
       .access = Access::anyone,
       .synopsis = "metrics",
       .help = "Prometheus text exposition"},
      {.name = "version",
       .access = Access::anyone,
       .synopsis = "version",
       .help = "client and daemon versions"},
      {.name = "run",
       .access = Access::admin,
       .args = {{"jobs", ArgKind::jobs},
                {"all", ArgKind::boolean},
                {"tags", ArgKind::tags},
                {"wait", ArgKind::boolean}},
       .positionals = {{"jobs", P::any, "", "@jobs"}},
       .options = {{"--all", "all"}, {"--tags", "tags", true}, {"--wait", "wait"}},
       .synopsis = "run JOB...|--all [--tags T1,T2] [--wait]",
       .help = "back up now (a job already queued or running is not run twice); --wait follows "
               "the runs and exits with their outcome",
       .reply_time = ReplyTime::slow_if_waits,
       .check = jobs_or_all},
      pause_command(),
      jobs_or_all_command("resume", "resume JOB...|--all", "schedule paused jobs again"),
      {.name = "reload",
       .access = Access::admin,
       .synopsis = "reload",
       .help = "re-read the daemon's configuration"},
      {.name = "restore",
       .access = Access::admin,
       .args = {{"job", ArgKind::job, true},
                {"rev", ArgKind::string, true},
                {"target", ArgKind::string, true},
                {"force", ArgKind::boolean},
                {"fd", ArgKind::boolean}},
       .positionals = {{"job", P::one, "", "@jobs"},
                       {"rev", P::one, "", kRevWords},
                       {"target", P::one, "", "@files - rbd:"}},
       .options = {{"--force", "force"}},
       .synopsis = "restore JOB REV TARGET [--force]",
       .help = "write a revision to TARGET: a file, a block device, - (stdout) or rbd:POOL/IMAGE",
       .reply_time = ReplyTime::slow,
       .finish = restore_target},
      {.name = "path",
       .access = Access::anyone,
       .args = {{"job", ArgKind::job, true}, {"rev", ArgKind::string, true}},
       .positionals = {{"job", P::one, "", "@jobs"}, {"rev", P::one, "", kRevWords}},
       .synopsis = "path JOB REV",
       .help = "the revision's image file (for qemu-img, dd, losetup)"},
      {.name = "scrub",
       .access = Access::admin,
       .args = {{"job", ArgKind::job, true}, {"rev", ArgKind::string}},
       .positionals = {{"job", P::one, "", "@jobs"}, {"rev", P::optional, "all", kRevSetWords}},
       .synopsis = "scrub JOB [REV|all]",
       .help = "check revisions against their checksums (default: all)",
       .reply_time = ReplyTime::slow},
      {.name = "forget",
       .access = Access::admin,
       .args = {{"job", ArgKind::job, true},
                {"rev", ArgKind::string, true},
                {"force", ArgKind::boolean},
                {"dry_run", ArgKind::boolean}},
       .positionals = {{"job", P::one, "", "@jobs"}, {"rev", P::one, "", kRevSetWords}},
       .options = {{"--force", "force"}, {"--dry-run", "dry_run"}},
       .synopsis = "forget JOB REV [--dry-run] [--force]",
       .help = "delete revisions (the newest, or more than one, only with --force)",
       .reply_time = ReplyTime::slow},
      {.name = "adopt",
       .access = Access::admin,
       .args = {{"job", ArgKind::job, true}},
       .positionals = {{"job", P::one, "", "@jobs"}},
       .synopsis = "adopt JOB",
       .help = "take over the cowfile revisions upstream backy left in the job's directory",
       .reply_time = ReplyTime::slow},
      {.name = "tags",
       .access = Access::admin,
       .args = {{"job", ArgKind::job, true},
                {"rev", ArgKind::string, true},
                {"add", ArgKind::tags},
                {"remove", ArgKind::tags}},
       .positionals = {{"job", P::one, "", "@jobs"}, {"rev", P::one, "", kRevSetWords}},
       .options = {{"--add", "add", true}, {"--remove", "remove", true}},
       .synopsis = "tags JOB REV [--add T]... [--remove T]...",
       .help = "add or remove tags of revisions",
       .reply_time = ReplyTime::slow,
       .check = some_tag_change},
      {.name = "clone",
       .access = Access::admin,
       .args = {{"job", ArgKind::job, true},
                {"rev", ArgKind::string, true},
                {"target", ArgKind::string, true},
                {"qcow2", ArgKind::boolean},
                {"fd", ArgKind::boolean}},
       .positionals = {{"job", P::one, "", "@jobs"},
                       {"rev", P::one, "", kRevWords},
                       {"target", P::one, "", "@files"}},
       .options = {{"--qcow2", "qcow2"}},
       .synopsis = "clone JOB REV FILE [--qcow2]",
       .help = "a writable raw image (reflink) or qcow2 overlay of a revision at FILE",
       .reply_time = ReplyTime::slow,
       .finish = clone_target},
      {.name = "mount",
       .access = Access::root,
       .args = {{"job", ArgKind::job, true},
                {"rev", ArgKind::string, true},
                {"dir", ArgKind::string, true},
                {"partition", ArgKind::partition}},
       .positionals = {{"job", P::one, "", "@jobs"},
                       {"rev", P::one, "", kRevWords},
                       {"dir", P::one, "", "@files"}},
       .options = {{"--partition", "partition", true}},
       .synopsis = "mount JOB REV DIR [--partition N]",
       .help = "the revision's filesystem at the empty directory DIR, read-only",
       .reply_time = ReplyTime::slow,
       .finish = mount_dir},
      {.name = "umount",
       .access = Access::root,
       .args = {{"dir", ArgKind::string, true}},
       .positionals = {{"dir", P::one, "", "@files"}},
       .synopsis = "umount DIR",
       .help = "undo a mount: unmount, then release the revision and remove its clone",
       .reply_time = ReplyTime::slow,
       .finish = mount_dir},
      {.name = "mounts",
       .access = Access::anyone,
       .args = {{"prune", ArgKind::boolean}},
       .options = {{"--prune", "prune"}},
       .synopsis = "mounts [--prune]",
       .help = "the mount records; --prune releases those no longer mounted (root)"},
      {.name = "export",
       .access = Access::root,
       .args = {{"job", ArgKind::job, true},
                {"rev", ArgKind::string},
                {"listen", ArgKind::string},
                {"stop", ArgKind::boolean}},
       .positionals = {{"job", P::one, "", "@jobs"}, {"rev", P::optional, "", kRevWords}},
       .options = {{"--listen", "listen", true}, {"--stop", "stop"}},
       .synopsis = "export JOB REV [--listen ADDR:PORT] | export --stop JOB [REV]",
       .help = "serve a revision read-only over NBD until --stop (Unix socket; --listen: TCP, "
               "no authentication)",
       .reply_time = ReplyTime::slow,
       .check = export_or_stop},
  };
  return commands;
}

const CommandSpec* find_command(std::string_view name) {
  for (const auto& c : all_commands())
    if (c.name == name) return &c;
  return nullptr;
}

std::string_view to_string(Access access) {
  switch (access) {
    case Access::anyone:
      return "anyone";
    case Access::admin:
      return "admin";
    case Access::root:
      return "root";
  }
  return "?";
}

namespace {

Error bad(const std::string& cmd, const std::string& what) {
  return Error{ErrorCode::bad_request, cmd + ": " + what};
}

std::optional<std::string> check_arg(const ArgSpec& a, const Json& v) {
  const std::string n = "\"" + std::string(a.name) + "\"";
  switch (a.kind) {
    case ArgKind::boolean:
      if (!v.is_boolean()) return n + " must be true or false";
      return std::nullopt;
    case ArgKind::string:
      if (!v.is_string() || v.get<std::string>().empty()) return n + " must be a non-empty string";
      if (v.get<std::string>().find('\0') != std::string::npos) return n + " contains NUL";
      return std::nullopt;
    case ArgKind::job:
      if (!v.is_string() || !is_safe_job_name(v.get<std::string>()))
        return n + " must be a job name ([A-Za-z0-9][A-Za-z0-9._-]*)";
      return std::nullopt;
    case ArgKind::partition:
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 256)
        return n + " must be a partition number from 0 (the whole image) to 256";
      return std::nullopt;
    case ArgKind::jobs:
    case ArgKind::tags: {
      if (!v.is_array()) return n + " must be an array of strings";
      if (a.kind == ArgKind::jobs && v.empty()) return n + " must name at least one job";
      for (const auto& e : v) {
        if (!e.is_string()) return n + " must be an array of strings";
        const std::string s = e.get<std::string>();
        if (a.kind == ArgKind::jobs && !is_safe_job_name(s)) return "\"" + s + "\" is no job name";
        if (a.kind == ArgKind::tags && !is_valid_tag(s))
          return "\"" + s + "\" is no valid tag ([A-Za-z0-9_.:-], 1 to 64 characters)";
      }
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::string_view kind_name(ArgKind kind) {
  switch (kind) {
    case ArgKind::job:
      return "job";
    case ArgKind::string:
      return "string";
    case ArgKind::jobs:
      return "[job]";
    case ArgKind::tags:
      return "[tag]";
    case ArgKind::boolean:
      return "bool";
    case ArgKind::partition:
      return "integer";
  }
  return "?";
}

}  // namespace

std::optional<Error> validate_args(const Request& r) {
  const CommandSpec* spec = find_command(r.command);
  if (!spec) return Error{ErrorCode::unknown_command, "unknown command \"" + r.command + "\""};
  for (const auto& [key, value] : r.args.items()) {
    const ArgSpec* arg = nullptr;
    for (const auto& a : spec->args)
      if (key == a.name) arg = &a;
    if (!arg) return bad(r.command, "unknown argument \"" + key + "\"");
    if (auto why = check_arg(*arg, value)) return bad(r.command, *why);
  }
  for (const auto& a : spec->args)
    if (a.required && !r.args.contains(a.name))
      return bad(r.command, "missing argument \"" + std::string(a.name) + "\"");
  if (spec->check)
    if (auto why = spec->check(r.args)) return bad(r.command, *why);
  return std::nullopt;
}

std::string markdown_command_list() {
  std::string out =
      "| command | who | arguments (? = optional) | what it does |\n"
      "|---|---|---|---|\n";
  for (const auto& c : all_commands()) {
    std::string args;
    for (const auto& a : c.args) {
      if (!args.empty()) args += ", ";
      args += "`" + std::string(a.name) + (a.required ? "" : "?") + ": " +
              std::string(kind_name(a.kind)) + "`";
    }
    if (args.empty()) args = "-";
    out += "| `" + std::string(c.name) + "` | " + std::string(to_string(c.access)) + " | " + args +
           " | " + std::string(c.help) + " |\n";
  }
  return out;
}

}  // namespace backy::protocol

#include "args.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <sstream>

#include "protocol/commands.h"
#include "schedule/schedule.h"
#include "util/error.h"

namespace backy::ctl {

const char* const kUsage = R"(Usage: backyctl [options] COMMAND [ARGS...]

Options:
  -s, --socket PATH   the daemon's control socket (default /run/backy/backyd.sock)
  -c, --config FILE   read the socket path from this configuration (global.socket)
      --json          print JSON instead of text
  -h, --help          show this help

Commands:
  status [JOB]                      the job table, or one job's revisions
  health                            monitoring check (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)
  metrics                           Prometheus text exposition
  version                           client and daemon versions
  run JOB... [--tags T1,T2] [--wait]  back up now; --wait follows the run and exits with its outcome
  pause JOB...|--all                stop scheduling jobs
  resume JOB...|--all               schedule them again
  reload                            re-read the daemon's configuration
  restore JOB REV TARGET [--force]  TARGET: a file, a block device, - (stdout) or rbd:POOL/IMAGE
  scrub JOB [REV|all]               check revisions against their checksums (default: all)
  forget JOB REV                    delete one revision
  tags JOB REV [--add T]... [--remove T]...
REV: a uuid, N (0 = newest), latest, tag:NAME (scrub, tags), all (scrub, tags).
)";

namespace {

void need(bool ok, const std::string& usage) {
  if (!ok) throw Error("usage: backyctl " + usage);
}

}  // namespace

Invocation parse_args(const std::vector<std::string>& argv) {
  Invocation inv;
  std::vector<std::string> pos;
  std::vector<std::string> tags, add, remove;
  bool wait = false, all = false, force = false, has_tags = false;
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
    if (a == "-s" || a == "--socket") {
      inv.socket = value();
    } else if (a == "-c" || a == "--config") {
      inv.config = value();
    } else if (a == "--json") {
      inv.json = true;
    } else if (a == "-h" || a == "--help") {
      inv.help = true;
    } else if (a == "--tags") {
      has_tags = true;
      for (auto& t : parse_tag_list(value())) tags.push_back(t);
    } else if (a == "--add") {
      for (auto& t : parse_tag_list(value())) add.push_back(t);
    } else if (a == "--remove") {
      for (auto& t : parse_tag_list(value())) remove.push_back(t);
    } else if (a == "--wait") {
      wait = true;
    } else if (a == "--all") {
      all = true;
    } else if (a == "--force") {
      force = true;
    } else if (a.size() > 1 && a[0] == '-' && a != "-") {
      throw Error("unknown option " + a);
    } else {
      pos.push_back(argv[i]);
    }
  }
  if (inv.help) return inv;
  if (pos.empty()) throw Error("no command given (backyctl --help lists them)");
  const std::string cmd = pos[0];
  const std::vector<std::string> rest(pos.begin() + 1, pos.end());
  if (!protocol::find_command(cmd)) throw Error("unknown command \"" + cmd + "\"");
  auto refuse = [&](bool given, const char* opt) {
    if (given) throw Error(std::string(opt) + " does not apply to " + cmd);
  };
  refuse(has_tags && cmd != "run", "--tags");
  refuse(wait && cmd != "run", "--wait");
  refuse(all && cmd != "pause" && cmd != "resume", "--all");
  refuse(force && cmd != "restore", "--force");
  refuse((!add.empty() || !remove.empty()) && cmd != "tags", "--add/--remove");

  protocol::Json args = protocol::Json::object();
  if (cmd == "version" || cmd == "health" || cmd == "metrics" || cmd == "reload") {
    need(rest.empty(), cmd);
  } else if (cmd == "status") {
    need(rest.size() <= 1, "status [JOB]");
    if (!rest.empty()) args["job"] = rest[0];
  } else if (cmd == "run") {
    need(!rest.empty(), "run JOB... [--tags T1,T2] [--wait]");
    args["jobs"] = rest;
    if (has_tags) args["tags"] = tags;
    if (wait) args["wait"] = true;
  } else if (cmd == "pause" || cmd == "resume") {
    need(all != !rest.empty(), cmd + " JOB...|--all");
    if (all)
      args["all"] = true;
    else
      args["jobs"] = rest;
  } else if (cmd == "restore") {
    need(rest.size() == 3, "restore JOB REV TARGET [--force]");
    std::string target = rest[2];
    // The daemon runs elsewhere: a relative path means the caller's directory.
    if (target != "-" && target.rfind("rbd:", 0) != 0)
      target = std::filesystem::absolute(target).lexically_normal().string();
    args = {{"job", rest[0]}, {"rev", rest[1]}, {"target", target}};
    if (force) args["force"] = true;
    // Files, devices and stdout: backyctl writes them from the image the daemon passes.
    if (target.rfind("rbd:", 0) != 0) args["fd"] = true;
  } else if (cmd == "scrub") {
    need(rest.size() == 1 || rest.size() == 2, "scrub JOB [REV|all]");
    args = {{"job", rest[0]}, {"rev", rest.size() == 2 ? rest[1] : "all"}};
  } else if (cmd == "forget") {
    need(rest.size() == 2, "forget JOB REV");
    args = {{"job", rest[0]}, {"rev", rest[1]}};
  } else if (cmd == "tags") {
    need(rest.size() == 2 && (!add.empty() || !remove.empty()),
         "tags JOB REV [--add T]... [--remove T]...");
    args = {{"job", rest[0]}, {"rev", rest[1]}};
    if (!add.empty()) args["add"] = add;
    if (!remove.empty()) args["remove"] = remove;
  }
  inv.request = protocol::Request{cmd, args};
  // Catch what the daemon would refuse before connecting, with the same words.
  if (auto err = protocol::validate_args(inv.request)) throw Error(err->message);
  return inv;
}

std::string socket_path(const Invocation& inv) {
  if (inv.socket) return *inv.socket;
  if (inv.config) {
    try {
      YAML::Node root = YAML::LoadFile(*inv.config);
      if (root["global"] && root["global"]["socket"])
        return root["global"]["socket"].as<std::string>();
    } catch (const YAML::Exception& e) {
      throw Error("cannot read the socket path from " + *inv.config + ": " + e.what());
    }
  }
  return "/run/backy/backyd.sock";
}

}  // namespace backy::ctl

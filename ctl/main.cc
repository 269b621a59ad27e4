// backyctl: a thin client of backyd's control socket. It parses its arguments, sends one request,
// prints the answer, and exits (0 success, 1 error; `health` uses the monitoring-plugin codes:
// 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
//
// `restore` to a file, a block device or stdout is the one command that moves data: the daemon
// checks the request and passes the revision's image as a read-only fd, and backyctl writes the
// target itself, with its user's rights (restore_writer.h; docs/protocol.md). `clone` works the
// same way (clone_writer.h). mount, umount and mounts make and look at mounts here, in the
// caller's mount namespace (mount_client.h).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <vector>

#include "args.h"
#include "client.h"
#include "clone_writer.h"
#include "completion.h"
#include "mount_client.h"
#include "progress_line.h"
#include "render.h"
#include "restore_writer.h"
#include "util/error.h"
#include "util/fd.h"

namespace {

using backy::protocol::Json;

int health_unreachable(const backy::ctl::Invocation& inv, const std::string& why, int code) {
  const char* level = code == 2 ? "CRITICAL" : "UNKNOWN";
  if (inv.json)
    std::cout << Json{{"status", level},
                      {"exit_code", code},
                      {"summary", why},
                      {"problems", Json::array()}}
                     .dump(2)
              << '\n';
  else
    std::cout << "BACKY " << level << " - " << why << '\n';
  return code;
}

// A failure as the caller asked to see it: with --json a JSON object on stdout (scripts parse one
// stream), else a line on stderr.
int fail(bool json, std::string_view code, const std::string& message) {
  if (json)
    std::cout << Json{{"error", {{"code", code}, {"message", message}}}}.dump(2) << '\n';
  else if (code == "usage" || code == "unreachable" || code == "client")
    std::cerr << "backyctl: " << message << '\n';
  else
    std::cerr << "backyctl: " << message << " [" << code << "]\n";
  return 1;
}

// backyctl --version: the client's version always, the daemon's when it answers.
int print_versions(const backy::ctl::Invocation& inv) {
  Json daemon;
  try {
    const auto reply =
        backy::ctl::call(backy::ctl::socket_path(inv), {"version", Json::object()}, 5, {}, nullptr);
    if (reply.ok) daemon = reply.body;
  } catch (const backy::ctl::Unreachable& u) {
    daemon = Json{{"unreachable", u.message}};
  } catch (const std::exception& e) {
    daemon = Json{{"unreachable", e.what()}};
  }
  if (inv.json) {
    std::cout << Json{{"backyctl", BACKY_VERSION}, {"backyd", daemon}}.dump(2) << '\n';
    return 0;
  }
  std::cout << "backyctl " << BACKY_VERSION << '\n';
  if (daemon.contains("version"))
    std::cout << "backyd " << daemon.value("version", "?") << " (protocol "
              << daemon.value("protocol", 0) << ")\n";
  else
    std::cout << "backyd: not reachable (" << daemon.value("unreachable", "no answer") << ")\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], "__complete") == 0) {
    const std::vector<std::string> words(argv + 3, argv + argc);
    for (const auto& w : backy::ctl::complete(words, std::strtoul(argv[2], nullptr, 10)))
      std::cout << w << '\n';
    return 0;
  }
  const std::vector<std::string> args(argv + 1, argv + argc);
  backy::ctl::Invocation inv;
  try {
    inv = backy::ctl::parse_args(args);
  } catch (const backy::Error& e) {
    // The line did not parse, but a --json on it still says how the caller reads errors.
    const bool json = std::find(args.begin(), args.end(), "--json") != args.end();
    return fail(json, "usage", e.what());
  }
  if (inv.help) {
    std::cout << backy::ctl::usage();
    return 0;
  }
  if (inv.version) return print_versions(inv);
  const std::string& cmd = inv.request.command;
  if (cmd == "restore" && inv.request.args.value("target", "") == "-" && ::isatty(STDOUT_FILENO))
    return fail(inv.json, "usage",
                "restore to - writes the disk image to stdout, which is a terminal; redirect it "
                "(> FILE, | COMMAND) or name a target file");
  const bool health = cmd == "health";
  const bool long_running = backy::ctl::waits_long(inv.request);
  try {
    const std::string socket = backy::ctl::socket_path(inv);
    // Cleared before anything else is printed (and by its destructor on the way out).
    backy::ctl::ProgressLine line(std::cerr, ::isatty(STDERR_FILENO));
    auto progress = [&](const Json& p) {
      line.show(backy::ctl::render_progress(cmd, p), backy::ctl::is_progress_figure(p));
    };
    backy::UniqueFd image;
    backy::protocol::Reply reply;
    if (cmd == "mount")
      reply = backy::ctl::mount(socket, inv.request, progress);
    else if (cmd == "umount")
      reply = backy::ctl::umount(socket, inv.request);
    else if (cmd == "mounts")
      reply = backy::ctl::mounts(socket, inv.request);
    else
      reply = backy::ctl::call(socket, inv.request, long_running ? 0 : 120, progress, &image);
    line.clear();
    if (!reply.ok) {
      const auto& e = *reply.error;
      if (health) return health_unreachable(inv, "daemon error: " + e.message, 3);
      return fail(inv.json, backy::protocol::to_string(e.code), e.message);
    }
    if (cmd == "restore" && image) {
      const Json& args = inv.request.args;
      backy::ctl::RestoreOrder order{args["target"], args.value("force", false),
                                     reply.body.value("uuid", ""), reply.body.value("size", 0ull),
                                     reply.body.value("base_dir", "")};
      try {
        backy::ctl::write_restore(image.get(), order, progress);
        line.clear();
      } catch (const backy::Cancelled&) {
        line.clear();
        const int sig = backy::ctl::restore_stop_signal();
        std::cerr << "backyctl: restore interrupted (" << ::strsignal(sig)
                  << "); the partial target was removed\n";
        return 128 + sig;
      }
      reply.body.erase(backy::protocol::kFdField);
      reply.body.erase("base_dir");
      if (order.target == "-") {
        if (inv.json) std::cerr << reply.body.dump() << '\n';  // stdout carries the image
        return 0;
      }
    }
    if (cmd == "clone" && image) {
      const Json& args = inv.request.args;
      backy::ctl::CloneOrder order{args["target"],
                                   args.value("qcow2", false),
                                   reply.body.value("uuid", ""),
                                   reply.body.value("image", ""),
                                   reply.body.value("base_dir", ""),
                                   reply.body.value("size", 0ull)};
      try {
        reply.body["how"] = backy::ctl::write_clone(
            image.get(), order, progress, [](const std::string& w) { std::cerr << w << '\n'; });
      } catch (const backy::Cancelled&) {
        const int sig = backy::ctl::restore_stop_signal();
        std::cerr << "backyctl: clone interrupted (" << ::strsignal(sig)
                  << "); the partial file was removed\n";
        return 128 + sig;
      }
      reply.body["target"] = order.file;
      reply.body.erase(backy::protocol::kFdField);
      reply.body.erase("base_dir");
    }
    if (inv.json) {
      std::cout << reply.body.dump(2) << '\n';
      return backy::ctl::exit_code(cmd, reply.body);
    }
    return backy::ctl::render(cmd, reply.body, std::cout);
  } catch (const backy::ctl::Unreachable& u) {
    if (health) return health_unreachable(inv, "daemon not reachable: " + u.message, 2);
    if (cmd == "version" && !inv.json) std::cout << "backyctl " << BACKY_VERSION << '\n';
    return fail(inv.json, "unreachable", u.message);
  } catch (const std::exception& e) {
    if (health) return health_unreachable(inv, e.what(), 3);
    return fail(inv.json, "client", e.what());
  }
}

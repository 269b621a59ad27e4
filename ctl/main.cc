// backyctl: a thin client of backyd's control socket. It parses its arguments, sends one request,
// prints the answer, and exits (0 success, 1 error; `health` uses the monitoring-plugin codes:
// 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
//
// `restore JOB REV -` is the one command that moves data: the daemon checks the request and
// names the revision's image file, and backyctl copies that file to stdout itself (see
// docs/protocol.md: the daemon's event loop never carries image data).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <vector>

#include "args.h"
#include "client.h"
#include "render.h"
#include "util/error.h"
#include "util/fd.h"

namespace {

using backy::protocol::Json;

// Copies the image to stdout; holes read back as zeros, so the stream is the full image.
void stream_image(const std::string& image, uint64_t size) {
  backy::UniqueFd fd(::open(image.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd)
    throw backy::Error("cannot read " + image + ": " + std::strerror(errno) +
                       " (restore to stdout reads the revision file directly; run as root, or "
                       "restore to a file)");
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  std::vector<char> buf(1 << 20);
  uint64_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd.get(), buf.data(), std::min<uint64_t>(buf.size(), size - done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw backy::sys_error("read " + image);
    if (n == 0) throw backy::Error(image + " is shorter than the revision's size");
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(1, buf.data() + off, static_cast<size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) throw backy::sys_error("write to stdout");
      off += w;
    }
    done += static_cast<uint64_t>(n);
  }
}

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

}  // namespace

int main(int argc, char** argv) {
  backy::ctl::Invocation inv;
  try {
    inv = backy::ctl::parse_args(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const backy::Error& e) {
    std::cerr << "backyctl: " << e.what() << '\n';
    return 1;
  }
  if (inv.help) {
    std::cout << backy::ctl::kUsage;
    return 0;
  }
  const std::string& cmd = inv.request.command;
  const bool health = cmd == "health";
  const bool long_running = (cmd == "run" && inv.request.args.value("wait", false)) ||
                            cmd == "restore" || cmd == "scrub" || cmd == "forget" || cmd == "tags";
  try {
    const std::string socket = backy::ctl::socket_path(inv);
    auto progress = [&](const Json& p) {
      std::cerr << backy::ctl::render_progress(cmd, p) << std::endl;
    };
    backy::protocol::Reply reply =
        backy::ctl::call(socket, inv.request, long_running ? 0 : 120, progress);
    if (!reply.ok) {
      const auto& e = *reply.error;
      if (health) return health_unreachable(inv, "daemon error: " + e.message, 3);
      std::cerr << "backyctl: " << e.message << " [" << backy::protocol::to_string(e.code) << "]\n";
      return 1;
    }
    if (cmd == "restore" && reply.body.value("stream", false)) {
      stream_image(reply.body["image"], reply.body["size"]);
      if (inv.json) std::cerr << reply.body.dump() << '\n';  // stdout carries the image
      return 0;
    }
    if (inv.json) {
      std::cout << reply.body.dump(2) << '\n';
      return backy::ctl::exit_code(cmd, reply.body);
    }
    return backy::ctl::render(cmd, reply.body, std::cout);
  } catch (const backy::ctl::Unreachable& u) {
    if (health) return health_unreachable(inv, "daemon not reachable: " + u.message, 2);
    std::cerr << "backyctl: " << u.message << '\n';
    return 1;
  } catch (const std::exception& e) {
    if (health) return health_unreachable(inv, e.what(), 3);
    std::cerr << "backyctl: " << e.what() << '\n';
    return 1;
  }
}

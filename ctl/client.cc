#include "client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "util/error.h"
#include "util/fd.h"
#include "util/fd_passing.h"

namespace backy::ctl {

namespace {

UniqueFd connect_to(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) throw Unreachable{"socket path too long: " + path};
  path.copy(addr.sun_path, sizeof addr.sun_path - 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw Unreachable{std::string("socket: ") + std::strerror(errno)};
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ECONNREFUSED)
      throw Unreachable{"backyd is not running (nothing listens on " + path + ": " +
                        std::strerror(err) + ")"};
    if (err == EACCES)
      throw Unreachable{"permission denied on " + path +
                        " (the socket is mode 0660: its owner and group may connect)"};
    throw Unreachable{"cannot connect to " + path + ": " + std::strerror(err)};
  }
  return fd;
}

void send_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw sys_error("send request");
    }
    done += static_cast<size_t>(n);
  }
}

}  // namespace

namespace {

// Reads progress lines (to `on_progress`) and the final response from `sock`.
protocol::Reply read_reply(int sock, int timeout_s,
                           const std::function<void(const protocol::Json&)>& on_progress,
                           UniqueFd* fd) {
  timeval tv{timeout_s, 0};
  ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string buffer;
  size_t scanned = 0;  // bytes of `buffer` known to hold no newline (a status answer is MBs)
  std::vector<char> chunk(1 << 20);
  std::vector<UniqueFd> received;
  for (;;) {
    size_t nl;
    while ((nl = buffer.find('\n', scanned)) != std::string::npos) {
      protocol::Reply reply = protocol::parse_reply(std::string_view(buffer).substr(0, nl));
      buffer.erase(0, nl + 1);
      scanned = 0;
      if (!reply.final) {
        if (on_progress) on_progress(reply.body);
        continue;
      }
      if (protocol::carries_fd(reply)) {
        // The descriptor rides on the line's first bytes: it has arrived by now, or never will.
        if (received.size() != 1)
          throw Error("backyd announced a file descriptor but passed " +
                      std::to_string(received.size()));
        if (fd) *fd = std::move(received.front());
      }
      return reply;
    }
    scanned = buffer.size();
    ssize_t n = receive_with_fds(sock, chunk, received);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        throw Error("no answer from backyd within " + std::to_string(timeout_s) + " s");
      throw sys_error("read the answer");
    }
    if (n == 0) throw Error("backyd closed the connection without an answer");
    buffer.append(chunk.data(), static_cast<size_t>(n));
  }
}

}  // namespace

protocol::Reply call(const std::string& socket, const protocol::Request& request, int timeout_s,
                     const std::function<void(const protocol::Json&)>& on_progress, UniqueFd* fd,
                     UniqueFd* connection) {
  UniqueFd sock = connect_to(socket);
  send_all(sock.get(), protocol::encode_request(request));
  protocol::Reply reply = read_reply(sock.get(), timeout_s, on_progress, fd);
  if (connection) *connection = std::move(sock);
  return reply;
}

protocol::Reply follow_up(int connection, const protocol::Json& line, int timeout_s) {
  send_all(connection, line.dump() + "\n");
  return read_reply(connection, timeout_s, nullptr, nullptr);
}

}  // namespace backy::ctl

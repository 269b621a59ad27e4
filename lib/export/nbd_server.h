// NbdServer: one qemu-nbd process serving one revision image, read-only, over NBD.
//
// The daemon opens the image itself (as the repository opens images: no links) and the child
// inherits that descriptor as fd 3 and opens /dev/fd/3: qemu-nbd is never given a path a client
// named. It serves with --read-only --format=raw --persistent (it outlives its clients) and a
// bounded --shared, on a Unix socket or a TCP address (NbdListen), writes its pid file once it
// listens (the daemon's "ready" signal), and exits on SIGTERM.
//
// The child gets PR_SET_PDEATHSIG(SIGKILL) tied to the thread that starts it: start() it on a
// thread that lives as long as the process (the daemon's event loop), so a daemon killed with
// SIGKILL leaves no server behind. It runs in its own session with the default signal
// dispositions, an empty signal mask, /dev/null as stdin and stdout, stderr on the fd given, and
// no other descriptor (those above 3 are closed before exec).
//
// Owns the child and a pidfd for it: the pidfd turns readable when the child exits (for an event
// loop to wait on); try_reap() collects it without blocking. The destructor kills and reaps a
// child still running (the last resort; stop it with terminate() and wait for the pidfd first).
// Move-only; one thread at a time.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/fd.h"

namespace backy {

// Where an export listens: a Unix socket, or a TCP address when `socket` is empty.
struct NbdListen {
  std::string socket;  // absolute path
  std::string host;    // numeric IPv4 or IPv6 address (without brackets)
  uint16_t port = 0;

  bool tcp() const { return socket.empty(); }
  // "PATH" or "HOST:PORT" ("[HOST]:PORT" for IPv6).
  std::string address() const;
  // The NBD URI a client opens: nbd+unix:///?socket=PATH or nbd://HOST:PORT/ (export name "").
  std::string uri() const;
};

// Parses --listen's ADDR:PORT: a numeric IPv4 address or a bracketed IPv6 address ([::1]:10809),
// and a port from 1 to 65535. No host names: the daemon resolves nothing a client sends.
// nullopt, with the reason in `why`, when `text` is none of these.
std::optional<NbdListen> parse_tcp_listen(const std::string& text, std::string* why);

// qemu-nbd's arguments (without the program) serving /dev/fd/3 at `listen` to at most
// `max_clients` clients at once, writing its pid to `pid_file` once it listens. Pure.
std::vector<std::string> qemu_nbd_args(const NbdListen& listen, const std::string& pid_file,
                                       int max_clients);

class NbdServer {
 public:
  // Starts `program` (an absolute path, or a name found on PATH) with `args`, `image` as its
  // fd 3 and `stderr_fd` as its stderr. Throws backy::Error when it cannot be started (not
  // installed, fork failed).
  static NbdServer start(const std::string& program, const std::vector<std::string>& args,
                         int image, int stderr_fd);

  NbdServer(NbdServer&& o) noexcept;
  NbdServer& operator=(NbdServer&&) = delete;
  NbdServer(const NbdServer&) = delete;
  NbdServer& operator=(const NbdServer&) = delete;
  ~NbdServer();

  pid_t pid() const { return pid_; }
  // Readable once the child has exited.
  int pidfd() const { return pidfd_.get(); }

  // Sends `signo` (SIGTERM: stop serving; SIGKILL: the last resort). No-op once reaped.
  void signal(int signo) const;
  // The exit code (128 + N when killed by signal N) once the child has exited; nullopt while it
  // runs. Never blocks. After a value, the child is gone and signal() does nothing.
  std::optional<int> try_reap();

 private:
  NbdServer(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  pid_t pid_ = -1;  // -1 once reaped (or moved from)
  UniqueFd pidfd_;
  std::optional<int> exit_code_;  // once reaped
};

// The absolute path of `name` found on PATH; nullopt when it is not installed.
std::optional<std::string> find_program(const std::string& name);

}  // namespace backy

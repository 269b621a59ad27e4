#include "export/nbd_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string_view>
#include <utility>

#include "util/error.h"

extern char** environ;

namespace backy {

namespace {

constexpr int kImageFd = 3;  // the child's /dev/fd/3

int decode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Only async-signal-safe calls between fork and exec: the parent has other threads, one of
// which may hold malloc's lock.
[[noreturn]] void exec_child(const char* path, char* const* argv, int image, int stderr_fd,
                             pid_t parent) {
  ::setsid();
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(127);
  const int null = ::open("/dev/null", O_RDWR);
  if (null < 0 || ::dup2(stderr_fd, 2) < 0 || ::dup2(null, 0) < 0 || ::dup2(null, 1) < 0)
    ::_exit(127);
  // dup2 onto itself keeps O_CLOEXEC: clear it by hand then.
  if (image == kImageFd ? ::fcntl(kImageFd, F_SETFD, 0) != 0 : ::dup2(image, kImageFd) < 0)
    ::_exit(127);
  // Whatever the daemon inherited without O_CLOEXEC stays with it.
  ::close_range(kImageFd + 1, ~0U, 0);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) ::sigaction(s, &dfl, nullptr);  // invalid ones fail: fine
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(path, argv, environ);
  ::_exit(127);
}

}  // namespace

std::string NbdListen::address() const {
  if (!tcp()) return socket;
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string NbdListen::uri() const {
  if (!tcp()) return "nbd+unix:///?socket=" + socket;
  return "nbd://" + address() + "/";
}

std::optional<NbdListen> parse_tcp_listen(const std::string& text, std::string* why) {
  auto fail = [&](const std::string& reason) -> std::optional<NbdListen> {
    if (why) *why = "--listen \"" + text + "\": " + reason;
    return std::nullopt;
  };
  if (text.size() > 64 || text.find('\0') != std::string::npos)
    return fail("no numeric IPv4 address or bracketed IPv6 address and port");
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return fail("give ADDR:PORT (an IP address, [IPv6] in brackets, and a port)");
  std::string host = text.substr(0, colon);
  const std::string port = text.substr(colon + 1);
  const bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  unsigned char buf[16];
  const bool v4 = !bracketed && ::inet_pton(AF_INET, host.c_str(), buf) == 1;
  const bool v6 = bracketed && ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
  if (!v4 && !v6)
    return fail("\"" + host + "\" is no numeric IPv4 address or bracketed IPv6 address");
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return fail("the port must be a number from 1 to 65535");
  const long n = std::strtol(port.c_str(), nullptr, 10);
  if (n < 1 || n > 65535) return fail("the port must be a number from 1 to 65535");
  return NbdListen{.socket = {}, .host = host, .port = static_cast<uint16_t>(n)};
}

std::vector<std::string> qemu_nbd_args(const NbdListen& listen, const std::string& pid_file,
                                       int max_clients) {
  std::vector<std::string> args{"--read-only", "--format=raw", "--persistent",
                                "--shared=" + std::to_string(max_clients),
                                "--pid-file=" + pid_file};
  if (listen.tcp()) {
    args.push_back("--bind=" + listen.host);
    args.push_back("--port=" + std::to_string(listen.port));
  } else {
    args.push_back("--socket=" + listen.socket);
  }
  args.push_back("/dev/fd/" + std::to_string(kImageFd));
  return args;
}

std::optional<std::string> find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* env = std::getenv("PATH");
  const std::string path = env ? env : "/usr/sbin:/usr/bin:/sbin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    const size_t end = std::min(path.find(':', start), path.size());
    const std::string dir = path.substr(start, end - start);
    if (!dir.empty()) {
      const std::string candidate = dir + "/" + name;
      struct stat st {};
      if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
          ::access(candidate.c_str(), X_OK) == 0)
        return candidate;
    }
    start = end + 1;
  }
  return std::nullopt;
}

NbdServer NbdServer::start(const std::string& program, const std::vector<std::string>& args,
                           int image, int stderr_fd) {
  const auto path = find_program(program);
  if (!path) throw Error(program + " is not installed (Debian package qemu-utils)");
  // Everything the child needs is built before the fork.
  std::vector<std::string> words{program};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  // No signal handler of ours may run in the child before exec: all blocked across the fork.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid = ::fork();
  if (pid == 0) exec_child(path->c_str(), argv.data(), image, stderr_fd, parent);
  const int fork_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) throw sys_error("fork for " + program, fork_errno);
  // Not reaped yet, so the pid cannot be reused before the pidfd pins it.
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    const int err = errno;
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    throw sys_error("pidfd_open for " + program, err);
  }
  ::fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  return NbdServer(pid, UniqueFd(pidfd));
}

NbdServer::NbdServer(NbdServer&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)), pidfd_(std::move(o.pidfd_)), exit_code_(o.exit_code_) {}

NbdServer::~NbdServer() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

void NbdServer::signal(int signo) const {
  if (pid_ > 0) ::kill(pid_, signo);
}

std::optional<int> NbdServer::try_reap() {
  if (pid_ <= 0) return exit_code_;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
  pid_ = -1;
  exit_code_ = decode(status);
  return exit_code_;
}

}  // namespace backy

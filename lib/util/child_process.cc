#include "util/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "util/fd.h"

extern char** environ;

namespace backy {

namespace {

using SteadyClock = std::chrono::steady_clock;
// How often the wait looks at the stop token.
constexpr int kPollMs = 100;

int decode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// Spawns the program in its own process group with stdin/stdout/stderr on the given fds.
pid_t spawn(const ChildSpec& spec, int in_fd, int out_fd, std::string& error) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&actions, in_fd, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 2);
  // Not every descriptor of the daemon is ours to open O_CLOEXEC (asio's listening socket is
  // not): a hook that outlives the daemon must not keep the control socket accepting.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  // The daemon ignores SIGPIPE; the child gets the defaults and an empty signal mask.
  sigset_t defaults, empty;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigemptyset(&empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> argv = c_strings(spec.argv);
  std::vector<char*> env = c_strings(spec.env);
  pid_t pid = -1;
  const int r = posix_spawn(&pid, spec.argv[0].c_str(), &actions, &attr, argv.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (r != 0) {
    error = "cannot run " + spec.argv[0] + ": " + std::strerror(r);
    return -1;
  }
  return pid;
}

}  // namespace

std::string child_failure(const ChildResult& r, const std::string& program,
                          const std::string& timeout_words, const std::string& stop_words) {
  if (!r.started) return r.error;
  if (r.timed_out) return program + " killed after " + timeout_words;
  if (r.stopped) return program + " killed: " + stop_words;
  if (r.exit_code != 0) return program + " exited with " + std::to_string(r.exit_code);
  return "";
}

std::vector<std::string> inherited_environment() {
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e) out.emplace_back(*e);
  return out;
}

ChildResult run_child(const ChildSpec& spec, std::stop_token stop) {
  ChildResult result;
  int in_pipe[2], out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) {
    result.error = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  UniqueFd in_r(in_pipe[0]), in_w(in_pipe[1]);
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    result.error = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]);
  const pid_t pid = spawn(spec, in_r.get(), out_w.get(), result.error);
  if (pid < 0) return result;
  result.started = true;
  in_r.reset();
  out_w.reset();
  ::fcntl(in_w.get(), F_SETFL, O_NONBLOCK);
  ::fcntl(out_r.get(), F_SETFL, O_NONBLOCK);

  const std::string& input = spec.input;
  const auto deadline = SteadyClock::now() + spec.timeout;
  size_t written = 0;
  if (input.empty()) in_w.reset();
  bool exited = false;
  int status = 0;
  // Feed stdin and drain the output until the program has exited and closed its output, or
  // the deadline passes. Both pipes are non-blocking, so a program that does not read its
  // stdin (or writes a lot) cannot wedge us.
  for (;;) {
    if (!exited && ::waitpid(pid, &status, WNOHANG) == pid) exited = true;
    if (exited && !out_r) break;
    if (stop.stop_requested()) {
      result.stopped = true;
      break;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      break;
    }
    pollfd fds[2];
    nfds_t n = 0;
    if (in_w) fds[n++] = {in_w.get(), POLLOUT, 0};
    if (out_r) fds[n++] = {out_r.get(), POLLIN, 0};
    ::poll(fds, n, static_cast<int>(std::min<int64_t>(left.count(), kPollMs)));
    if (in_w) {
      const ssize_t w = ::write(in_w.get(), input.data() + written, input.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) in_w.reset();
    }
    if (out_r) {
      char buf[8192];
      ssize_t r;
      while ((r = ::read(out_r.get(), buf, sizeof buf)) > 0)
        if (result.output.size() < kMaxChildOutput)
          result.output.append(buf, std::min<size_t>(static_cast<size_t>(r),
                                                     kMaxChildOutput - result.output.size()));
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) out_r.reset();
    }
  }
  if (!exited) {
    ::kill(-pid, SIGKILL);
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  } else if (result.timed_out || result.stopped) {
    ::kill(-pid, SIGKILL);  // the program is gone; something it left behind holds the output
  }
  result.exit_code = decode(status);
  return result;
}

}  // namespace backy

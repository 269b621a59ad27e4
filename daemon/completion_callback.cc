#include "completion_callback.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "util/fd.h"
#include "util/text.h"

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

// Spawns program in its own process group with stdin/stdout/stderr on the given fds.
pid_t spawn(const std::string& program, const std::string& job, int in_fd, int out_fd,
            std::string& error) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&actions, in_fd, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 2);
  // The daemon ignores SIGPIPE; the callback gets the defaults and an empty signal mask.
  sigset_t defaults, empty;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigemptyset(&empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> argv = {const_cast<char*>(program.c_str()), const_cast<char*>(job.c_str()),
                             nullptr};
  pid_t pid = -1;
  const int r = posix_spawn(&pid, program.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (r != 0) {
    error = "cannot run " + program + ": " + std::strerror(r);
    return -1;
  }
  return pid;
}

}  // namespace

CallbackResult run_completion_callback(const std::string& program, const std::string& job,
                                       const std::string& input, Seconds timeout,
                                       std::stop_token stop) {
  CallbackResult result;
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
  const pid_t pid = spawn(program, job, in_r.get(), out_w.get(), result.error);
  if (pid < 0) return result;
  result.started = true;
  in_r.reset();
  out_w.reset();
  ::fcntl(in_w.get(), F_SETFL, O_NONBLOCK);
  ::fcntl(out_r.get(), F_SETFL, O_NONBLOCK);

  const auto deadline = SteadyClock::now() + timeout;
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
        if (result.output.size() < kMaxCallbackOutput)
          result.output.append(buf, std::min<size_t>(static_cast<size_t>(r),
                                                     kMaxCallbackOutput - result.output.size()));
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

void run_and_log_callback(std::string_view setting, const std::string& program,
                          const std::string& job, const std::string& input, Seconds timeout,
                          spdlog::logger& log, std::stop_token stop) {
  const auto started = SteadyClock::now();
  CallbackResult r = run_completion_callback(program, job, input, timeout, stop);
  const double secs = std::chrono::duration<double>(SteadyClock::now() - started).count();
  while (!r.output.empty() && r.output.back() == '\n') r.output.pop_back();
  if (!r.output.empty()) log.info("{} output: {}", setting, r.output);
  if (!r.started)
    log.warn("{} failed: {}", setting, r.error);
  else if (r.timed_out)
    log.warn("{} {} killed after the timeout of {}", setting, program,
             human_duration(double(timeout.count())));
  else if (r.stopped)
    log.warn("{} {} killed: the daemon is stopping", setting, program);
  else if (r.exit_code != 0)
    log.warn("{} {} exited with {} after {}", setting, program, r.exit_code, human_duration(secs));
  else
    log.info("{} {} done in {}", setting, program, human_duration(secs));
}

void run_and_log_completion_callback(const std::string& program, const std::string& job,
                                     const std::vector<Revision>& revisions, Seconds timeout,
                                     spdlog::logger& log, std::stop_token stop) {
  run_and_log_callback("backup-completed-callback", program, job, revisions_json(revisions),
                       timeout, log, stop);
}

std::string run_outcome_json(const std::string& job, const RunOutcome& run,
                             const std::vector<Revision>& revisions) {
  nlohmann::json out{{"job", job},
                     {"ok", run.ok},
                     {"started", format_iso8601(run.started)},
                     {"duration", run.duration},
                     {"tags", run.tags}};
  if (run.ok) {
    out["uuid"] = run.uuid;
    out["warnings"] = run.warnings;
  } else {
    out["error"] = run.error;
  }
  out["revisions"] = nlohmann::json::parse(revisions_json(revisions));
  return out.dump() + "\n";
}

std::string revisions_json(const std::vector<Revision>& revisions) {
  nlohmann::json out = nlohmann::json::array();
  for (const Revision& r : revisions) {
    nlohmann::json j;
    j["uuid"] = r.uuid;
    j["timestamp"] = format_iso8601(r.timestamp);
    j["parent"] = r.parent;
    j["tags"] = r.tags;
    j["trust"] = to_string(r.trust);
    j["source"] = r.source;
    j["size"] = r.size;
    j["stats"] = {{"bytes_read", r.stats.bytes_read},
                  {"bytes_written", r.stats.bytes_written},
                  {"duration", r.stats.duration},
                  {"verified_blocks", r.stats.verified_blocks}};
    if (!r.scrubbed.empty()) j["scrub"] = {{"time", r.scrubbed}, {"bad_blocks", r.bad_blocks}};
    out.push_back(std::move(j));
  }
  return out.dump() + "\n";
}

}  // namespace backy

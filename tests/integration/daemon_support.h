// Helpers for the backyd daemon tests (tests/integration/daemon_*.cc): a systemd notify socket
// the test owns, a running daemon with its log, and readers for what it leaves on disk.
#pragma once

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "repo/repository.h"
#include "support/test_env.h"

namespace backy::test {

// An AF_UNIX datagram socket in `dir`, as systemd's NOTIFY_SOCKET (or the journal's socket)
// would be. Collects every message the daemon sends.
class NotifySocket {
 public:
  explicit NotifySocket(const std::filesystem::path& dir, const std::string& name = "notify.sock")
      : path_(dir / name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(path_.string().size() < sizeof addr.sun_path);
    std::strcpy(addr.sun_path, path_.c_str());
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    timeval tv{0, 100000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~NotifySocket() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  std::string path() const { return path_.string(); }

  // Receives until a message containing `needle` arrives (true) or `seconds` pass (false).
  bool wait_for(const std::string& needle, double seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    for (size_t i = seen_; i < messages_.size(); ++i)
      if (messages_[i].find(needle) != std::string::npos) {
        seen_ = i + 1;
        return true;
      }
    seen_ = messages_.size();
    while (std::chrono::steady_clock::now() < deadline) {
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) continue;
      messages_.emplace_back(buf, static_cast<size_t>(n));
      if (messages_.back().find(needle) != std::string::npos) {
        seen_ = messages_.size();
        return true;
      }
    }
    return false;
  }
  const std::vector<std::string>& messages() const { return messages_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::vector<std::string> messages_;
  size_t seen_ = 0;  // wait_for looks only at messages after the last match
};

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

inline std::vector<Revision> revisions_of(const std::filesystem::path& dir) {
  return Repository(dir).revisions();
}

// Files in a job directory that are not part of a complete revision (image or sums without a
// .rev, temp files): what an interrupted run would leave behind. Source records
// (<uuid>.snapshot) are not partial files: they outlive runs on purpose.
inline std::vector<std::string> partial_files(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name == ".lock" || name == "latest" || name.ends_with(".rev") ||
        name.ends_with(".snapshot"))
      continue;
    const std::string uuid = name.ends_with(".sums") ? name.substr(0, name.size() - 5) : name;
    if (!std::filesystem::exists(dir / (uuid + ".rev"))) out.push_back(name);
  }
  return out;
}

inline double unix_seconds(TimePoint t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// The largest number of runs in progress at one moment, from the revisions' start times and
// durations (each run's [timestamp, timestamp + duration]).
inline int max_overlap(const std::vector<Revision>& revs) {
  std::vector<std::pair<double, int>> events;
  for (const auto& r : revs) {
    events.push_back({unix_seconds(r.timestamp), +1});
    events.push_back({unix_seconds(r.timestamp) + r.stats.duration, -1});
  }
  std::sort(events.begin(), events.end());  // an end sorts before a start at the same instant
  int now = 0, most = 0;
  for (const auto& [t, d] : events) most = std::max(most, now += d);
  return most;
}

// A running backyd with its log file; SIGKILLed by Child's destructor if the test fails early.
struct Daemon {
  Daemon(const std::filesystem::path& config, const std::filesystem::path& log,
         const std::map<std::string, std::string>& env = {},
         std::vector<std::string> extra_args = {})
      : log_path(log), child(args(config, std::move(extra_args)), log, env) {}
  static std::vector<std::string> args(const std::filesystem::path& config,
                                       std::vector<std::string> extra) {
    std::vector<std::string> a = {BACKYD_PATH, "-c", config.string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  std::string log() const { return read_text(log_path); }
  bool log_has(const std::string& needle, double seconds = 0) const {
    return eventually(seconds, [&] { return log().find(needle) != std::string::npos; });
  }
  // SIGTERM, then the exit code (nullopt if it did not exit in `seconds`).
  std::optional<int> stop(double seconds = 30) {
    child.signal(SIGTERM);
    return child.wait(seconds);
  }

  std::filesystem::path log_path;
  Child child;
};

// SIGHUP to `d`, then the reload's RELOADING=1 and READY=1 on `notify` (refused or accepted).
// backyctl on the control socket `socket`.
inline ProcessResult backyctl(const std::string& socket, std::vector<std::string> args) {
  args.insert(args.begin(), {BACKYCTL_PATH, "-s", socket});
  return run(args);
}

// `backyctl status --json`, parsed.
inline nlohmann::json status_of(const std::string& socket) {
  ProcessResult r = backyctl(socket, {"status", "--json"});
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.out);
}

// `job`'s entry in a status answer; fails the test when it has none.
inline nlohmann::json job_in(const nlohmann::json& status, const std::string& job) {
  for (const auto& j : status["jobs"])
    if (j["job"] == job) return j;
  FAIL("no job " << job << " in status: " << status.dump());
  return {};
}

// `job`'s entry in `backyctl status --json`.
inline nlohmann::json job_status_of(const std::string& socket, const std::string& job) {
  return job_in(status_of(socket), job);
}

inline void reload_and_wait(Daemon& d, NotifySocket& notify) {
  d.child.signal(SIGHUP);
  REQUIRE(notify.wait_for("RELOADING=1", 5));
  REQUIRE(notify.wait_for("READY=1", 5));
}

}  // namespace backy::test

#include "exports.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <ctime>

#include "util/error.h"

namespace backy {

namespace asio = boost::asio;

namespace {

constexpr auto kReadyPoll = std::chrono::milliseconds(50);
constexpr size_t kMaxLine = 400;  // of qemu-nbd's stderr, per log line

}  // namespace

// A started export: its child and what the loop waits on for it.
struct Exports::Live {
  Live(asio::io_context& io, ExportInfo i, NbdServer s)
      : info(std::move(i)), server(std::move(s)), exit_watch(io), err(io), timer(io) {}
  ExportInfo info;
  NbdServer server;
  std::string socket_name, pid_name;          // in dir(); socket_name empty for TCP
  asio::posix::stream_descriptor exit_watch;  // a dup of the pidfd
  asio::posix::stream_descriptor err;         // the read end of the child's stderr
  asio::steady_timer timer;                   // the readiness poll, then the SIGKILL deadline
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::array<char, 1024> buf{};
  std::string partial, last_line;
  bool stopping = false;
  Started on_ready;  // until it listens (or fails to)
  std::vector<std::function<void()>> on_stopped;
};

Exports::Exports(asio::io_context& io, std::filesystem::path dir, spdlog::logger& log,
                 ExportLimits limits)
    : io_(io), dir_path_(std::move(dir)), log_(log), limits_(std::move(limits)) {}

// The last resort (stop_all() is the way): NbdServer's destructor kills and reaps each child.
Exports::~Exports() {
  for (auto& [id, live] : live_) {
    live->server.signal(SIGKILL);
    if (dir_) {
      if (!live->socket_name.empty()) dir_->remove(live->socket_name);
      dir_->remove(live->pid_name);
    }
  }
}

Dir& Exports::dir() {
  if (dir_) return *dir_;
  Dir d = *Dir::open(dir_path_.parent_path(), true).sub(dir_path_.filename(), true);
  struct stat st {};
  if (::fstat(d.fd(), &st) != 0) throw sys_error("stat " + dir_path_.string());
  if (st.st_uid != ::geteuid())
    throw Error(dir_path_.string() + " belongs to uid " + std::to_string(st.st_uid) +
                ", not to backyd's: refusing to put export sockets there");
  if (::fchmod(d.fd(), 0700) != 0) throw sys_error("chmod 0700 " + dir_path_.string());
  // Left by a daemon that was killed: its children died with it (PR_SET_PDEATHSIG).
  for (const auto& name : d.list()) {
    const bool ours = name.ends_with(".sock") || name.ends_with(".pid");
    auto s = d.stat(name);
    if (ours && s && !S_ISDIR(s->st_mode)) {
      d.remove(name);
      log_.info("exports: removed the stale {}", d.where(name));
    }
  }
  dir_ = std::move(d);
  return *dir_;
}

std::string Exports::reserve(const std::string& job, const std::string& uuid) {
  MutexLock lock(mu_);
  if (stopping_) throw Error("backyd is stopping: no new exports");
  for (const auto& [id, e] : table_)
    if (e.job == job && e.uuid == uuid)
      throw Error("revision " + uuid + " of " + job + " is already exported" +
                  (e.address.empty() ? "" : " at " + e.address) + " (backyctl export --stop " +
                  job + " " + uuid + ")");
  if (table_.size() >= limits_.max_exports)
    throw Error(std::to_string(table_.size()) +
                " exports are running, as many as backyd serves at once; stop one first "
                "(backyctl status lists them; backyctl export --stop JOB)");
  const std::string id = job + "." + uuid.substr(0, 8);
  if (table_.contains(id))
    throw Error("export " + id + " exists for another revision; stop it first");
  table_[id] = ExportInfo{.id = id,
                          .job = job,
                          .uuid = uuid,
                          .state = "starting",
                          .address = {},
                          .uri = {},
                          .tcp = false,
                          .since = Clock::now(),
                          .pid = 0};
  return id;
}

void Exports::release(const std::string& id) {
  MutexLock lock(mu_);
  table_.erase(id);
}

std::set<std::string> Exports::holds(const std::string& job) const {
  MutexLock lock(mu_);
  std::set<std::string> out;
  for (const auto& [id, e] : table_)
    if (e.job == job) out.insert(e.uuid);
  return out;
}

std::vector<ExportInfo> Exports::list() const {
  MutexLock lock(mu_);
  std::vector<ExportInfo> out;
  for (const auto& [id, e] : table_) out.push_back(e);
  return out;
}

void Exports::set_state(const std::string& id, const std::string& state) {
  MutexLock lock(mu_);
  if (auto it = table_.find(id); it != table_.end()) it->second.state = state;
}

void Exports::start(const std::string& id, UniqueFd image, std::optional<NbdListen> tcp,
                    Started done) {
  io_thread_.check("Exports::start");
  ExportInfo info;
  {
    MutexLock lock(mu_);
    auto it = table_.find(id);
    if (it == table_.end() || stopping_) {
      table_.erase(id);
      lock.unlock();
      return done("backyd is stopping: no new exports", info);
    }
    info = it->second;
  }
  std::shared_ptr<Live> live;
  try {
    Dir& d = dir();
    const std::string pid_name = id + ".pid";
    NbdListen listen;
    std::string socket_name;
    if (tcp) {
      listen = *tcp;
    } else {
      // The socket is named after the export, or after the uuid alone when a long job name
      // would not fit sun_path.
      socket_name = id + ".sock";
      if (d.where(socket_name).size() >= sizeof(sockaddr_un::sun_path))
        socket_name = info.uuid + ".sock";
      if (d.where(socket_name).size() >= sizeof(sockaddr_un::sun_path))
        throw Error("the export socket " + d.where(socket_name) + " is too long for a socket");
      d.remove(socket_name);  // stale
      listen.socket = d.where(socket_name);
    }
    d.remove(pid_name);
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw sys_error("pipe");
    UniqueFd err_r(pipe_fds[0]), err_w(pipe_fds[1]);
    ::fcntl(err_r.get(), F_SETFL, O_NONBLOCK);
    NbdServer server = NbdServer::start(
        limits_.program, qemu_nbd_args(listen, d.where(pid_name), limits_.max_clients), image.get(),
        err_w.get());
    info.address = listen.address();
    info.uri = listen.uri();
    info.tcp = listen.tcp();
    info.pid = server.pid();
    live = std::make_shared<Live>(io_, info, std::move(server));
    live->socket_name = socket_name;
    live->pid_name = pid_name;
    live->err.assign(err_r.release());
    const int watch = ::fcntl(live->server.pidfd(), F_DUPFD_CLOEXEC, 0);
    if (watch < 0) throw sys_error("dup pidfd");
    live->exit_watch.assign(watch);
  } catch (const std::exception& e) {
    release(id);
    return done(std::string("cannot start qemu-nbd: ") + e.what(), info);
  }
  live->on_ready = std::move(done);
  {
    MutexLock lock(mu_);
    table_[id] = info;
  }
  live_[id] = live;
  watch_exit(live);
  read_stderr(live);
  poll_ready(live);
}

void Exports::watch_exit(const std::shared_ptr<Live>& live) {
  live->exit_watch.async_wait(asio::posix::stream_descriptor::wait_read,
                              [this, live](const boost::system::error_code& ec) {
                                if (ec) return;
                                if (auto code = live->server.try_reap()) return finish(live, *code);
                                watch_exit(live);  // not yet (spurious wake-up)
                              });
}

void Exports::read_stderr(const std::shared_ptr<Live>& live) {
  live->err.async_read_some(asio::buffer(live->buf),
                            [this, live](const boost::system::error_code& ec, size_t n) {
                              if (ec) return;  // EOF: the child is gone (or closed its stderr)
                              for (size_t i = 0; i < n; ++i) {
                                const char c = live->buf[i];
                                if (c != '\n' && live->partial.size() < kMaxLine)
                                  live->partial += c;
                                if (c != '\n') continue;
                                if (!live->partial.empty()) {
                                  log_.warn("export {}: {}", live->info.id, live->partial);
                                  live->last_line = std::move(live->partial);
                                }
                                live->partial.clear();
                              }
                              read_stderr(live);
                            });
}

// Whether `name` exists in the exports directory; a failing lstat counts as "not yet" (no
// exception may leave a handler: it would end the event loop).
bool Exports::exists(const std::string& name) {
  try {
    return dir().stat(name).has_value();
  } catch (const std::exception& e) {
    log_.warn("exports: {}", e.what());
    return false;
  }
}

void Exports::poll_ready(const std::shared_ptr<Live>& live) {
  if (!live->on_ready) return;
  if (exists(live->pid_name)) {
    // qemu-nbd writes its pid file once it listens. The directory is 0700 already; the socket
    // gets 0600 all the same, so that a looser directory later does not open it.
    if (!live->socket_name.empty()) ::fchmodat(dir().fd(), live->socket_name.c_str(), 0600, 0);
    set_state(live->info.id, "serving");
    live->info.state = "serving";
    log_.info("export {}: revision {} of {} served read-only over NBD at {} (qemu-nbd pid {})",
              live->info.id, live->info.uuid, live->info.job, live->info.address, live->info.pid);
    if (live->info.tcp)
      log_.warn(
          "export {}: listening on TCP {}; NBD has no authentication: anyone who can reach "
          "it reads the whole disk",
          live->info.id, live->info.address);
    return std::exchange(live->on_ready, nullptr)(std::nullopt, live->info);
  }
  if (std::chrono::steady_clock::now() - live->started > limits_.ready_timeout) {
    live->last_line = "qemu-nbd did not listen within " +
                      std::to_string(limits_.ready_timeout.count() / 1000) + " s";
    live->stopping = true;
    live->server.signal(SIGKILL);
    return;  // finish() answers
  }
  live->timer.expires_after(kReadyPoll);
  live->timer.async_wait([this, live](const boost::system::error_code& ec) {
    if (!ec) poll_ready(live);
  });
}

void Exports::finish(const std::shared_ptr<Live>& live, int exit_code) {
  // The child is gone: whatever it wrote is in the pipe now.
  boost::system::error_code ignored;
  for (;;) {
    const ssize_t n = ::read(live->err.native_handle(), live->buf.data(), live->buf.size());
    if (n <= 0) break;
    live->partial.append(live->buf.data(), std::min(size_t(n), kMaxLine));
  }
  std::string rest = live->partial;
  while (!rest.empty() && (rest.back() == '\n' || rest.back() == '\r')) rest.pop_back();
  if (!rest.empty()) {
    if (auto nl = rest.rfind('\n'); nl != std::string::npos) rest = rest.substr(nl + 1);
    log_.warn("export {}: {}", live->info.id, rest);
    live->last_line = rest;
  }
  live->err.close(ignored);
  live->exit_watch.close(ignored);
  live->timer.cancel();
  const std::string id = live->info.id;
  try {
    if (!live->socket_name.empty()) dir().remove(live->socket_name);
    dir().remove(live->pid_name);
  } catch (const std::exception& e) {
    log_.warn("export {}: cleaning up: {}", id, e.what());
  }
  live_.erase(id);
  release(id);
  if (live->on_ready) {
    log_.error("export {}: qemu-nbd exited ({}) before it listened", id, exit_code);
    std::string why = "qemu-nbd exited with code " + std::to_string(exit_code);
    if (!live->last_line.empty()) why += ": " + live->last_line;
    std::exchange(live->on_ready, nullptr)(why, live->info);
  } else if (live->stopping) {
    log_.info("export {}: stopped (revision {} of {})", id, live->info.uuid, live->info.job);
  } else {
    log_.warn(
        "export {}: qemu-nbd exited on its own with code {}; the export of revision {} of "
        "{} has ended",
        id, exit_code, live->info.uuid, live->info.job);
  }
  for (auto& f : live->on_stopped) f();
}

void Exports::stop(const std::string& id, std::function<void()> done) {
  io_thread_.check("Exports::stop");
  auto it = live_.find(id);
  if (it == live_.end()) return done();
  auto live = it->second;
  live->on_stopped.push_back(std::move(done));
  if (live->stopping) return;
  live->stopping = true;
  set_state(id, "stopping");
  live->server.signal(SIGTERM);
  // Replaces the readiness poll, if it still runs: a server stopped while starting never
  // becomes ready (finish() answers its starter).
  live->timer.expires_after(limits_.kill_after);
  live->timer.async_wait([this, live](const boost::system::error_code& ec) {
    if (ec) return;
    log_.warn("export {}: qemu-nbd did not stop within {} ms of SIGTERM: killed", live->info.id,
              limits_.kill_after.count());
    live->server.signal(SIGKILL);
  });
}

void Exports::stop_all(std::function<void()> done) {
  io_thread_.check("Exports::stop_all");
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  std::vector<std::string> ids;
  for (const auto& [id, live] : live_) ids.push_back(id);
  if (ids.empty()) return done();
  auto pending = std::make_shared<size_t>(ids.size());
  auto all_done = std::make_shared<std::function<void()>>(std::move(done));
  for (const auto& id : ids)
    stop(id, [pending, all_done] {
      if (--*pending == 0) (*all_done)();
    });
}

}  // namespace backy

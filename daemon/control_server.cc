#include "control_server.h"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>

#include "protocol/message.h"
#include "util/error.h"
#include "util/fd_passing.h"

namespace backy {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace {

constexpr auto kReadTimeout = std::chrono::seconds(10);
constexpr auto kWriteTimeout = std::chrono::seconds(60);
// A mount's confirmation comes after the journal replay; a client silent for this long is gone.
constexpr auto kFollowUpTimeout = std::chrono::minutes(15);
constexpr auto kMetricsInterval = std::chrono::seconds(15);
// An answer this long is followed by malloc_trim (see on_written).
constexpr size_t kTrimAfterBytes = size_t(1) << 20;

// Whether a daemon already answers on `path` (then its socket file is not stale).
bool someone_listens(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof addr.sun_path - 1);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

// One client: read one line (bounded, with a deadline), dispatch, write the answer lines in
// order, close. Every handler holds shared_from_this(), so the object lives exactly as long as
// something can still call it; the server's set only lets stop() find it.
class ControlConnection : public Responder, public std::enable_shared_from_this<ControlConnection> {
 public:
  ControlConnection(ControlServer& server, local::socket socket)
      : server_(server),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        input_(protocol::kMaxRequestBytes) {}

  void start() {
    peer_ = peer_of_socket(socket_.native_handle());
    arm(kReadTimeout, "timeout", "no complete request line within 10 s");
    asio::async_read_until(socket_, input_, '\n',
                           [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                             self->on_read(ec, n);
                           });
  }

  void stop() {
    closed_ = true;
    timer_.cancel();
    boost::system::error_code ignored;
    socket_.shutdown(local::socket::shutdown_both, ignored);
    socket_.close(ignored);
    hang_up();
  }

  // Responder
  void progress(const protocol::Json& p) override {
    if (!finished_) send({protocol::encode_progress(p), {}});
  }
  void result(const protocol::Json& r) override { finish({protocol::encode_result(r), {}}); }
  void result_with_fd(protocol::Json r, UniqueFd fd) override {
    r[protocol::kFdField] = true;
    finish({protocol::encode_result(r), std::move(fd)});
  }
  void error(const protocol::Error& e) override { finish({protocol::encode_error(e), {}}); }
  void encoded_result(std::string line) override { finish({std::move(line), {}}); }
  void on_hangup(std::function<void()> f) override {
    if (gone_) return f();
    if (!finished_) hangup_ = std::move(f);
  }
  void await_follow_up(std::function<void(std::optional<std::string>)> f) override {
    if (gone_) return f(std::nullopt);
    if (!finished_) follow_up_ = std::move(f);
  }

 private:
  struct Line {
    std::string text;
    UniqueFd fd;  // sent with the line's first bytes when set
  };

  void on_read(boost::system::error_code ec, size_t n) {
    if (closed_ || finished_) return;  // finished_: the read timed out and was answered
    disarm();
    if (ec == asio::error::not_found)  // the buffer filled before a newline came
      return error(
          {protocol::ErrorCode::too_large,
           "request longer than " + std::to_string(protocol::kMaxRequestBytes) + " bytes"});
    if (ec == asio::error::eof && input_.size() > 0)
      return error({protocol::ErrorCode::bad_request, "request not terminated by a newline"});
    if (ec) return close();
    std::string line(asio::buffers_begin(input_.data()), asio::buffers_begin(input_.data()) + n);
    input_.consume(n);
    auto parsed = protocol::parse_request(line);
    if (auto* e = std::get_if<protocol::Error>(&parsed)) return error(*e);
    watch_client();
    try {
      server_.commands_.handle(std::get<protocol::Request>(parsed), peer_, shared_from_this());
    } catch (const std::exception& e) {
      server_.log_.error("control: {} failed unexpectedly: {}", line.substr(0, 200), e.what());
      if (!finished_) error({protocol::ErrorCode::internal, e.what()});
    }
  }

  // After its request the client sends nothing but, where the command awaits one, a follow-up
  // line after the answer: anything else is discarded. End of file or an error means it went
  // away (before its answer, or before its follow-up).
  void watch_client() {
    const size_t room = input_.max_size() - input_.size();
    if (room == 0) {  // a follow-up line longer than a request may be
      hang_up();
      return close();
    }
    socket_.async_read_some(
        input_.prepare(std::min<size_t>(room, 4096)),
        [self = shared_from_this()](boost::system::error_code ec, size_t n) {
          if (self->closed_) return;
          if (ec) {
            const bool awaited = self->awaiting_follow_up();
            self->hang_up();
            if (ec != asio::error::eof || awaited)
              self->close();  // reset, or nothing more to answer: nobody is there
            return;
          }
          self->input_.commit(n);
          self->take_follow_up();
          if (!self->closed_) self->watch_client();
        });
  }

  // The answer is out (or going) and the command waits for the client's next line.
  bool awaiting_follow_up() const { return follow_up_ && finished_; }

  void take_follow_up() {
    if (!awaiting_follow_up()) return input_.consume(input_.size());
    const auto data = input_.data();
    const auto begin = asio::buffers_begin(data), end = asio::buffers_end(data);
    const auto nl = std::find(begin, end, '\n');
    if (nl == end) return;
    std::string line(begin, nl);
    input_.consume(input_.size());
    disarm();
    auto f = std::exchange(follow_up_, nullptr);
    finished_ = false;  // the command answers once more
    f(std::move(line));
  }

  void hang_up() {
    gone_ = true;
    if (auto f = std::exchange(hangup_, nullptr); f && !finished_) f();
    if (auto f = std::exchange(follow_up_, nullptr)) f(std::nullopt);
  }

  void finish(Line line) {
    if (finished_) return;
    finished_ = true;
    hangup_ = nullptr;
    send(std::move(line));
  }

  void send(Line line) {
    if (closed_) return;
    // The first line always goes (a large `status` answer is one line); what piles up behind
    // a line still being written is bounded.
    if (!queue_.empty() && queued_bytes_ + line.text.size() > server_.limits_.max_queued_bytes) {
      server_.log_.warn("control: dropping a client (pid {}) that does not read its answer",
                        peer_.pid);
      return close();
    }
    queued_bytes_ += line.text.size();
    queue_.push_back(std::move(line));
    if (queue_.size() == 1) write_next();
  }

  void write_next() {
    arm(kWriteTimeout, nullptr, nullptr);
    if (queue_.front().fd) return write_with_fd();
    asio::async_write(socket_, asio::buffer(queue_.front().text),
                      [self = shared_from_this()](boost::system::error_code ec, size_t) {
                        self->on_written(ec);
                      });
  }

  // asio cannot send ancillary data: wait until the socket is writable, sendmsg() the line with
  // the fd, and let async_write carry whatever of the line did not fit.
  void write_with_fd() {
    socket_.async_wait(local::socket::wait_write, [self = shared_from_this()](
                                                      boost::system::error_code ec) {
      if (ec || self->closed_) return self->on_written(ec ? ec : asio::error::operation_aborted);
      Line& front = self->queue_.front();
      ssize_t n = send_with_fd(self->socket_.native_handle(), front.text, front.fd.get());
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return self->write_with_fd();
      if (n < 0)
        return self->on_written(boost::system::error_code(errno, boost::system::system_category()));
      front.fd.reset();  // the client holds its own copy now
      front.text.erase(0, static_cast<size_t>(n));
      self->queued_bytes_ -= static_cast<size_t>(n);
      if (front.text.empty()) return self->on_written({});
      self->disarm();
      self->write_next();
    });
  }

  void on_written(boost::system::error_code ec) {
    disarm();
    if (ec || closed_) return close();
    queued_bytes_ -= queue_.front().text.size();
    const bool large = queue_.front().text.size() >= kTrimAfterBytes;
    queue_.pop_front();
    // A large answer (status, metrics of thousands of jobs) was built from megabytes of
    // short-lived allocations, partly on reader threads whose malloc arenas glibc keeps: give
    // the freed pages back, or the daemon's RSS keeps the peak of its largest answers.
    if (large) ::malloc_trim(0);
    if (!queue_.empty()) return write_next();
    if (awaiting_follow_up()) return arm(kFollowUpTimeout, nullptr, nullptr);
    if (finished_) close();
  }

  // On expiry: answer with `code` (when given and nothing was answered yet), else just close.
  void arm(std::chrono::seconds after, const char* code, const char* message) {
    timer_.expires_after(after);
    timer_.async_wait([self = shared_from_this(), code, message,
                       gen = ++timer_gen_](boost::system::error_code ec) {
      // A stale expiry (the awaited I/O finished just as it fired) carries an old generation.
      if (ec || self->closed_ || gen != self->timer_gen_) return;
      if (code && !self->finished_) {
        // Stop reading, then answer: the pending read completes with operation_aborted.
        self->finished_ = true;
        boost::system::error_code ignored;
        self->socket_.shutdown(local::socket::shutdown_receive, ignored);
        Line line{protocol::encode_error({protocol::ErrorCode::timeout, message}), {}};
        self->queued_bytes_ += line.text.size();
        self->queue_.push_back(std::move(line));
        if (self->queue_.size() == 1) self->write_next();
        return;
      }
      self->close();
    });
  }

  void disarm() {
    ++timer_gen_;
    timer_.cancel();
  }

  void close() {
    if (closed_) return;
    stop();
    server_.forget(shared_from_this());
  }

  ControlServer& server_;
  local::socket socket_;
  asio::steady_timer timer_;
  asio::streambuf input_;
  Peer peer_;
  std::deque<Line> queue_;   // lines being written, front first
  size_t queued_bytes_ = 0;  // of the text in queue_
  std::function<void()> hangup_;
  std::function<void(std::optional<std::string>)> follow_up_;  // await_follow_up()
  bool finished_ = false;                                      // the final response is queued
  bool closed_ = false;
  bool gone_ = false;       // the client hung up (or we closed)
  uint64_t timer_gen_ = 0;  // bumped by arm() and disarm(); an expiry of an older one is ignored
};

ControlServer::ControlServer(asio::io_context& io, JobScheduler& scheduler, const Config& config,
                             spdlog::logger& log, int listen_fd, ControlLimits limits,
                             Exports* exports)
    : log_(log),
      limits_(limits),
      socket_path_(listen_fd < 0 ? config.global.socket : std::string()),
      listen_fd_(listen_fd),
      acceptor_(io),
      metrics_timer_(io),
      accept_retry_(io),
      commands_(
          scheduler, log,
          Executors{[this](std::function<void()> f) {
                      // A command's reader task answers its own errors; one that escapes is a
                      // bug in it, and must not take the daemon and its running backups down
                      // (an exception out of a pool thread is std::terminate). The client's
                      // connection closes without an answer.
                      asio::post(readers_, [this, f = std::move(f)] {
                        try {
                          f();
                        } catch (const std::exception& e) {
                          log_.error("a command's reader failed: {}", e.what());
                        }
                      });
                    },
                    [&io](std::function<void()> f) { asio::post(io, std::move(f)); },
                    [&io](std::chrono::milliseconds delay, std::function<void()> f) {
                      auto t = std::make_shared<asio::steady_timer>(io, delay);
                      t->async_wait([t, f = std::move(f)](const boost::system::error_code& ec) {
                        if (!ec) f();
                      });
                    }},
          exports) {}

ControlServer::~ControlServer() {
  stop();
  readers_.join();
}

void ControlServer::start() {
  if (listen_fd_ >= 0) {
    acceptor_.assign(local(), listen_fd_);
    log_.info("control: listening on the socket systemd passed (fd {})", listen_fd_);
  } else {
    namespace fs = std::filesystem;
    const fs::path path(socket_path_);
    if (socket_path_.size() >= sizeof(sockaddr_un::sun_path))
      throw Error("control socket path " + socket_path_ + " is too long");
    std::error_code ec;
    if (path.has_parent_path()) {
      fs::create_directories(path.parent_path(), ec);
      if (ec) throw Error("create " + path.parent_path().string() + ": " + ec.message());
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) throw Error(socket_path_ + " exists and is not a socket");
      if (someone_listens(socket_path_))
        throw Error("another daemon is already listening on " + socket_path_);
      ::unlink(path.c_str());  // stale: left by a daemon that died
    }
    boost::system::error_code bec;
    acceptor_.open(local(), bec);
    if (!bec) acceptor_.bind(local::endpoint(socket_path_), bec);
    if (bec) throw Error("bind control socket " + socket_path_ + ": " + bec.message());
    // chmod before listen(): until then nobody can connect, whatever the umask made of it.
    if (::chmod(path.c_str(), 0660) != 0) throw sys_error("chmod " + socket_path_);
    acceptor_.listen(asio::socket_base::max_listen_connections, bec);
    if (bec) throw Error("listen on " + socket_path_ + ": " + bec.message());
    log_.info("control: listening on {}", socket_path_);
  }
  accept();
  schedule_metrics(std::chrono::seconds(1));  // soon after start, then every kMetricsInterval
}

void ControlServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  metrics_timer_.cancel();
  accept_retry_.cancel();
  auto open = std::move(connections_);
  connections_.clear();
  for (const auto& c : open) c->stop();
  if (!socket_path_.empty()) ::unlink(socket_path_.c_str());
}

void ControlServer::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, local::socket socket) {
    if (stopped_ || ec == asio::error::operation_aborted) return;
    if (!ec && connections_.size() >= limits_.max_connections) {
      refuse_busy(std::move(socket));
      accept();
      return;
    }
    if (!ec) {
      auto c = std::make_shared<ControlConnection>(*this, std::move(socket));
      connections_.insert(c);
      c->start();
      accept();
      return;
    }
    // EMFILE and friends: log, pause a little (a retry at once would spin), accept again.
    log_.warn("control: accept: {}", ec.message());
    accept_retry_.expires_after(std::chrono::milliseconds(100));
    accept_retry_.async_wait([this](boost::system::error_code ec) {
      if (!ec && !stopped_) accept();
    });
  });
}

void ControlServer::refuse_busy(local::socket socket) {
  // A fresh socket's send buffer is empty: one short line goes out without blocking (or not at
  // all, and the client sees the connection closed).
  const std::string line = protocol::encode_error(
      {protocol::ErrorCode::busy, "backyd serves " + std::to_string(limits_.max_connections) +
                                      " connections already; try again"});
  ::send(socket.native_handle(), line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  boost::system::error_code ignored;
  socket.shutdown(local::socket::shutdown_both, ignored);
  if (!busy_logged_) log_.warn("control: {} connections open; refusing more", connections_.size());
  busy_logged_ = true;
}

void ControlServer::schedule_metrics(std::chrono::seconds after) {
  metrics_timer_.expires_after(after);
  metrics_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    commands_.write_metrics_file();
    schedule_metrics(kMetricsInterval);
  });
}

}  // namespace backy

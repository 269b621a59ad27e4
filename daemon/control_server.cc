#include "control_server.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <deque>
#include <filesystem>

#include "protocol/message.h"
#include "util/error.h"

namespace backy {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace {

constexpr auto kReadTimeout = std::chrono::seconds(10);
constexpr auto kWriteTimeout = std::chrono::seconds(60);
constexpr auto kMetricsInterval = std::chrono::seconds(15);

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
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(socket_.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
      peer_.pid = cred.pid;
      peer_.uid = cred.uid;
      peer_.gid = cred.gid;
    } else {
      // Without credentials the peer is treated as nobody: it may read, never change.
      peer_.uid = static_cast<uid_t>(-1);
      peer_.gid = static_cast<gid_t>(-1);
    }
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
  }

  // Responder
  void progress(const protocol::Json& p) override {
    if (!finished_) send(protocol::encode_progress(p));
  }
  void result(const protocol::Json& r) override { finish(protocol::encode_result(r)); }
  void error(const protocol::Error& e) override { finish(protocol::encode_error(e)); }
  void encoded_result(std::string line) override { finish(std::move(line)); }

 private:
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
    auto parsed = protocol::parse_request(line);
    if (auto* e = std::get_if<protocol::Error>(&parsed)) return error(*e);
    try {
      server_.commands_.handle(std::get<protocol::Request>(parsed), peer_, shared_from_this());
    } catch (const std::exception& e) {
      server_.log_.error("control: {} failed unexpectedly: {}", line.substr(0, 200), e.what());
      if (!finished_) error({protocol::ErrorCode::internal, e.what()});
    }
  }

  void finish(std::string line) {
    if (finished_) return;
    finished_ = true;
    send(std::move(line));
  }

  void send(std::string line) {
    if (closed_) return;
    queue_.push_back(std::move(line));
    if (queue_.size() == 1) write_next();
  }

  void write_next() {
    arm(kWriteTimeout, nullptr, nullptr);
    asio::async_write(socket_, asio::buffer(queue_.front()),
                      [self = shared_from_this()](boost::system::error_code ec, size_t) {
                        self->disarm();
                        if (ec || self->closed_) return self->close();
                        self->queue_.pop_front();
                        if (!self->queue_.empty()) return self->write_next();
                        if (self->finished_) self->close();
                      });
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
        self->queue_.push_back(protocol::encode_error({protocol::ErrorCode::timeout, message}));
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
  std::deque<std::string> queue_;  // lines being written, front first
  bool finished_ = false;          // the final response is queued
  bool closed_ = false;
  uint64_t timer_gen_ = 0;  // bumped by arm() and disarm(); an expiry of an older one is ignored
};

ControlServer::ControlServer(asio::io_context& io, JobScheduler& scheduler, const Config& config,
                             spdlog::logger& log, int listen_fd)
    : io_(io),
      log_(log),
      socket_path_(listen_fd < 0 ? config.global.socket : std::string()),
      listen_fd_(listen_fd),
      acceptor_(io),
      metrics_timer_(io),
      accept_retry_(io),
      commands_(scheduler, log,
                Executors{[this](std::function<void()> f) { asio::post(readers_, std::move(f)); },
                          [&io](std::function<void()> f) { asio::post(io, std::move(f)); }}) {}

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

void ControlServer::schedule_metrics(std::chrono::seconds after) {
  metrics_timer_.expires_after(after);
  metrics_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    commands_.write_metrics_file();
    schedule_metrics(kMetricsInterval);
  });
}

}  // namespace backy

// ControlServer: backyd's control socket. Accepts clients on a Unix stream socket, reads one
// request line from each, hands it to the CommandHandler, and writes the answer back.
//
// The socket is `global.socket` (parent directory created, a stale socket file replaced, mode
// 0660), or the listening fd systemd passed (socket activation). A client gets 10 s to send one
// line of at most protocol::kMaxRequestBytes; garbage, an oversized line, or silence earns an
// error line (when the client can still take one) and a disconnect. Each client is its own
// `connection` object kept alive by the handlers it has outstanding, so one slow or vanished
// client never blocks another; a client that does not read its answer is dropped after 60 s, or
// as soon as more than ControlLimits::max_queued_bytes wait behind the line being written.
// At most ControlLimits::max_connections are open at once: one more gets a `busy` error line and
// is closed at once. The peer's credentials are read once, at accept (peer.h).
//
// After the request line the connection keeps reading: end of file or an error there means the
// client went away (or half-closed: a client must keep its sending side open until the answer),
// and the command's hang-up handler runs (Responder::on_hangup: a restore to RBD stops).
// A response may carry a file descriptor (Responder::result_with_fd): it is sent with the first
// bytes of the response line as SCM_RIGHTS ancillary data.
// A command may ask for one follow-up line after its answer (Responder::await_follow_up: mount's
// confirmation); the connection then stays open for it, at most kFollowUpTimeout, and the
// command answers it once more.
//
// Threading: constructed, started and stopped on the io_context thread, which runs every handler.
// Owns two reader threads for read-only file access (see commands.h). stop() closes the acceptor
// and every connection and cancels its timer, so run() can return once the jobs' work is done;
// the object must outlive io_context::run().
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <memory>
#include <set>

#include "commands.h"
#include "config/config.h"
#include "job_scheduler.h"

namespace spdlog {
class logger;
}

namespace backy {

class ControlConnection;

struct ControlLimits {
  size_t max_connections = 64;
  // Answer bytes a connection may have queued behind the line being written; a client that does
  // not read while progress piles up is dropped. (The first line always goes: a large `status`
  // answer is one line.)
  size_t max_queued_bytes = 16 << 20;
};

class ControlServer {
 public:
  // listen_fd: a listening socket to adopt (systemd), or -1 to bind config.global.socket.
  // exports: the daemon's NBD exports, for the `export` command (nullptr: none).
  ControlServer(boost::asio::io_context& io, JobScheduler& scheduler, const Config& config,
                spdlog::logger& log, int listen_fd, ControlLimits limits = {},
                Exports* exports = nullptr);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Opens the socket (throws backy::Error when it cannot: path not creatable, another daemon
  // already listening) and starts accepting. Also starts the metrics-file timer.
  void start();
  // Stops accepting, closes every connection, stops the timer. Idempotent.
  void stop();

  // Connections currently open (for tests and the log).
  size_t connection_count() const { return connections_.size(); }

 private:
  friend class ControlConnection;
  void accept();
  // Answers a client beyond max_connections with `busy` and closes it.
  void refuse_busy(boost::asio::local::stream_protocol::socket socket);
  void schedule_metrics(std::chrono::seconds after);
  void forget(const std::shared_ptr<ControlConnection>& c) {
    connections_.erase(c);
    busy_logged_ = false;
  }

  spdlog::logger& log_;
  const ControlLimits limits_;
  std::string socket_path_;  // empty when adopted from systemd (not ours to remove)
  int listen_fd_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  boost::asio::steady_timer metrics_timer_;
  boost::asio::steady_timer accept_retry_;
  boost::asio::thread_pool readers_{2};
  CommandHandler commands_;
  std::set<std::shared_ptr<ControlConnection>> connections_;
  bool stopped_ = false;
  bool busy_logged_ = false;  // the log gets one line per burst, not one per refused client
};

}  // namespace backy

// Notifier: tells systemd how the daemon is (sd_notify), and pings its watchdog.
//
// Type=notify protocol: READY=1 once the configuration is loaded and the job timers are armed;
// RELOADING=1 ... READY=1 around a reload; STOPPING=1 when shutdown begins; STATUS= a one-line
// summary. Without NOTIFY_SOCKET (not run by systemd) every call is a no-op.
//
// Watchdog: when systemd asked for one (WatchdogSec=, seen through sd_watchdog_enabled), an asio
// timer on the event loop sends WATCHDOG=1 at half the interval. The ping comes from the loop
// itself, so a blocked or dead loop stops the pings and systemd restarts the daemon.
//
// Threading: io_context thread only. stop() cancels the watchdog timer (call it before letting
// run() return); the timer's handler touches the Notifier only when not cancelled.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <string>

namespace spdlog {
class logger;
}

namespace backy {

class Notifier {
 public:
  Notifier(boost::asio::io_context& io, spdlog::logger& log);
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  void ready();
  void reloading();
  void stopping();
  // Sent only when it differs from the last one.
  void status(const std::string& line);
  // Starts the watchdog pings if systemd wants them; no-op otherwise.
  void start_watchdog();
  void stop();

  // The watchdog interval systemd asked for; zero when none.
  std::chrono::microseconds watchdog_interval() const { return watchdog_; }

 private:
  void send(const std::string& state);
  void arm_watchdog();

  spdlog::logger& log_;
  boost::asio::steady_timer timer_;
  std::chrono::microseconds watchdog_{0};
  bool stopped_ = false;
  std::string last_status_;
};

// The control socket handed over by systemd socket activation (LISTEN_FDS), or -1 when the
// daemon was started without one. Call once, at startup: it unsets LISTEN_FDS/LISTEN_PID so child
// processes (the completion callback) do not see them.
int activated_socket(spdlog::logger& log);

}  // namespace backy

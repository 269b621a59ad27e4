#include "notifier.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstring>

namespace backy {

Notifier::Notifier(boost::asio::io_context& io, spdlog::logger& log) : log_(log), timer_(io) {
  uint64_t usec = 0;
  // unset_environment=0: keep NOTIFY_SOCKET for our own later messages.
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) watchdog_ = std::chrono::microseconds(usec);
}

void Notifier::ready() {
  send("READY=1");
}

void Notifier::reloading() {
  // MONOTONIC_USEC lets newer systemd (Type=notify-reload) match the reload to this message.
  struct timespec ts {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  const uint64_t usec = uint64_t(ts.tv_sec) * 1000000 + uint64_t(ts.tv_nsec) / 1000;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void Notifier::stopping() {
  send("STOPPING=1");
}

void Notifier::status(const std::string& line) {
  if (line == last_status_) return;
  last_status_ = line;
  send("STATUS=" + line);
}

void Notifier::start_watchdog() {
  if (watchdog_.count() == 0) return;
  log_.debug("systemd watchdog every {} ms; pinging at half of that", watchdog_.count() / 1000);
  send("WATCHDOG=1");
  arm_watchdog();
}

void Notifier::stop() {
  stopped_ = true;
  timer_.cancel();
}

void Notifier::arm_watchdog() {
  if (stopped_) return;
  timer_.expires_after(watchdog_ / 2);
  // The timer is a member: it is cancelled in stop() and destroyed with us, and a cancelled wait
  // never reaches `this`.
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    send("WATCHDOG=1");
    arm_watchdog();
  });
}

void Notifier::send(const std::string& state) {
  const int r = sd_notify(0, state.c_str());
  if (r < 0)
    log_.warn("sd_notify({}) failed: {}", state.substr(0, state.find('\n')), std::strerror(-r));
}

int activated_socket(spdlog::logger& log) {
  const int n = sd_listen_fds(1);  // 1: unset LISTEN_* for our children
  if (n < 0) {
    log.error("socket activation: {}", std::strerror(-n));
    return -1;
  }
  if (n == 0) return -1;
  if (n > 1) log.warn("socket activation passed {} sockets; using the first", n);
  if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, nullptr, 0) <= 0) {
    log.error("socket activation: fd {} is not a listening Unix stream socket; ignored",
              SD_LISTEN_FDS_START);
    return -1;
  }
  log.info("control socket from systemd socket activation (fd {})", SD_LISTEN_FDS_START);
  return SD_LISTEN_FDS_START;
}

}  // namespace backy

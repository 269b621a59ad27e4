#include "restore_writer.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <stop_token>
#include <thread>

#include "restore/restore.h"
#include "util/error.h"
#include "util/progress.h"

namespace backy::ctl {

namespace {

std::atomic<int> stop_signal{0};

// While alive: SIGINT, SIGTERM and SIGHUP are blocked and a thread waits for them, turning the
// first one into a stop request (no work in a signal handler; the copy checks the token between
// blocks). When none came, the old signal mask is restored.
class SignalStop {
 public:
  SignalStop() {
    sigemptyset(&set_);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set_, s);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
    waiter_ = std::jthread([this](std::stop_token done) {
      while (!done.stop_requested()) {
        timespec tick{0, 100'000'000};
        int s = sigtimedwait(&set_, nullptr, &tick);
        if (s > 0) {
          stop_signal = s;
          source_.request_stop();
          return;
        }
      }
    });
  }
  ~SignalStop() {
    waiter_.request_stop();
    waiter_.join();
    if (stop_signal == 0) pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SignalStop(const SignalStop&) = delete;
  SignalStop& operator=(const SignalStop&) = delete;

  std::stop_token token() const { return source_.get_token(); }

 private:
  sigset_t set_{}, old_{};
  std::stop_source source_;
  std::jthread waiter_;
};

}  // namespace

bool write_restore(int image, const RestoreOrder& order,
                   const std::function<void(const protocol::Json&)>& progress) {
  SignalStop signals;
  FileTargetOptions options;
  options.refuse_inside = order.base_dir;
  auto target = open_file_target(order.target, order.size, order.force, options);
  if (order.reflink && target->clone_from(image, order.size)) {
    target->finish();
    return true;
  }
  auto last = std::chrono::steady_clock::time_point{};
  ProgressMeter meter;
  meter.start();
  RestoreProgress report;
  if (progress && order.target != "-") {
    report = [&](uint64_t done, uint64_t total) {
      auto now = std::chrono::steady_clock::now();
      if (done < total && now - last < std::chrono::seconds(1)) return;
      last = now;
      meter.set(done, total);
      progress({{"uuid", order.uuid},
                {"done", done},
                {"total", total},
                {"elapsed", meter.sample().elapsed}});
    };
  }
  // The revision is read once: O_DIRECT, where its filesystem has it, spares the page cache and
  // the CPU that copies through it. The fd is this restore's alone (the daemon opened it for
  // this request and closed its copy when it passed it).
  if (const int flags = ::fcntl(image, F_GETFL); flags >= 0)
    ::fcntl(image, F_SETFL, flags | O_DIRECT);
  // On any exception (Cancelled included) `target` dies unfinished and removes its temp file.
  restore_image(image, "revision " + order.uuid, order.size, *target, report, signals.token());
  return false;
}

int restore_stop_signal() {
  return stop_signal;
}

}  // namespace backy::ctl

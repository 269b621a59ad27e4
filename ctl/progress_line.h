// ProgressLine: where backyctl shows a long command's progress (run --wait, restore, scrub), on
// stderr while the answer goes to stdout.
//
// On a terminal it is one line, rewritten in place ("\r", then erased to its end) and erased
// again before the answer is printed, so that the screen ends with the answer alone. Elsewhere (a
// pipe, a log file) it is plain lines: events (queued, already running) each time, figures (37%,
// rate, ETA) at most once per `every`, so that a log of a long run stays short.
//
// One thread (backyctl's main thread).
#pragma once

#include <chrono>
#include <ostream>
#include <string>

namespace backy::ctl {

class ProgressLine {
 public:
  using Clock = std::chrono::steady_clock;

  ProgressLine(std::ostream& out, bool terminal,
               std::chrono::seconds every = std::chrono::seconds(5))
      : out_(out), terminal_(terminal), every_(every) {}
  ~ProgressLine() { clear(); }
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // `text` as the line's new content. A `figure` (a percentage, a rate) may be left out of a
  // plain output when the last figure was shown less than `every` ago; an event never is.
  void show(const std::string& text, bool figure, Clock::time_point now = Clock::now());
  // Erases the terminal line, if one is shown; nothing otherwise.
  void clear();

 private:
  std::ostream& out_;
  const bool terminal_;
  const std::chrono::seconds every_;
  bool shown_ = false;  // a terminal line is on the screen
  Clock::time_point last_figure_{};
  bool any_figure_ = false;
};

}  // namespace backy::ctl

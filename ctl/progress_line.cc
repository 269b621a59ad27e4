#include "progress_line.h"

namespace backy::ctl {

namespace {

constexpr const char* kEraseLine = "\r\033[K";  // to the line's start, erase to its end

}  // namespace

void ProgressLine::show(const std::string& text, bool figure, Clock::time_point now) {
  if (text.empty()) return;
  if (terminal_) {
    out_ << kEraseLine << text << std::flush;
    shown_ = true;
    return;
  }
  if (figure) {
    if (any_figure_ && now - last_figure_ < every_) return;
    any_figure_ = true;
    last_figure_ = now;
  }
  out_ << text << '\n' << std::flush;
}

void ProgressLine::clear() {
  if (!shown_) return;
  out_ << kEraseLine << std::flush;
  shown_ = false;
}

}  // namespace backy::ctl

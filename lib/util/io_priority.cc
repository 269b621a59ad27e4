#include "util/io_priority.h"

#include <sys/syscall.h>
#include <unistd.h>

#include "util/error.h"

namespace backy {

namespace {

// <linux/ioprio.h>'s layout: the class in the top bits, the level below.
constexpr int kClassShift = 13;
constexpr int kWhoProcess = 1;  // IOPRIO_WHO_PROCESS: one thread, by its id
constexpr int kDefaultLevel = 4;

int encode(const IoPriority& p) {
  const int level =
      p.cls == IoPriority::Class::best_effort || p.cls == IoPriority::Class::realtime ? p.level : 0;
  return (static_cast<int>(p.cls) << kClassShift) | level;
}

}  // namespace

std::optional<IoPriority> parse_io_priority(const std::string& text) {
  const auto colon = text.find(':');
  const std::string name = text.substr(0, colon);
  IoPriority p;
  if (name == "idle")
    p.cls = IoPriority::Class::idle;
  else if (name == "best-effort")
    p.cls = IoPriority::Class::best_effort;
  else if (name == "realtime")
    p.cls = IoPriority::Class::realtime;
  else
    return std::nullopt;
  if (colon == std::string::npos) {
    p.level = p.cls == IoPriority::Class::idle ? 0 : kDefaultLevel;
    return p;
  }
  const std::string level = text.substr(colon + 1);
  if (p.cls == IoPriority::Class::idle || level.size() != 1 || level[0] < '0' || level[0] > '7')
    return std::nullopt;
  p.level = level[0] - '0';
  return p;
}

std::string to_string(const IoPriority& p) {
  switch (p.cls) {
    case IoPriority::Class::idle:
      return "idle";
    case IoPriority::Class::best_effort:
      return "best-effort:" + std::to_string(p.level);
    case IoPriority::Class::realtime:
      return "realtime:" + std::to_string(p.level);
    case IoPriority::Class::none:
      break;
  }
  return "none";
}

IoPriority thread_io_priority(pid_t tid) {
  const long v = ::syscall(SYS_ioprio_get, kWhoProcess, tid == 0 ? ::gettid() : tid);
  if (v < 0) throw sys_error("ioprio_get of thread " + std::to_string(tid));
  IoPriority p;
  p.cls = static_cast<IoPriority::Class>((v >> kClassShift) & 0x7);
  p.level = static_cast<int>(v & ((1 << kClassShift) - 1));
  return p;
}

void set_thread_io_priority(const IoPriority& p) {
  if (::syscall(SYS_ioprio_set, kWhoProcess, ::gettid(), encode(p)) != 0)
    throw sys_error("cannot set the I/O priority to " + to_string(p));
}

ScopedIoPriority::ScopedIoPriority(const IoPriority& p) : previous_(thread_io_priority()) {
  set_thread_io_priority(p);
}

ScopedIoPriority::~ScopedIoPriority() {
  try {
    set_thread_io_priority(previous_);
  } catch (const Error&) {
    // Going back to a priority the thread had cannot fail but for a kernel gone strange; the
    // next run sets its own anyway.
  }
}

}  // namespace backy

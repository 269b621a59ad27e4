// IoPriority: the I/O scheduling class a thread reads with, as ionice(1) sets it
// (`io-priority: idle | best-effort[:0-7] | realtime[:0-7]`).
//
// File sources read with `idle` by default, so a backup of a local disk or image yields to every
// other reader of that disk. The kernel honours the class only with the BFQ (or the old CFQ)
// scheduler; with none, mq-deadline or kyber it is recorded but changes nothing. It is set per
// thread (ioprio_set with IOPRIO_WHO_PROCESS and the thread's id), and since the daemon's worker
// threads run one job after another, ScopedIoPriority gives the thread its previous priority back
// when the run ends.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace backy {

struct IoPriority {
  // The kernel's IOPRIO_CLASS_* values. `none`: the kernel derives it from the nice value.
  enum class Class { none = 0, realtime = 1, best_effort = 2, idle = 3 };
  Class cls = Class::idle;
  int level = 0;  // 0 (first) to 7; only for best_effort and realtime
  bool operator==(const IoPriority&) const = default;
};

// "idle", "best-effort", "best-effort:3", "realtime:0"; nullopt for anything else. A class
// without a level takes 4 (ionice's default).
std::optional<IoPriority> parse_io_priority(const std::string& text);
// The form parse_io_priority reads ("none" for Class::none).
std::string to_string(const IoPriority& p);

// The priority of thread `tid` (0: the calling thread). Throws backy::Error.
IoPriority thread_io_priority(pid_t tid = 0);
// Sets the calling thread's priority. Throws backy::Error (realtime needs CAP_SYS_ADMIN).
void set_thread_io_priority(const IoPriority& p);

// Sets the calling thread's priority for its lifetime, then restores the one it had. Destroy it
// on the thread that made it.
class ScopedIoPriority {
 public:
  // Throws backy::Error when the priority cannot be read or set.
  explicit ScopedIoPriority(const IoPriority& p);
  ~ScopedIoPriority();
  ScopedIoPriority(const ScopedIoPriority&) = delete;
  ScopedIoPriority& operator=(const ScopedIoPriority&) = delete;

 private:
  IoPriority previous_;
};

}  // namespace backy

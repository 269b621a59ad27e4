#include "job_scheduler.h"

namespace backy {

std::string to_string(JobState s) {
  switch (s) {
    case JobState::waiting:
      return "waiting";
    case JobState::queued:
      return "queued";
    case JobState::running:
      return "running";
    case JobState::failed:
      return "failed";
    case JobState::paused:
      return "paused";
  }
  return "waiting";
}

}  // namespace backy

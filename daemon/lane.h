// Lanes: which of the worker pool's slot sets a task waits for (upstream backy's fast and slow
// worker semaphores, plus one for an operator's work).
//
// A backup whose job's newest revision took less than `fast-lane-threshold` (default 10 min)
// runs in the fast lane; any other backup, and the first of a job, in the slow lane. Each lane
// has `worker-limit` slots of its own, so a few multi-hour fulls fill only the slow lane and the
// hundreds of quick incrementals keep running beside them. Restore, scrub, forget, mount and
// export preparation (JobScheduler::post_job_work) run in the work lane, also `worker-limit`
// slots: an operator's restore never waits behind a full and never takes a backup's slot. A
// backup's callbacks run inside its own task, in its lane.
//
// Pure: no state, any thread.
#pragma once

#include <string_view>
#include <vector>

#include "repo/revision.h"
#include "schedule/duration.h"

namespace backy {

enum class Lane { fast, slow, work };
inline constexpr int kLaneCount = 3;

// "fast", "slow", "work": as status, the metrics and the log name them.
std::string_view lane_name(Lane lane);

// The lane of a job's next backup. `history`: its complete revisions, oldest first (the newest
// one's recorded duration decides, as upstream's clean_history[-1]).
Lane backup_lane(const std::vector<Revision>& history, Seconds fast_threshold);

}  // namespace backy

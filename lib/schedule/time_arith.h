// Internal to lib/schedule: time arithmetic that cannot overflow.
//
// Intervals come from the configuration and may be absurdly large ("99999999999w" parses), and
// keep x interval larger still; in TimePoint's own 64-bit tick count that would be undefined
// behaviour. Here every sum is done in 128 bits and clamped to what a TimePoint can hold, so a
// huge interval means "far in the future" instead of a wrapped, wrong time.
#pragma once

#include <chrono>
#include <limits>

#include "schedule/duration.h"
#include "util/time.h"

namespace backy::schedule_detail {

using Wide = __int128;

static_assert(TimePoint::period::num == 1, "TimePoint ticks are a fraction of a second");
inline constexpr Wide kTicksPerSecond = TimePoint::period::den;

inline Wide ticks(TimePoint t) {
  return t.time_since_epoch().count();
}
inline Wide ticks(Seconds s) {
  return Wide(s.count()) * kTicksPerSecond;
}

inline TimePoint clamp_time(Wide t) {
  using Rep = TimePoint::rep;
  constexpr Wide lo = std::numeric_limits<Rep>::min(), hi = std::numeric_limits<Rep>::max();
  return TimePoint(TimePoint::duration(static_cast<Rep>(t < lo ? lo : t > hi ? hi : t)));
}

// Division and remainder rounding toward -infinity, so times before the epoch (or a slot
// computation that goes negative) still land on the right slot.
inline Wide floor_div(Wide a, Wide b) {
  Wide q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
inline Wide floor_mod(Wide a, Wide b) {
  return a - floor_div(a, b) * b;
}

}  // namespace backy::schedule_detail

#include "lane.h"

namespace backy {

std::string_view lane_name(Lane lane) {
  switch (lane) {
    case Lane::fast:
      return "fast";
    case Lane::slow:
      return "slow";
    case Lane::work:
      return "work";
  }
  return "?";
}

Lane backup_lane(const std::vector<Revision>& history, Seconds fast_threshold) {
  if (history.empty()) return Lane::slow;
  const double took = history.back().stats.duration;
  // A negative or NaN duration (a hand-edited .rev) proves nothing about speed: slow.
  if (!(took >= 0)) return Lane::slow;
  return took < static_cast<double>(fast_threshold.count()) ? Lane::fast : Lane::slow;
}

}  // namespace backy

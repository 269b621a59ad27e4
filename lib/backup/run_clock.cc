#include "backup/run_clock.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "util/text.h"

namespace backy {

Phase RunClock::enter(Phase phase) {
  const auto now = Steady::now();
  spent_[static_cast<size_t>(phase_)] += now - since_;
  since_ = now;
  return std::exchange(phase_, phase);
}

double RunClock::elapsed() const {
  return std::chrono::duration<double>(Steady::now() - began_).count();
}

PhaseSeconds RunClock::split() const {
  auto spent = spent_;
  spent[static_cast<size_t>(phase_)] += Steady::now() - since_;
  PhaseSeconds out;
  for (Phase p : kPhases)
    out[p] = std::chrono::duration<double>(spent[static_cast<size_t>(p)]).count();
  return out;
}

std::string largest_phases(const PhaseSeconds& phases, size_t n) {
  std::vector<std::pair<Phase, double>> by_size(phases.begin(), phases.end());
  std::stable_sort(by_size.begin(), by_size.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string out;
  for (size_t i = 0; i < by_size.size() && i < n && by_size[i].second > 0; ++i)
    out += (out.empty() ? "" : ", ") + std::string(to_string(by_size[i].first)) + " " +
           phase_duration(by_size[i].second);
  return out;
}

}  // namespace backy

#include "schedule/duration.h"

#include <cstdint>
#include <limits>

namespace backy {

std::optional<Seconds> parse_duration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  size_t digits = 0;
  int64_t value = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    if (value > (std::numeric_limits<int64_t>::max() - 9) / 10) return std::nullopt;
    value = value * 10 + (text[digits] - '0');
    ++digits;
  }
  if (digits == 0 || value == 0) return std::nullopt;
  int64_t unit = 1;
  if (digits < text.size()) {
    if (digits + 1 != text.size()) return std::nullopt;
    switch (text[digits]) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = 7 * 86400;
        break;
      default:
        return std::nullopt;
    }
  }
  if (value > std::numeric_limits<int64_t>::max() / unit) return std::nullopt;
  return Seconds(value * unit);
}

std::string format_duration(Seconds d) {
  int64_t s = d.count();
  struct Unit {
    int64_t secs;
    char suffix;
  };
  for (Unit u : {Unit{7 * 86400, 'w'}, Unit{86400, 'd'}, Unit{3600, 'h'}, Unit{60, 'm'}})
    if (s > 0 && s % u.secs == 0) return std::to_string(s / u.secs) + u.suffix;
  return std::to_string(s) + "s";
}

}  // namespace backy

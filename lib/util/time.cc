#include "util/time.h"

#include <cstdio>
#include <ctime>

namespace backy {

std::string format_iso8601(TimePoint t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(us / 1000000);
  long frac = static_cast<long>(us % 1000000);
  if (frac < 0) {
    frac += 1000000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ld+00:00", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

std::optional<TimePoint> parse_iso8601(const std::string& s) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6)
    return std::nullopt;
  // timegm would quietly normalise a month 13 or a minute 75 into another time.
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60 || tm.tm_hour < 0 || tm.tm_min < 0 || tm.tm_sec < 0)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  long us = 0;
  size_t pos = static_cast<size_t>(consumed);
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 6) us = us * 10 + (s[pos] - '0'), ++digits;
      ++pos;
    }
    while (digits++ < 6) us *= 10;
  }
  std::string zone = s.substr(pos);
  if (!(zone.empty() || zone == "Z" || zone == "+00:00")) return std::nullopt;
  std::time_t secs = timegm(&tm);
  // TimePoint counts nanoseconds in 64 bits: years 1678 to 2261 only.
  constexpr std::time_t kLimit =
      std::chrono::duration_cast<std::chrono::seconds>(Clock::duration::max()).count() - 1;
  if (secs < -kLimit || secs > kLimit) return std::nullopt;
  return TimePoint(std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(secs) +
                                                               std::chrono::microseconds(us)));
}

double to_unix_seconds(TimePoint t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace backy

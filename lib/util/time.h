// Time points as backy stores and shows them.
//
// Timestamps are std::chrono::system_clock::time_point; in files and on the wire they are UTC
// ISO 8601 with microseconds ("2026-11-28T08:56:30.123456+00:00"), as upstream backy wrote them.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace backy {

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;

std::string format_iso8601(TimePoint t);
// Accepts what format_iso8601 writes, also without fraction and with "Z"; nullopt if malformed.
std::optional<TimePoint> parse_iso8601(const std::string& s);
// Seconds since the Unix epoch, as a double (for JSON and metrics).
double to_unix_seconds(TimePoint t);

}  // namespace backy

// Durations as backy's configuration writes them: an integer number of seconds, or an integer
// with one suffix s (seconds), m (minutes), h (hours), d (days), w (weeks): "30", "90s", "15m",
// "1h", "1d", "1w". Upstream backy accepts the same set.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace backy {

using Seconds = std::chrono::seconds;

// nullopt for anything else: empty, negative, zero, a fraction, an unknown suffix ("1x"),
// or a value that overflows.
std::optional<Seconds> parse_duration(const std::string& text);
// The shortest exact form: 86400 -> "1d", 90 -> "90s"... (inverse of parse_duration).
std::string format_duration(Seconds d);

}  // namespace backy

#include "repo/upstream_revision.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string_view>

#include "repo/rev_yaml.h"
#include "util/error.h"
#include "util/uuid.h"

namespace backy {

namespace {

// TimePoint counts nanoseconds in 64 bits: years 1678 to 2261 only.
constexpr double kLimitSeconds = 9.2e9;

std::optional<TimePoint> from_seconds(double secs) {
  if (!std::isfinite(secs) || std::fabs(secs) > kLimitSeconds) return std::nullopt;
  return TimePoint(
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(secs)));
}

// A number of seconds since the epoch, as early upstream versions wrote `timestamp` (a float;
// upstream read it with fromtimestamp() in its host's zone and then called that UTC, which is
// the epoch's time on the UTC hosts it ran on).
std::optional<TimePoint> epoch_number(const std::string& s) {
  if (s.empty() || s.size() > 32) return std::nullopt;
  if (s.find_first_not_of("0123456789.+-eE") != std::string::npos) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return from_seconds(v);
}

// The offset after a time: "", "Z", "+HH", "+HHMM", "+HH:MM" (or '-'), after optional blanks.
std::optional<long> offset_seconds(std::string_view z) {
  while (!z.empty() && z.front() == ' ') z.remove_prefix(1);
  if (z.empty() || z == "Z" || z == "z") return 0;
  if (z.size() < 2 || (z[0] != '+' && z[0] != '-')) return std::nullopt;
  const long sign = z[0] == '-' ? -1 : 1;
  std::string digits;
  for (size_t i = 1; i < z.size(); ++i) {
    if (z[i] == ':' && i == 3) continue;
    if (!std::isdigit(static_cast<unsigned char>(z[i]))) return std::nullopt;
    digits += z[i];
  }
  if (digits.size() != 1 && digits.size() != 2 && digits.size() != 4) return std::nullopt;
  const long hours = std::stol(digits.substr(0, digits.size() == 1 ? 1 : 2));
  const long minutes = digits.size() == 4 ? std::stol(digits.substr(2)) : 0;
  if (hours > 23 || minutes > 59) return std::nullopt;
  return sign * (hours * 3600 + minutes * 60);
}

}  // namespace

std::optional<TimePoint> parse_upstream_time(const std::string& s) {
  std::tm tm{};
  char sep = 0;
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &sep, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 7)
    return std::nullopt;
  if (sep != ' ' && sep != 'T' && sep != 't') return std::nullopt;
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour < 0 ||
      tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60 ||
      tm.tm_year < 1900)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  size_t pos = static_cast<size_t>(consumed);
  long us = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      if (digits < 6) us = us * 10 + (s[pos] - '0'), ++digits;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    while (digits++ < 6) us *= 10;
  }
  const auto offset = offset_seconds(std::string_view(s).substr(pos));
  if (!offset) return std::nullopt;
  const double secs = static_cast<double>(timegm(&tm) - *offset);
  if (std::fabs(secs) > kLimitSeconds) return std::nullopt;
  return TimePoint(std::chrono::duration_cast<Clock::duration>(
      std::chrono::seconds(static_cast<int64_t>(secs)) + std::chrono::microseconds(us)));
}

bool written_by_upstream(const std::string& text) {
  try {
    const YAML::Node n = YAML::Load(text);
    return n.IsMap() && !n["complete"] && n["uuid"] && n["timestamp"];
  } catch (const YAML::Exception&) {
    return false;
  }
}

UpstreamRevision upstream_revision_from_yaml(const std::string& text, const std::string& where) {
  auto bad = [&](const std::string& why) {
    return Error("malformed upstream revision file " + where + ": " + why);
  };
  const YAML::Node n = load_rev_yaml(text, "malformed upstream revision file", where);
  try {
    if (n["complete"]) throw bad("it has 'complete': it is backyd's, not upstream's");
    UpstreamRevision r;
    if (!n["uuid"] || !n["uuid"].IsScalar()) throw bad("no 'uuid'");
    r.uuid = n["uuid"].as<std::string>();
    if (!is_revision_uuid(r.uuid)) throw bad("'uuid' is neither a shortuuid nor a uuid");
    if (!n["timestamp"] || !n["timestamp"].IsScalar()) throw bad("no 'timestamp'");
    const std::string ts = n["timestamp"].as<std::string>();
    auto t = epoch_number(ts);
    if (!t) t = parse_upstream_time(ts);
    if (!t) throw bad("'timestamp' '" + ts + "' is no time");
    r.timestamp = *t;
    if (const YAML::Node p = n["parent"]; p && !p.IsNull()) {
      if (!p.IsScalar()) throw bad("'parent' is not a name");
      r.parent = p.as<std::string>();
      if (!r.parent.empty() && !is_revision_uuid(r.parent))
        throw bad("'parent' is neither a shortuuid nor a uuid");
    }
    if (const YAML::Node tags = n["tags"]; tags && !tags.IsNull()) {
      if (!tags.IsSequence()) throw bad("'tags' is not a list");
      for (const auto& tag : tags) r.tags.insert(tag.as<std::string>());
    }
    r.trust = trust_of(n, "malformed upstream revision file", where);
    r.backend_type = n["backend_type"] && !n["backend_type"].IsNull()
                         ? n["backend_type"].as<std::string>()
                         : "cowfile";
    if (const YAML::Node s = n["stats"]; s && !s.IsNull()) {
      if (!s.IsMap()) throw bad("'stats' is not a mapping");
      r.bytes_written = s["bytes_written"].as<uint64_t>(0);
      r.duration = s["duration"].as<double>(0);
    }
    return r;
  } catch (const YAML::Exception& e) {
    throw bad(e.what());
  }
}

}  // namespace backy

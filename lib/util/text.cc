#include "util/text.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>

namespace backy {

std::string human_bytes(double b) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (b >= 1024 && u < 5) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, kUnits[u]);
  return buf;
}

std::optional<uint64_t> parse_bytes(std::string_view t) {
  if (t.ends_with("/s")) t.remove_suffix(2);
  size_t i = 0, digits = 0, dots = 0;
  while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.')) {
    (t[i] == '.' ? dots : digits) += 1;
    ++i;
  }
  if (digits == 0 || dots > 1 || i > 20) return std::nullopt;
  const double number = std::stod(std::string(t.substr(0, i)));
  std::string_view unit = t.substr(i);
  if (unit.starts_with(' ')) unit.remove_prefix(1);
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"", 1},         {"B", 1},      {"K", 0x1p10},   {"k", 0x1p10},
      {"KiB", 0x1p10}, {"M", 0x1p20}, {"MiB", 0x1p20}, {"G", 0x1p30},
      {"GiB", 0x1p30}, {"T", 0x1p40}, {"TiB", 0x1p40}, {"kB", 1e3},
      {"KB", 1e3},     {"MB", 1e6},   {"GB", 1e9},     {"TB", 1e12}};
  for (const auto& [name, factor] : kUnits) {
    if (unit != name) continue;
    const double bytes = std::round(number * factor);
    if (bytes >= 0x1p53) return std::nullopt;
    return static_cast<uint64_t>(bytes);
  }
  return std::nullopt;
}

std::string human_duration(double s) {
  char buf[32];
  if (s < 59.95) {
    std::snprintf(buf, sizeof buf, "%.1f s", s < 0 ? 0.0 : s);
    return buf;
  }
  const long long whole = std::llround(s);  // 59.96 is "1m00s", not "0m59s"
  if (whole < 3600)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", whole / 60, whole % 60);
  else
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", whole / 3600, whole % 3600 / 60);
  return buf;
}

std::string phase_duration(double s) {
  if (s >= 59.995) return human_duration(s);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f s", s < 0 ? 0.0 : s);
  return buf;
}

std::string relative_time(double s) {
  const double a = std::fabs(s);
  if (a < 1) return "just now";
  std::string span;
  if (a < 60)
    span = std::to_string(static_cast<long long>(a)) + " s";
  else if (a < 3600)
    span = std::to_string(static_cast<long long>(a / 60)) + " min";
  else if (a < 2 * 86400)
    span = std::to_string(static_cast<long long>(a / 3600)) + " h";
  else
    span = std::to_string(static_cast<long long>(a / 86400)) + " d";
  return s < 0 ? span + " ago" : "in " + span;
}

std::string format_percent(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", p);
  std::string s = buf;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s + "%";
}

std::string count(size_t n, std::string_view noun) {
  return std::to_string(n) + " " + std::string(noun) + (n == 1 ? "" : "s");
}

}  // namespace backy

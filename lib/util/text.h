// Words and numbers for people: one format for sizes, durations and counts, used by backyctl's
// tables, the daemon's log and its error messages alike. Machine-readable forms (JSON, metrics)
// keep plain bytes and seconds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace backy {

// "512 B", "1.5 GiB" (binary units, one decimal).
std::string human_bytes(double bytes);
// The reverse, for sizes and rates in the configuration: "20MiB", "100M", "1.5 GiB", "512k",
// "4096", with an optional "/s". K, M, G, T with or without "iB" are binary (1024^n), as
// human_bytes prints them; "kB", "MB", "GB", "TB" are decimal (1000^n). nullopt when it is none
// of these or the result is not below 2^53 bytes.
std::optional<uint64_t> parse_bytes(std::string_view text);
// "0.4 s", "59.9 s", "3m07s", "2h05m": seconds with one decimal under a minute, then two units.
std::string human_duration(double seconds);
// "0.46 s", "12.30 s", then as human_duration: a part of a run, where a tenth is too coarse.
std::string phase_duration(double seconds);
// How far a moment is from now, for people: "just now", "5 min ago", "3 h ago", "2 d ago", and
// "in 40 s", "in 3 h" for the future (`seconds` < 0 is the past).
std::string relative_time(double seconds);
// "10%", "7.5%", "0.25%": a share, without trailing zeros (two decimals at most).
std::string format_percent(double percent);
// "1 revision", "3 revisions", "0 jobs": `noun` is singular and takes an "s".
std::string count(size_t n, std::string_view noun);

}  // namespace backy

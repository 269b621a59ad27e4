// Content digests and directory snapshots for the trust tests: "bit-identical to what it was"
// and "nothing on disk changed" as values a test can keep and compare.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>

namespace backy::test {

// XXH3-128 of a file's bytes (holes read as zeros), or of a buffer, as 32 hex digits.
std::string content_digest(const std::filesystem::path& file);
std::string content_digest(std::span<const char> bytes);

// One directory entry as lstat and its content see it.
struct EntryState {
  unsigned mode = 0;  // st_mode: type and permissions
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::string content;  // regular file: content_digest; symlink: its target
  bool operator==(const EntryState&) const = default;
};

// Every entry of `dir` (not recursive) by name; symlinks are not followed.
using DirState = std::map<std::string, EntryState>;
DirState dir_state(const std::filesystem::path& dir);
// The entries that appeared, vanished or changed between `before` and `after`, one per line;
// empty when the two are equal.
std::string dir_changes(const DirState& before, const DirState& after);

}  // namespace backy::test

// A job's pause, kept as the file `paused` in its job directory so that it outlasts a restart: who
// paused it, when, and why. The scheduler reads it when it adds a job (start, reload) and writes or
// removes it as `pause` and `resume` change the job (docs/storage.md).
//
// The file is YAML of three keys, written atomically (write_atomic: a temp file renamed over it,
// fsynced) and read through the directory fd without following links, at most kMaxPauseNoteBytes.
// Repository::repair leaves it alone: it removes only names derived from revision uuids.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>

#include "util/dir.h"
#include "util/time.h"

namespace backy {

struct PauseNote {
  std::string by;  // who paused the job ("alice (uid 1000)")
  TimePoint since{};
  std::string reason;  // may be empty
};

inline constexpr const char* kPauseNoteName = "paused";
inline constexpr size_t kMaxPauseReasonBytes = 256;
inline constexpr size_t kMaxPauseNoteBytes = 4096;

// Why `reason` cannot be a pause's reason (too long, not UTF-8, control characters), or nullopt.
std::optional<std::string> check_pause_reason(const std::string& reason);

// The job's pause; nullopt when it is not paused (no file, or no job directory yet). Throws
// backy::Error naming the file when it exists but cannot be read or parsed: the caller decides
// (the scheduler keeps such a job paused: someone meant it to be).
std::optional<PauseNote> read_pause_note(const std::filesystem::path& job_dir);
// The same, in the job directory open as `job_dir`.
std::optional<PauseNote> read_pause_note(const Dir& job_dir);
// Records the pause durably, creating the job directory if the job never ran. Throws backy::Error.
void write_pause_note(const std::filesystem::path& job_dir, const PauseNote& note);
// Removes the record (durably); nothing to do when there is none. Throws backy::Error.
void remove_pause_note(const std::filesystem::path& job_dir);

}  // namespace backy

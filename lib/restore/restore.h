// Restore: copy a revision's image to a target, holes kept where the target allows.
//
// Targets: a new regular file (sparse: holes stay holes), a block device or stdout (holes are
// written as zeros, since a device may hold old data and a pipe has no holes), or a new RBD image
// (lib/restore/rbd_target, in backy_rbd). A target that exists is refused unless `force`.
// The copy is the same as `dd if=<image> of=<target> conv=sparse`; this only adds safety and
// progress.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <stop_token>
#include <string>

namespace backy {

class RestoreTarget {
 public:
  virtual ~RestoreTarget() = default;
  // Whether unwritten ranges read back as zeros (a new file or RBD image); if not, holes of the
  // revision are written out as zeros.
  virtual bool zero_filled() const = 0;
  virtual void write(uint64_t offset, std::span<const char> data) = 0;
  // Makes the data durable; called once at the end (by restore_image). Calling it again does
  // nothing.
  virtual void finish() = 0;
};

// A regular file (created, or truncated with `force`), a block device (must be at least `size`
// bytes; needs `force` since it overwrites), or "-" for stdout.
std::unique_ptr<RestoreTarget> open_file_target(const std::string& target, uint64_t size,
                                                bool force);

using RestoreProgress = std::function<void(uint64_t done, uint64_t total)>;

// Copies image `image` (of `size` bytes) to `target`. Throws backy::Error / backy::Cancelled.
void restore_image(const std::filesystem::path& image, uint64_t size, RestoreTarget& target,
                   const RestoreProgress& progress = {}, std::stop_token stop = {});

}  // namespace backy

#include "util/fs_space.h"

#include <sys/statvfs.h>

#include <cerrno>

#include "util/error.h"
#include "util/text.h"

namespace backy {

double FsSpace::free_percent() const {
  return total_bytes ? 100.0 * double(free_bytes) / double(total_bytes) : 100;
}

double FsSpace::free_inode_percent() const {
  return total_inodes ? 100.0 * double(free_inodes) / double(total_inodes) : 100;
}

FsSpace fs_space(const std::filesystem::path& path) {
  struct statvfs st {};
  std::filesystem::path at = path;
  while (::statvfs(at.c_str(), &st) != 0) {
    if (errno != ENOENT || !at.has_relative_path()) throw sys_error("statvfs " + path.string());
    at = at.parent_path();
  }
  FsSpace s;
  s.total_bytes = uint64_t(st.f_blocks) * st.f_frsize;
  s.free_bytes = uint64_t(st.f_bavail) * st.f_frsize;
  s.total_inodes = st.f_files;
  s.free_inodes = st.f_favail;
  return s;
}

std::optional<std::string> space_below(const FsSpace& s, double percent) {
  if (s.free_percent() < percent)
    return human_bytes(double(s.free_bytes)) + " free of " + human_bytes(double(s.total_bytes)) +
           " (" + format_percent(s.free_percent()) + ")";
  if (s.free_inode_percent() < percent)
    return std::to_string(s.free_inodes) + " of " + std::to_string(s.total_inodes) +
           " inodes free (" + format_percent(s.free_inode_percent()) + ")";
  return std::nullopt;
}

}  // namespace backy

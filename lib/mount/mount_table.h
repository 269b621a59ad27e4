// The kernel's table of mounts as /proc/self/mountinfo shows it: which mount point is mounted
// from which source. backyctl uses it, in its own mount namespace, to tell whether a recorded
// mount is still there (after a reboot or a manual umount) and to unmount only what it mounted.
//
// Pure parsing plus one reader; any thread.
#pragma once

#include <string>
#include <vector>

namespace backy {

struct MountEntry {
  std::string mount_point;  // unescaped (\040 -> ' ')
  std::string fstype;
  std::string source;
};

// Lines of mountinfo(5); malformed lines are skipped.
std::vector<MountEntry> parse_mountinfo(const std::string& text);
// The current table of this process's mount namespace.
std::vector<MountEntry> read_mount_table();
// Whether `mount_point` is mounted from `source` now.
bool is_mounted_from(const std::string& mount_point, const std::string& source);

}  // namespace backy

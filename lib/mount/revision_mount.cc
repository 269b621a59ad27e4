#include "mount/revision_mount.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "mount/loop_device.h"
#include "mount/mount_table.h"
#include "util/dir.h"
#include "util/error.h"

namespace backy {

namespace {

std::string fd_path(int fd) {
  return "/proc/self/fd/" + std::to_string(fd);
}

}  // namespace

UniqueFd open_directory_nofollow(const std::string& dir) {
  UniqueFd at(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  for (const auto& part : std::filesystem::path(dir).relative_path()) {
    if (!at) return at;
    UniqueFd next(::openat(at.get(), part.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (next && ::fstat(next.get(), &st) == 0 && !S_ISDIR(st.st_mode)) {
      errno = S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR;
      return UniqueFd();
    }
    at = std::move(next);
  }
  if (!at) return at;
  return UniqueFd(::openat(at.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

UniqueFd open_mount_point(const std::string& dir) {
  const std::filesystem::path p(dir);
  if (dir.empty() || dir.front() != '/' || p.lexically_normal() != p ||
      dir.find("/..") != std::string::npos || (dir.size() > 1 && dir.back() == '/'))
    throw Error("mount directory \"" + dir + "\" must be an absolute, normalised path");
  open_how how{};
  how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  UniqueFd fd(static_cast<int>(::syscall(SYS_openat2, AT_FDCWD, dir.c_str(), &how, sizeof how)));
  if (!fd && errno == ENOSYS) fd = open_directory_nofollow(dir);
  if (!fd && errno == ELOOP)
    throw Error("mount directory " + dir +
                " is or passes through a symbolic link; name the real directory");
  if (!fd) throw sys_error("cannot open mount directory " + dir);
  UniqueFd listing(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
  DIR* d = listing ? ::fdopendir(listing.release()) : nullptr;
  if (!d) throw sys_error("cannot list mount directory " + dir);
  bool empty = true;
  while (const dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") empty = false;
  }
  ::closedir(d);
  if (!empty) throw Error("mount directory " + dir + " is not empty");
  return fd;
}

void refuse_inside(int dir_fd, const std::string& dir, const std::filesystem::path& base_dir) {
  if (!base_dir.empty() && is_below(dir_fd, base_dir))
    throw Error("mount directory " + dir + " is inside base-dir " + base_dir.string());
}

std::string mount_clone(const CloneMount& m, const std::function<void()>& before_mount) {
  LoopDevice loop = LoopDevice::attach(m.clone, m.offset, m.length, false);
  if (before_mount) before_mount();
  const char* options = m.fstype == "xfs" ? "nouuid" : "";
  if (::mount(loop.path().c_str(), fd_path(m.target).c_str(), m.fstype.c_str(),
              MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, options) != 0)
    throw sys_error("cannot mount " + m.what + " (" + m.fstype + ") at " + m.dir);
  return loop.path();  // `loop` closes: the device now lives exactly as long as the mount
}

bool unmount_clone(const std::string& dir, const std::string& loop) {
  if (loop.empty() || !is_mounted_from(dir, loop)) return false;
  if (::umount2(dir.c_str(), UMOUNT_NOFOLLOW) != 0) {
    if (errno == EBUSY)
      throw Error(dir + " is busy: a process has a file or its working directory under it");
    throw sys_error("cannot unmount " + dir);
  }
  return true;
}

}  // namespace backy

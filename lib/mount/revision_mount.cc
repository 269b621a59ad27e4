#include "mount/revision_mount.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "mount/loop_device.h"
#include "mount/mount_table.h"
#include "mount/partitions.h"
#include "util/command.h"
#include "util/error.h"
#include "util/uuid.h"

namespace backy {

namespace {

// The filesystems mount knows how to mount read-only with journal replay into the clone.
bool mountable(const std::string& type) {
  return type == "ext4" || type == "ext3" || type == "ext2" || type == "xfs" || type == "vfat";
}

std::string fd_path(int fd) {
  return "/proc/self/fd/" + std::to_string(fd);
}

// Removes the record (and clone) unless dismissed: what a failed mount_revision leaves.
class Undo {
 public:
  Undo(const MountRegistry& registry, const MountRecord& r) : registry_(registry), r_(r) {}
  ~Undo() {
    if (!armed_) return;
    try {
      registry_.remove(r_);
    } catch (...) {  // clean_stale_mounts retries at the next start
    }
  }
  Undo(const Undo&) = delete;
  Undo& operator=(const Undo&) = delete;
  void dismiss() { armed_ = false; }

 private:
  const MountRegistry& registry_;
  const MountRecord& r_;
  bool armed_ = true;
};

std::vector<Partition> read_table(const std::filesystem::path& image, uint64_t size) {
  CommandResult r = run_command({"sfdisk", "-J", image.string()});
  if (r.exit_code != 0) {
    if (r.err.find("does not contain a recognized partition table") != std::string::npos) return {};
    throw Error("cannot read the partition table: sfdisk: " + r.summary());
  }
  return parse_partition_table(r.out, size);
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

UniqueFd open_mount_point(const std::string& dir, const std::filesystem::path& base_dir) {
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
  if (is_below(fd.get(), base_dir))
    throw Error("mount directory " + dir + " is inside base-dir " + base_dir.string());
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

MountRecord mount_revision(const MountRegistry& registry, const MountOrder& order) {
  MountRecord r;
  r.id = new_uuid();
  r.job = order.job;
  r.uuid = order.uuid;
  r.dir = order.dir;
  r.state = "mounting";
  r.since = static_cast<int64_t>(::time(nullptr));
  registry.save(r);  // first: from here on a crash leaves a record to clean up
  Undo undo(registry, r);

  const Dir dir = registry.dir();
  UniqueFd clone = dir.open_file(registry.clone_name(r), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (::ioctl(clone.get(), FICLONE, order.image) != 0)
    throw sys_error("cannot reflink-clone revision " + order.uuid + " into " +
                    registry.clone_path(r).string() +
                    " (mount needs a base-dir filesystem with reflinks, e.g. XFS with reflink=1)");

  const auto table = read_table(registry.clone_path(r), order.size);
  const Partition part = choose_partition(table, order.partition, order.size);
  r.partition = part.number;
  LoopDevice loop = LoopDevice::attach(clone.get(), part.offset, part.size, false);
  r.loop = loop.path();

  CommandResult blkid = run_command({"blkid", "-p", "-o", "value", "-s", "TYPE", loop.path()});
  r.fstype = blkid.out.substr(0, blkid.out.find('\n'));
  const std::string where =
      part.number == 0 ? "the image" : "partition " + std::to_string(part.number);
  if (r.fstype.empty())
    throw Error(where + " holds no filesystem blkid recognises (partitions: " + describe(table) +
                ")");
  if (!mountable(r.fstype))
    throw Error(where + " holds a " + r.fstype + " filesystem; mount supports ext2/3/4, xfs, vfat");
  registry.save(r);  // the loop device, before anything can hold it

  // Two revisions of one XFS share its UUID: nouuid lets both be mounted at once.
  const char* options = r.fstype == "xfs" ? "nouuid" : "";
  if (::mount(loop.path().c_str(), fd_path(order.target).c_str(), r.fstype.c_str(),
              MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, options) != 0)
    throw sys_error("cannot mount " + where + " of revision " + order.uuid + " (" + r.fstype +
                    ") at " + order.dir);
  r.state = "mounted";
  try {
    registry.save(r);
  } catch (...) {
    ::umount2(fd_path(order.target).c_str(), MNT_DETACH);
    throw;
  }
  undo.dismiss();
  return r;  // `loop` closes: the device now lives exactly as long as the mount
}

void unmount_revision(const MountRegistry& registry, const MountRecord& r) {
  if (!r.loop.empty() && is_mounted_from(r.dir, r.loop)) {
    if (::umount2(r.dir.c_str(), UMOUNT_NOFOLLOW) != 0) {
      if (errno == EBUSY)
        throw Error(r.dir + " is busy: a process has a file or its working directory under it");
      throw sys_error("cannot unmount " + r.dir);
    }
  }
  registry.remove(r);
}

std::vector<std::string> clean_stale_mounts(const MountRegistry& registry) {
  std::vector<std::string> out;
  std::vector<std::string> problems;
  for (const auto& r : registry.list(&problems)) {
    if (r.state == "mounted" && is_mounted_from(r.dir, r.loop)) continue;
    registry.remove(r);
    out.push_back("removed the stale mount record of revision " + r.uuid + " of " + r.job + " at " +
                  r.dir + " (" + (r.state == "mounted" ? "no longer mounted" : "interrupted") +
                  ")");
  }
  for (const auto& p : problems) out.push_back("unreadable mount record " + p);
  return out;
}

}  // namespace backy

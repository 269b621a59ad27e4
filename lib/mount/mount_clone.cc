#include "mount/mount_clone.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

#include <ctime>

#include "mount/partitions.h"
#include "util/command.h"
#include "util/error.h"
#include "util/uuid.h"

namespace backy {

namespace {

// The filesystems backyctl mounts read-only with journal replay into the clone.
bool mountable(const std::string& type) {
  return type == "ext4" || type == "ext3" || type == "ext2" || type == "xfs" || type == "vfat";
}

// Removes the record (and clone) unless dismissed: what a failed prepare_mount leaves.
class Undo {
 public:
  Undo(const MountRegistry& registry, const MountRecord& r) : registry_(registry), r_(r) {}
  ~Undo() {
    if (!armed_) return;
    try {
      registry_.remove(r_);
    } catch (...) {  // the record stays; `backyctl mounts --prune` releases it
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

PreparedMount prepare_mount(const MountRegistry& registry, const MountOrder& order) {
  PreparedMount out;
  MountRecord& r = out.record;
  r.id = new_uuid();
  r.job = order.job;
  r.uuid = order.uuid;
  r.dir = order.dir;
  r.state = "pending";
  r.daemon_run = order.daemon_run;
  r.since = static_cast<int64_t>(::time(nullptr));
  registry.save(r);  // first: from here on a crash leaves a record to clean up
  Undo undo(registry, r);

  const Dir dir = registry.dir();
  out.clone = dir.open_file(registry.clone_name(r), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (::ioctl(out.clone.get(), FICLONE, order.image) != 0)
    throw sys_error("cannot reflink-clone revision " + order.uuid + " into " +
                    registry.clone_path(r).string() +
                    " (mount needs a base-dir filesystem with reflinks, e.g. XFS with reflink=1)");

  const auto table = read_table(registry.clone_path(r), order.size);
  const Partition part = choose_partition(table, order.partition, order.size);
  r.partition = part.number;
  out.offset = part.offset;
  out.length = part.size;

  CommandResult blkid = run_command({"blkid", "-p", "-O", std::to_string(part.offset), "-S",
                                     std::to_string(part.size), "-o", "value", "-s", "TYPE",
                                     registry.clone_path(r).string()});
  r.fstype = blkid.out.substr(0, blkid.out.find('\n'));
  const std::string where =
      part.number == 0 ? "the image" : "partition " + std::to_string(part.number);
  if (r.fstype.empty())
    throw Error(where + " holds no filesystem blkid recognises (partitions: " + describe(table) +
                ")");
  if (!mountable(r.fstype))
    throw Error(where + " holds a " + r.fstype + " filesystem; mount supports ext2/3/4, xfs, vfat");
  registry.save(r);
  undo.dismiss();
  return out;
}

}  // namespace backy

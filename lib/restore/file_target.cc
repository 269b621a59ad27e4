// Restore targets named by a path: stdout, a new or replaced regular file, a block device.
//
// Everything below the target's directory is resolved relative to that directory's fd, with
// O_NOFOLLOW / AT_SYMLINK_NOFOLLOW on the last component, so a symlink planted at the target
// (or swapped in between the checks and the writes) is never written through. A file is written
// without a name (or under a temporary one) and put in place only when complete and fsynced: a
// failed, cancelled or killed restore leaves no file that looks like a finished one.
//
// Speed: a new file on the revision's own filesystem is a reflink of it (FICLONE: instant, and
// no space until either is changed). Elsewhere whole pages from page-aligned buffers (what
// restore_image hands over) are written with O_DIRECT, like `dd oflag=direct`, and anything else
// is handed to writeback at once (sync_file_range), so the fsync at the end finds little left
// and a large restore does not pile up dirty pages.
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "restore/restore.h"
#include "util/dir.h"
#include "util/error.h"
#include "util/file_io.h"
#include "util/uuid.h"

namespace backy {

namespace {

// Starts writing back what was just written, so that the fsync at the end finds little left to
// do and the dirty pages of a large restore do not pile up in the page cache. Best effort: where
// the call is not supported, the fsync does it all.
void write_behind(int fd, uint64_t offset, size_t length) {
  ::sync_file_range(fd, static_cast<off_t>(offset), static_cast<off_t>(length),
                    SYNC_FILE_RANGE_WRITE);
}

// Writes to an fd that stays where it is: stdout, a block device.
class FdTarget : public RestoreTarget {
 public:
  FdTarget(std::string name, UniqueFd fd, bool sync, bool stream)
      : name_(std::move(name)), fd_(std::move(fd)), sync_(sync), stream_(stream) {}

  bool zero_filled() const override { return false; }

  void write(uint64_t offset, std::span<const char> data) override {
    if (!stream_) {
      pwrite_full(fd_.get(), data, offset, name_);
      if (sync_) write_behind(fd_.get(), offset, data.size());
      return;
    }
    // A pipe has no offsets: the caller writes in order and fills holes.
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd_.get(), data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw sys_error("write " + name_);
      }
      done += static_cast<size_t>(n);
    }
  }

  void finish() override {
    if (sync_ && ::fsync(fd_.get()) != 0) throw sys_error("fsync " + name_);
  }

 private:
  std::string name_;
  UniqueFd fd_;
  bool sync_, stream_;
};

// A regular file written without a name (O_TMPFILE) and linked in as `<dir>/<name>` when complete,
// so even a SIGKILLed backyctl or a power cut leaves nothing behind. Where the filesystem has no
// O_TMPFILE (or /proc is not there to link it by), it is written as
// `<dir>/.<name>.restore-XXXXXXXX` and renamed; only a kill then leaves that name behind.
class NewFileTarget : public RestoreTarget {
 public:
  // replace: rename over an existing `name` (--force); else never replace one. mode: of the
  // finished file.
  NewFileTarget(std::string target, UniqueFd dir, std::string name, uint64_t size, bool replace,
                mode_t mode)
      : target_(std::move(target)),
        dir_(std::move(dir)),
        name_(std::move(name)),
        replace_(replace) {
    // NAME_MAX is 255: a long name is shortened in the temp name (which nobody needs to read).
    temp_ = "." + name_.substr(0, 200) + ".restore-" + new_uuid().substr(0, 8);
    if (::access("/proc/self/fd", X_OK) == 0)
      fd_.reset(::openat(dir_.get(), ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600));
    unnamed_ = bool(fd_);
    if (!unnamed_) {
      fd_.reset(::openat(dir_.get(), temp_.c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!fd_) throw sys_error("cannot create a temporary file next to " + target_);
      named_ = true;
    }
    if (::fchmod(fd_.get(), mode) != 0 || ::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0) {
      const int err = errno;
      remove_temp();
      throw sys_error("cannot prepare the temporary file for " + target_, err);
    }
  }
  ~NewFileTarget() override {
    if (!done_) remove_temp();
  }
  NewFileTarget(const NewFileTarget&) = delete;
  NewFileTarget& operator=(const NewFileTarget&) = delete;

  bool zero_filled() const override { return true; }

  void write(uint64_t offset, std::span<const char> data) override {
    // Whole pages from a page-aligned buffer (every chunk but a file's last page) go straight
    // to the disk, as `dd oflag=direct` writes: no page-cache copy, nothing left for the fsync.
    const bool aligned =
        (offset | data.size() | reinterpret_cast<uintptr_t>(data.data())) % kDirectAlign == 0;
    set_direct(aligned);
    if (direct_) {
      const ssize_t n = ::pwrite(fd_.get(), data.data(), data.size(), static_cast<off_t>(offset));
      if (n == static_cast<ssize_t>(data.size())) return;
      // EINVAL: an alignment this filesystem or device does not take; the rest goes buffered.
      if (n < 0 && errno != EINVAL && errno != EINTR)
        throw sys_error("write " + target_ + " (temporary file) at offset " +
                        std::to_string(offset));
      if (n < 0 && errno == EINVAL) direct_works_ = false;
      set_direct(false);
      const size_t done = n > 0 ? static_cast<size_t>(n) : 0;
      offset += done;
      data = data.subspan(done);
    }
    pwrite_full(fd_.get(), data, offset, target_ + " (temporary file)");
    write_behind(fd_.get(), offset, data.size());
  }

  bool clone_from(int image, uint64_t size) override {
    // FICLONE takes the whole file: only when the image is exactly the revision's size.
    struct stat st {};
    if (::fstat(image, &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<uint64_t>(st.st_size) != size)
      return false;
    // Fails with EXDEV (another filesystem) or EOPNOTSUPP / EINVAL (no reflinks): then copy.
    return ::ioctl(fd_.get(), FICLONE, image) == 0;
  }

  void finish() override {
    if (done_) return;
    if (::fsync(fd_.get()) != 0) throw sys_error("fsync " + target_);
    if (unnamed_ && !replace_) {
      // link() never replaces: the name is taken only if nobody took it meanwhile.
      if (!link_unnamed(name_)) {
        if (errno == EEXIST) throw appeared();
        throw sys_error("cannot link the restored file to " + target_);
      }
      done_ = true;
    } else {
      // Replacing needs a rename, and a rename needs a name: give the file one for a moment.
      if (unnamed_ && !link_unnamed(temp_)) throw sys_error("cannot link the restored file");
      named_ = true;
      rename_into_place();
    }
    if (::fsync(dir_.get()) != 0) throw sys_error("fsync the directory of " + target_);
  }

 private:
  Error appeared() const {
    return Error(target_ +
                 " appeared while restoring; it was left alone (use --force to "
                 "overwrite it)");
  }

  bool link_unnamed(const std::string& as) {
    const std::string self = "/proc/self/fd/" + std::to_string(fd_.get());
    return ::linkat(AT_FDCWD, self.c_str(), dir_.get(), as.c_str(), AT_SYMLINK_FOLLOW) == 0;
  }

  void rename_into_place() {
    if (replace_) {
      if (::renameat(dir_.get(), temp_.c_str(), dir_.get(), name_.c_str()) != 0)
        throw sys_error("cannot rename the restored file to " + target_);
    } else if (::renameat2(dir_.get(), temp_.c_str(), dir_.get(), name_.c_str(),
                           RENAME_NOREPLACE) != 0) {
      const int err = errno;
      if (err == EEXIST) throw appeared();
      // A filesystem without RENAME_NOREPLACE: link() never replaces either.
      if (err != EINVAL) throw sys_error("cannot rename the restored file to " + target_, err);
      if (::linkat(dir_.get(), temp_.c_str(), dir_.get(), name_.c_str(), 0) != 0)
        throw sys_error("cannot link the restored file to " + target_);
      ::unlinkat(dir_.get(), temp_.c_str(), 0);
    }
    done_ = true;
  }

  void remove_temp() {
    if (named_) ::unlinkat(dir_.get(), temp_.c_str(), 0);
  }

  // Turns O_DIRECT on or off for the next write. A filesystem without it refuses (EINVAL): then
  // every write stays buffered.
  void set_direct(bool on) {
    if (on == direct_ || (on && !direct_works_)) return;
    const int flags = ::fcntl(fd_.get(), F_GETFL);
    if (flags >= 0 && ::fcntl(fd_.get(), F_SETFL, on ? flags | O_DIRECT : flags & ~O_DIRECT) == 0)
      direct_ = on;
    else if (on)
      direct_works_ = false;
  }

  static constexpr uintptr_t kDirectAlign = 4096;

  std::string target_;
  UniqueFd dir_;
  std::string name_, temp_;
  UniqueFd fd_;
  bool replace_;
  bool unnamed_ = false;  // O_TMPFILE: no name until finish()
  bool named_ = false;    // temp_ exists in the directory
  bool done_ = false;     // in place as name_
  bool direct_ = false;   // fd_ has O_DIRECT now
  bool direct_works_ = true;
};

// Throws if the directory open on `dir` is `forbidden` or lies below it.
void refuse_inside(int dir, const std::filesystem::path& forbidden, const std::string& target) {
  if (is_below(dir, forbidden))
    throw Error("restore target " + target + " is inside base-dir " + forbidden.string() +
                ": restore never writes into the repository");
}

}  // namespace

std::unique_ptr<RestoreTarget> open_file_target(const std::string& target, uint64_t size,
                                                bool force, const FileTargetOptions& options) {
  if (target == "-") {
    UniqueFd out(::fcntl(1, F_DUPFD_CLOEXEC, 0));
    if (!out) throw sys_error("stdout");
    return std::make_unique<FdTarget>("stdout", std::move(out), false, true);
  }
  const std::filesystem::path path(target);
  const std::string name = path.filename().string();
  if (name.empty() || name == "." || name == "..")
    throw Error("restore target " + target + " names a directory, not a file or device");
  const std::filesystem::path parent = path.has_parent_path() ? path.parent_path() : ".";
  UniqueFd dir(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) throw sys_error("cannot open the directory of restore target " + target);
  if (!options.refuse_inside.empty()) refuse_inside(dir.get(), options.refuse_inside, target);

  struct stat st {};
  if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno != ENOENT) throw sys_error("cannot inspect restore target " + target);
    return std::make_unique<NewFileTarget>(target, std::move(dir), name, size, false, 0600);
  }
  if (S_ISLNK(st.st_mode))
    throw Error(target +
                " is a symbolic link; restore never writes through one (name the file or device "
                "itself, or remove the link)");
  if (S_ISBLK(st.st_mode)) {
    if (!force) throw Error(target + " is a block device; restoring overwrites it: use --force");
    UniqueFd fd(::openat(dir.get(), name.c_str(), O_WRONLY | O_EXCL | O_NOFOLLOW | O_CLOEXEC));
    if (!fd && errno == EBUSY)
      throw Error("block device " + target +
                  " is in use (mounted, or claimed by another program): restore refuses it");
    if (!fd) throw sys_error("cannot open block device " + target);
    const uint64_t dev = file_or_device_size(fd.get(), target);
    if (dev < size)
      throw Error("block device " + target + " holds " + std::to_string(dev) +
                  " bytes, the revision " + std::to_string(size));
    return std::make_unique<FdTarget>(target, std::move(fd), true, false);
  }
  if (!S_ISREG(st.st_mode)) throw Error(target + " is neither a regular file nor a block device");
  if (!force) throw Error(target + " exists; use --force to overwrite it");
  // Replacing goes through rename, which needs only the directory's permission: ask for the
  // file's own write permission first, as overwriting it in place would.
  if (UniqueFd probe(::openat(dir.get(), name.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC)); !probe)
    throw sys_error("cannot overwrite " + target);
  return std::make_unique<NewFileTarget>(target, std::move(dir), name, size, true,
                                         st.st_mode & 0777);  // no set-id bits
}

}  // namespace backy

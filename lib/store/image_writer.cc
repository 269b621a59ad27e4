#include "store/image_writer.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "store/block_sums.h"
#include "util/error.h"
#include "util/file_io.h"

namespace backy {

void copy_sparse(FileSystem& fs, int from_fd, int to_fd, uint64_t size, const std::string& what) {
  off_t pos = 0;
  while (static_cast<uint64_t>(pos) < size) {
    off_t data = ::lseek(from_fd, pos, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole remains
      throw sys_error("seek data in " + what);
    }
    off_t hole = ::lseek(from_fd, data, SEEK_HOLE);
    if (hole < 0) throw sys_error("seek hole in " + what);
    loff_t in = data, out = data;
    while (in < hole) {
      ssize_t n = fs.copy_file_range(from_fd, &in, to_fd, &out, static_cast<size_t>(hole - in));
      if (n < 0) {
        if (errno == EINTR) continue;
        throw sys_error("copy " + what);
      }
      if (n == 0) break;
    }
    pos = hole;
  }
}

bool supports_reflink(const std::filesystem::path& dir) {
  std::filesystem::path a = dir / ".reflink-probe-a", b = dir / ".reflink-probe-b";
  std::error_code ec;
  std::filesystem::remove(a, ec);
  std::filesystem::remove(b, ec);
  bool ok = false;
  try {
    UniqueFd fa = open_file(a, O_RDWR | O_CREAT | O_EXCL, 0600);
    pwrite_full(fa.get(), std::span<const char>("probe", 5), 0, a.string());
    UniqueFd fb = open_file(b, O_RDWR | O_CREAT | O_EXCL, 0600);
    ok = ::ioctl(fb.get(), FICLONE, fa.get()) == 0;
  } catch (const Error&) {
    ok = false;
  }
  std::filesystem::remove(a, ec);
  std::filesystem::remove(b, ec);
  return ok;
}

namespace {

// XFS reserves copy-on-write space in chunks of the "CoW extent size hint" (32 blocks by default)
// around every write to a shared extent, and frees the unused rest only much later. For the
// scattered 4 KiB writes of an incremental that is 32 times the data. A hint of one block makes a
// write into a shared extent cost what it writes. Best effort: other filesystems ignore it.
void set_minimal_cow_extent(int fd) {
  fsxattr attr{};
  if (::ioctl(fd, FS_IOC_FSGETXATTR, &attr) != 0) return;
  attr.fsx_xflags |= FS_XFLAG_COWEXTSIZE;
  attr.fsx_cowextsize = static_cast<uint32_t>(kPageSize);
  ::ioctl(fd, FS_IOC_FSSETXATTR, &attr);
}

}  // namespace

ImageWriter ImageWriter::create(const Dir& dir, const std::string& name,
                                const std::optional<std::string>& parent,
                                std::optional<uint64_t> size, BlockBudget* budget) {
  FileSystem& fs = dir.fs();
  UniqueFd fd = dir.open_file(name, O_RDWR | O_CREAT | O_EXCL, 0640);
  bool reflinked = false;
  uint64_t parent_size = 0;
  if (parent) {
    UniqueFd pfd = dir.open_file(*parent, O_RDONLY);
    parent_size = file_or_device_size(pfd.get(), dir.where(*parent));
    if (fs.clone(fd.get(), pfd.get()) == 0) {
      reflinked = true;
      set_minimal_cow_extent(fd.get());
    } else if (errno == EOPNOTSUPP || errno == EXDEV || errno == EINVAL || errno == ENOTTY) {
      copy_sparse(fs, pfd.get(), fd.get(), parent_size, dir.where(*parent));
    } else {
      throw sys_error("reflink clone of " + dir.where(*parent));
    }
  }
  ImageWriter writer(dir, name, std::move(fd), parent_size, reflinked, budget);
  writer.resize(size.value_or(parent_size));
  return writer;
}

ImageWriter::ImageWriter(const Dir& dir, const std::string& name, UniqueFd fd, uint64_t size,
                         bool reflinked, BlockBudget* budget)
    : path_(dir.where(name)),
      fs_(&dir.fs()),
      fd_(std::move(fd)),
      size_(size),
      reflinked_(reflinked),
      scratch_(static_cast<char*>(std::aligned_alloc(kPageSize, kBlockSize))),
      budget_(budget) {
  if (!scratch_) throw Error("out of memory for a block buffer");
  // A second fd of the file for O_DIRECT reads and writes. The flag is set with fcntl rather
  // than at open: a filesystem that refuses O_DIRECT (EINVAL) says so there, and the writer goes
  // on buffered. The name was created a moment ago in the same directory, and is opened without
  // following links; that it is still the same file is checked all the same.
  UniqueFd second = dir.open_file(name, O_RDWR);
  struct stat ours {
  }, theirs{};
  if (::fstat(fd_.get(), &ours) != 0 || ::fstat(second.get(), &theirs) != 0 ||
      ours.st_dev != theirs.st_dev || ours.st_ino != theirs.st_ino)
    throw Error(path_ + " was replaced by another file while it was being created");
  const int flags = ::fcntl(second.get(), F_GETFL);
  if (flags >= 0 && ::fcntl(second.get(), F_SETFL, flags | O_DIRECT) == 0)
    direct_fd_ = std::move(second);
}

const char* ImageWriter::read_current(uint64_t offset, size_t len) {
  drain();
  char* buf = scratch_.get();
  size_t got = 0;
  if (direct_fd_ && direct_reads_) {
    // O_DIRECT wants whole pages; a short read at the end of the file is fine.
    const size_t aligned = round_up_to_page(len);
    ssize_t n = ::pread(direct_fd_.get(), buf, aligned, static_cast<off_t>(offset));
    if (n >= 0) {
      got = std::min(len, static_cast<size_t>(n));
      // Fewer bytes than asked before the end of the file: finish buffered.
      if (got < len && offset + got < size_)
        got += pread_full(fd_.get(), std::span<char>(buf + got, len - got), offset + got, path_);
    } else if (errno == EINVAL) {
      direct_reads_ = false;  // unaligned or unsupported after all: buffered from now on
      return read_current(offset, len);
    } else {
      throw sys_error("read " + path_ + " at offset " + std::to_string(offset));
    }
  } else {
    got = pread_full(fd_.get(), std::span<char>(buf, len), offset, path_);
  }
  std::memset(buf + got, 0, len - got);
  return buf;
}

void ImageWriter::write_run(uint64_t offset, std::span<const char> data, bool zero, bool over_hole,
                            uint64_t& written) {
  // From this length on a run goes to disk directly (the header says why). Below it, the page
  // cache's batching costs less than a device request for each run.
  constexpr size_t kDirectWriteMin = 256 << 10;
  if (data.empty()) return;
  if (zero) return punch(offset, data.size());
  size_t direct = 0;
  if (over_hole && direct_fd_ && data.size() >= kDirectWriteMin && offset % kPageSize == 0)
    direct = write_direct(offset, data);
  if (direct < data.size()) {
    pwrite_full(*fs_, fd_.get(), data.subspan(direct), offset + direct, path_);
    write_behind(data.size() - direct);
  }
  written += data.size();
}

size_t ImageWriter::write_direct(uint64_t offset, std::span<const char> data) {
  // Blocks in the queue at once: enough that a block's hashing and the next read's arrival
  // overlap the disk's write of the last; each costs a block of memory.
  constexpr size_t kQueuedBlocks = 4;
  // Writes at the device at once (store/direct_write_queue.h says why more than one).
  constexpr size_t kWriters = 2;
  if (!queue_)
    queue_ = std::make_unique<DirectWriteQueue>(*fs_, direct_fd_.get(), fd_.get(), path_,
                                                kQueuedBlocks, kBlockSize, kWriters, budget_);
  if (queue_->refused()) return 0;  // the writer went buffered: so does the rest
  const size_t whole = data.size() / kPageSize * kPageSize;  // a partial last page: buffered
  for (size_t done = 0; done < whole;) {
    const size_t len = std::min(whole - done, queue_->buffer_size());
    char* buf = queue_->buffer();
    std::memcpy(buf, data.data() + done, len);
    queue_->submit(buf, offset + done, len);
    done += len;
  }
  return whole;
}

void ImageWriter::drain() {
  if (queue_) queue_->drain();
}

void ImageWriter::write_behind(uint64_t bytes) {
  // Writeback starts every few MiB, overlapping the reads still to come, so the fdatasync in
  // finish() finds little left. Batched: an incremental's scattered 4 KiB pages must not each
  // cost a call. Best effort: it changes nothing but timing.
  constexpr uint64_t kWriteBehindBytes = 8ull << 20;
  unflushed_ += bytes;
  if (unflushed_ < kWriteBehindBytes) return;
  ::sync_file_range(fd_.get(), 0, 0, SYNC_FILE_RANGE_WRITE);
  unflushed_ = 0;
}

uint64_t ImageWriter::write(uint64_t offset, std::span<const char> data, bool file_has_data) {
  return write_over(offset, data, file_has_data ? read_current(offset, data.size()) : nullptr);
}

uint64_t ImageWriter::write_over(uint64_t offset, std::span<const char> data, const char* current) {
  uint64_t written = 0;
  // Coalesce neighbouring pages that need the same action (write / punch) into one call.
  size_t run_start = 0;
  enum class Action { keep, write, punch } run = Action::keep;
  const size_t pages = round_up_to_page(data.size()) / kPageSize;
  for (size_t i = 0; i <= pages; ++i) {
    const size_t pos = std::min<size_t>(i * kPageSize, data.size());
    Action a = Action::keep;
    if (i < pages) {
      size_t len = std::min<size_t>(kPageSize, data.size() - pos);
      std::span<const char> page = data.subspan(pos, len);
      bool same = current ? std::memcmp(page.data(), current + pos, len) == 0 : is_all_zero(page);
      if (!same) a = is_all_zero(page) ? Action::punch : Action::write;
    }
    if (a != run || i == pages) {
      if (run != Action::keep)
        write_run(offset + run_start, data.subspan(run_start, pos - run_start),
                  run == Action::punch, current == nullptr, written);
      run = a;
      run_start = pos;
    }
  }
  return written;
}

void ImageWriter::punch(uint64_t offset, uint64_t len) {
  drain();  // a queued write may overlap: it must not land after the hole
  punch_hole(*fs_, fd_.get(), offset, len, path_);
}

void ImageWriter::resize(uint64_t size) {
  drain();
  if (fs_->ftruncate(fd_.get(), static_cast<off_t>(size)) != 0)
    throw sys_error("set size of " + path_);
  size_ = size;
}

void ImageWriter::read(uint64_t offset, std::span<char> out) {
  if (offset % kPageSize == 0 && out.size() <= kBlockSize) {
    std::memcpy(out.data(), read_current(offset, out.size()), out.size());
    return;
  }
  drain();
  size_t got = pread_full(fd_.get(), out, offset, path_);
  std::memset(out.data() + got, 0, out.size() - got);
}

void ImageWriter::read_ranges(std::span<const Range> ranges) {
  if (!reads_tried_) {
    reads_tried_ = true;
    // Enough for a block's worth of scattered pages to be in flight together.
    if (direct_fd_)
      if (std::optional<DirectReads> r = DirectReads::open(64)) reads_.emplace(std::move(*r));
  }
  // In flight, each range lands in scratch_ at a page boundary (O_DIRECT), after the ones before.
  std::vector<DirectReads::Read> reads;
  if (reads_ && direct_reads_ && ranges.size() > 1) {
    drain();
    size_t at = 0;
    for (const Range& r : ranges) {
      const size_t len = round_up_to_page(r.into.size());
      reads.push_back({direct_fd_.get(), r.offset, scratch_.get() + at, len});
      at += len;
    }
    reads_->run(reads);
  }
  for (size_t i = 0; i < ranges.size(); ++i) {
    const Range& r = ranges[i];
    const size_t len = r.into.size();
    const ssize_t got = reads.empty() ? -1 : reads[i].result;
    // Complete, or short at the end of the file (the rest reads as zeros, as in read()).
    if (got >= 0 && (static_cast<size_t>(got) >= len || r.offset + got >= size_)) {
      const size_t n = std::min(len, static_cast<size_t>(got));
      std::memcpy(r.into.data(), reads[i].buf, n);
      std::memset(r.into.data() + n, 0, len - n);
    } else {
      // Not read in flight (one range, no AIO), or the read failed: the way read() goes, which
      // falls back to buffered reads where O_DIRECT is refused and names the file in an error.
      // It reads through scratch_'s first bytes, short of the later ranges' place there.
      read(r.offset, r.into);
    }
  }
}

void ImageWriter::finish() {
  drain();
  queue_.reset();  // nothing more is written: its buffers (and budget) serve other runs now
  fdatasync_or_throw(*fs_, fd_.get(), path_);
  // Backups must not push the VMs' working set out of the backup host's page cache.
  ::posix_fadvise(fd_.get(), 0, 0, POSIX_FADV_DONTNEED);
  if (fs_->fchmod(fd_.get(), 0440) != 0) throw sys_error("chmod " + path_);
}

}  // namespace backy

// ImageWriter: writes the raw image file of a new revision.
//
// A new revision starts as a reflink clone of its parent's image (FICLONE), so it shares every
// extent with the parent and costs nothing until a block is written. Writes then go page by page:
// only the 4 KiB pages whose content differs from what the file already holds are written, and
// all-zero pages become holes. Rewriting a whole 4 MiB block would un-share it from the parent
// and cost its full size in every revision.
//
// Long runs of data over a hole (a full backup, a block new since the parent) are written with
// O_DIRECT, like `dd oflag=direct`: the page cache would cost a copy of every byte, and its
// writeback of a whole image would be what finish()'s fdatasync waits for. A direct write returns
// when the device has the data, so it is done by a thread of its own (store/direct_write_queue.h)
// while the caller hashes the next block and the source's reads stay in flight; every read,
// punch and finish() waits for the queued writes first. The kernel keeps direct and buffered
// writes coherent (a direct write invalidates cached pages of its range); finish() still
// fdatasyncs, as direct writes allocate extents (metadata) and may sit in the device's cache. A
// filesystem that refuses O_DIRECT (EINVAL) gets every write buffered.
//
// Short and scattered writes (an incremental's changed pages) stay buffered, where they are
// cheaper, and are handed to writeback every 8 MiB (sync_file_range), so the disk writes while
// the source is still being read and finish()'s fdatasync finds little left.
//
// Where the filesystem cannot clone (ext4, tmpfs, across filesystems), create() falls back to a
// copy of the parent's data extents (copy_file_range, holes kept) and reflinked() is false.
//
// Reads of the file's current content (to compare pages, or to lay a source's changed extents
// over the parent's block) bypass the page cache with O_DIRECT where the filesystem allows: the
// parent's blocks are cold, buffered reads of them are several times slower here, and they would
// push the VMs' working set out of the backup host's cache for nothing.
//
// The file is created and opened inside a Dir (util/dir.h): by name, never through a link, and
// every write, hole, clone, sync and chmod goes through the Dir's FileSystem.
//
// Owns its fds; movable (not assignable); one thread at a time.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "store/direct_reads.h"
#include "store/direct_write_queue.h"
#include "util/dir.h"
#include "util/fd.h"

namespace backy {

class ImageWriter {
 public:
  // Creates `name` in `dir`, which must not exist, as a clone (or copy) of the image `parent`
  // in the same directory when given, else as an empty sparse file; then sets its size to `size`
  // (nullopt: the parent's image's own size, as its file has it).
  // The writer keeps its own fds (and dir's FileSystem, which must outlive it), not `dir`.
  // `budget`: where the direct writes' queue takes its buffers beyond the first (null: none, it
  // takes them all); must outlive the writer.
  static ImageWriter create(const Dir& dir, const std::string& name,
                            const std::optional<std::string>& parent, std::optional<uint64_t> size,
                            BlockBudget* budget = nullptr);

  ImageWriter(ImageWriter&&) = default;
  // Not assignable: the writer's queue (its thread) must end before the fds it writes close,
  // which a member-wise assignment would not ensure.
  ImageWriter& operator=(ImageWriter&&) = delete;

  bool reflinked() const { return reflinked_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Stores `data` at `offset` (page-aligned). When `file_has_data` is false the file is known to
  // hold zeros there (a hole), so only non-zero pages are written; otherwise the current content
  // is read and compared page by page. Returns the number of bytes actually written.
  uint64_t write(uint64_t offset, std::span<const char> data, bool file_has_data);
  // Like write(), with the file's present content of the range given as `current` (which the
  // caller has read already); nullptr means zeros.
  uint64_t write_over(uint64_t offset, std::span<const char> data, const char* current);
  // Makes [offset, offset+len) a hole.
  void punch(uint64_t offset, uint64_t len);
  // Sets the file's size to `size`, cutting it or growing it with a hole (create() sets the
  // first size this way; a run resizes a clone made before the source's size was known).
  void resize(uint64_t size);
  // Reads [offset, offset+out.size()); past the end of the file reads zeros. REQUIRES:
  // out.size() <= kBlockSize.
  void read(uint64_t offset, std::span<char> out);
  // A range of the file to read: into.size() bytes at `offset` (page-aligned), into `into`.
  struct Range {
    uint64_t offset;
    std::span<char> into;
  };
  // Reads every range, as read() would. With O_DIRECT they are all in flight at once
  // (store/direct_reads.h): an incremental's changed pages lie scattered over a cold clone.
  // REQUIRES: the ranges, each rounded up to a page, fit in a block together.
  void read_ranges(std::span<const Range> ranges);
  // Durable and read-only: fdatasync, drop written pages from the page cache, mode 0440. The
  // direct writes' buffers are freed (and their budget given back) first.
  void finish();

 private:
  struct FreeDeleter {
    void operator()(char* p) const { std::free(p); }
  };
  ImageWriter(const Dir& dir, const std::string& name, UniqueFd fd, uint64_t size, bool reflinked,
              BlockBudget* budget);
  // `over_hole`: the file holds zeros (no data) in the run's range.
  void write_run(uint64_t offset, std::span<const char> data, bool zero, bool over_hole,
                 uint64_t& written);
  // Queues the longest page-aligned head of `data` at `offset` for O_DIRECT writes; returns how
  // many bytes that is (0 where O_DIRECT was refused: the caller writes them buffered).
  size_t write_direct(uint64_t offset, std::span<const char> data);
  // Waits for the queued direct writes (a read must see them); throws if one failed.
  void drain();
  // Counts `bytes` just written buffered; starts writeback of the file's dirty pages every few
  // MiB.
  void write_behind(uint64_t bytes);
  // Reads the file's content at `offset` (page-aligned) into scratch_; returns scratch_'s data.
  const char* read_current(uint64_t offset, size_t len);

  std::string path_;  // for messages
  FileSystem* fs_;
  UniqueFd fd_;
  uint64_t size_ = 0;
  bool reflinked_ = false;
  uint64_t unflushed_ = 0;    // bytes written buffered since writeback was last started
  UniqueFd direct_fd_;        // the same file, read-write with O_DIRECT; empty where unsupported
  bool direct_reads_ = true;  // false once a direct read was refused
  std::unique_ptr<char, FreeDeleter> scratch_;  // one block, page-aligned for O_DIRECT, reused
  // read_ranges()' reads in flight, made with its first call; nullopt where the kernel has no
  // AIO to offer (the ranges are read one at a time). After scratch_: destroyed first, it
  // waits for any read still writing into it.
  std::optional<DirectReads> reads_;
  bool reads_tried_ = false;
  BlockBudget* budget_;  // for queue_'s buffers; may be null
  // After the fds: its thread ends before they close. Made with the first direct write.
  std::unique_ptr<DirectWriteQueue> queue_;
};

// Copies the data extents of `from` into the empty file `to_fd` (holes stay holes).
void copy_sparse(FileSystem& fs, int from_fd, int to_fd, uint64_t size, const std::string& what);
// Whether `dir` supports reflink clones (tries FICLONE on two scratch files).
bool supports_reflink(const std::filesystem::path& dir);

}  // namespace backy

#include "ceph/snapshot.h"

#include <rados/librados.h>

#include <algorithm>
#include <cstring>

#include "ceph/aio_window.h"
#include "source/changed_extents.h"
#include "store/block_sums.h"
#include "util/error.h"

namespace backy {

// Opens the image's head read-write (snapshot create/remove need it) or read-only.
void open_rbd_head(RbdImageRef& ref, librbd::Image& image, bool writable) {
  librbd::RBD rbd;
  int r = writable ? rbd.open(ref.io, image, ref.name.c_str())
                   : rbd.open_read_only(ref.io, image, ref.name.c_str(), nullptr);
  if (r == -ENOENT) throw Error("RBD image " + ref.spec + " does not exist");
  if (r < 0) throw rbd_error("cannot open RBD image " + ref.spec, r);
}

namespace {

// A block's bytes as one span: librbd usually returns a 4 MiB read as one buffer; if not, the
// pieces are copied into `scratch` (allocated once per snapshot).
std::span<const char> contiguous(const ceph::bufferlist& bl, uint64_t length,
                                 std::vector<char>& scratch) {
  if (bl.get_num_buffers() == 1 && bl.length() == length)
    return {bl.front().c_str(), static_cast<size_t>(length)};
  scratch.resize(kBlockSize);
  auto it = bl.begin();
  it.copy(static_cast<unsigned>(length), scratch.data());
  return {scratch.data(), static_cast<size_t>(length)};
}

// diff_iterate2's callback: appends one extent to the std::vector<Extent> at `arg`.
int collect_extent(uint64_t offset, size_t length, int exists, void* arg) {
  static_cast<std::vector<Extent>*>(arg)->push_back({offset, length, exists != 0});
  return 0;
}

class RbdSnapshot : public SourceSnapshot {
 public:
  RbdSnapshot(RbdImageRef ref, std::string snap, std::optional<std::string> from_snap,
              int reads_in_flight)
      : ref_(std::move(ref)),
        snap_(std::move(snap)),
        from_snap_(std::move(from_snap)),
        window_(static_cast<size_t>(std::max(1, reads_in_flight))) {
    librbd::RBD rbd;
    int r = rbd.open_read_only(ref_.io, image_, ref_.name.c_str(), snap_.c_str());
    if (r < 0) throw rbd_error("cannot open snapshot " + where(), r);
    if ((r = image_.size(&size_)) < 0) throw rbd_error("cannot get the size of " + where(), r);
  }

  ~RbdSnapshot() override {
    window_.drain();
    image_.close();
  }

  uint64_t size() const override { return size_; }

  std::vector<BlockChange> changed_blocks() override {
    std::vector<Extent> extents;
    int r = image_.diff_iterate2(from_snap_ ? from_snap_->c_str() : nullptr, 0, size_,
                                 /*include_parent=*/true, /*whole_object=*/true, collect_extent,
                                 &extents);
    if (r == -ENOENT && from_snap_)
      throw Error("snapshot " + *from_snap_ + " of " + ref_.spec +
                  " disappeared during the run; the next run makes a full backup");
    if (r < 0) throw rbd_error("cannot list the changes of " + where(), r);
    return blocks_from_extents(std::move(extents), size_);
  }

  void read_blocks(std::span<const uint64_t> blocks, const BlockSink& sink,
                   std::stop_token stop) override {
    size_t next = 0;
    try {
      while (next < blocks.size() || window_.in_flight() > 0) {
        // Throttled, a read that has arrived is handed over before waiting to issue the next,
        // so the sink keeps pace with the limit instead of lagging a window behind.
        while (next < blocks.size() && !window_.full() &&
               !(throttled() && window_.finished() > 0)) {
          if (stop.stop_requested()) throw Cancelled();
          const uint64_t block = blocks[next++];
          const uint64_t offset = block * kBlockSize;
          if (offset >= size_)
            throw Error("block " + std::to_string(block) + " is beyond the end of " + where());
          throttle(std::min(kBlockSize, size_ - offset), stop);
          RbdAioWindow::Slot& slot = window_.free_slot();
          slot.tag = block;
          slot.offset = offset;
          slot.length = std::min(kBlockSize, size_ - slot.offset);
          slot.bl.clear();
          int r = window_.start(slot, [&](librbd::RBD::AioCompletion* c) {
            return image_.aio_read2(
                slot.offset, slot.length, slot.bl, c,
                LIBRADOS_OP_FLAG_FADVISE_SEQUENTIAL | LIBRADOS_OP_FLAG_FADVISE_NOCACHE);
          });
          if (r < 0) throw rbd_error("cannot start a read of " + where(), r);
        }
        RbdAioWindow::Slot& slot = wait_read();
        sink(slot.tag, contiguous(slot.bl, slot.length, scratch_));
        slot.bl.clear();
      }
    } catch (...) {
      // Reads still in flight write into our slots: wait for them before unwinding.
      window_.drain();
      throw;
    }
    if (!blocks.empty()) check_snapshot_exists();
  }

  // Incremental: ask librbd for the exact extents written since the parent's snapshot (a
  // diff_iterate2 without whole_object, one list-snaps per dirty object, only over the dirty
  // blocks), widen each to whole pages, read just those with aio and hand them over per block.
  // Discarded extents are read too: the snapshot returns their zeros, and a partly discarded
  // page keeps its other bytes.
  bool read_changed_pages(std::span<const uint64_t> blocks, const PageRunSink& sink,
                          std::stop_token stop) override {
    if (!from_snap_) return false;
    const std::vector<Extent> pieces = precise_pieces(blocks);
    // One assembly buffer per block being put together; at most one more than reads in flight.
    if (assemblies_.size() < window_.depth() + 1) assemblies_.resize(window_.depth() + 1);
    std::vector<size_t> free_assemblies;
    for (size_t i = 0; i < assemblies_.size(); ++i) free_assemblies.push_back(i);

    std::vector<PageRun> delivered;
    auto deliver = [&](size_t a) {
      Assembly& as = assemblies_[a];
      delivered.clear();
      for (const auto& [off, len] : as.runs)
        delivered.push_back({off, std::span<const char>(as.buf.data() + off, len)});
      sink(as.block, delivered);
      free_assemblies.push_back(a);
    };
    auto complete_one = [&] {
      RbdAioWindow::Slot& slot = wait_read();
      Assembly& as = assemblies_[slot.tag];
      auto it = slot.bl.cbegin();
      it.copy(static_cast<unsigned>(slot.length),
              as.buf.data() + (slot.offset - as.block * kBlockSize));
      slot.bl.clear();
      if (--as.pending == 0) deliver(slot.tag);
    };

    try {
      size_t p = 0;
      for (uint64_t block : blocks) {
        if (stop.stop_requested()) throw Cancelled();
        while (free_assemblies.empty()) complete_one();
        const size_t a = free_assemblies.back();
        free_assemblies.pop_back();
        Assembly& as = assemblies_[a];
        as.block = block;
        as.buf.resize(kBlockSize);
        as.runs.clear();
        as.pending = 1;  // held until every read of this block is issued
        const uint64_t base = block * kBlockSize;
        for (; p < pieces.size() && pieces[p].offset / kBlockSize < block; ++p) {
        }
        const size_t first = p;
        while (p < pieces.size() && pieces[p].offset / kBlockSize == block) ++p;
        for (const PageSpan& s :
             page_spans(std::span(pieces).subspan(first, p - first), block, size_))
          as.runs.push_back({s.offset, s.length});
        for (const auto& [off, len] : as.runs) {
          while (window_.full() || (throttled() && window_.finished() > 0)) complete_one();
          throttle(len, stop);
          RbdAioWindow::Slot& slot = window_.free_slot();
          slot.tag = a;
          slot.offset = base + off;
          slot.length = len;
          slot.bl.clear();
          ++as.pending;
          int r = window_.start(slot, [&](librbd::RBD::AioCompletion* c) {
            return image_.aio_read2(
                slot.offset, slot.length, slot.bl, c,
                LIBRADOS_OP_FLAG_FADVISE_SEQUENTIAL | LIBRADOS_OP_FLAG_FADVISE_NOCACHE);
          });
          if (r < 0) throw rbd_error("cannot start a read of " + where(), r);
        }
        if (--as.pending == 0) deliver(a);
      }
      while (window_.in_flight() > 0) complete_one();
    } catch (...) {
      window_.drain();
      throw;
    }
    if (!blocks.empty()) check_snapshot_exists();
    return true;
  }

  bool stable() const override { return true; }
  uint64_t bytes_read() const override { return bytes_read_; }

 private:
  std::string where() const { return ref_.spec + "@" + snap_; }

  // Waits for one read to complete, checks that it read all it asked for, and counts it.
  RbdAioWindow::Slot& wait_read() {
    RbdAioWindow::Slot& slot = window_.wait_one();
    if (slot.result < 0)
      throw rbd_error(
          "read of " + where() + " at offset " + std::to_string(slot.offset) + " failed",
          static_cast<int>(slot.result));
    if (static_cast<uint64_t>(slot.result) != slot.length || slot.bl.length() != slot.length)
      throw Error("short read of " + where() + " at offset " + std::to_string(slot.offset));
    bytes_read_ += slot.length;
    return slot;
  }

  struct Assembly {
    uint64_t block = 0;
    size_t pending = 0;
    std::vector<char> buf;                            // kBlockSize once, reused
    std::vector<std::pair<uint64_t, uint64_t>> runs;  // (offset in block, length), page-aligned
  };

  // The exact changes since from_snap_ within `blocks` (sorted), split at block boundaries,
  // sorted by offset. Contiguous blocks are asked for in one call: librbd then runs its
  // list-snaps for the objects of the range concurrently.
  std::vector<Extent> precise_pieces(std::span<const uint64_t> blocks) {
    std::vector<Extent> raw;
    for (size_t i = 0; i < blocks.size();) {
      size_t j = i + 1;
      while (j < blocks.size() && blocks[j] == blocks[j - 1] + 1) ++j;
      const uint64_t start = blocks[i] * kBlockSize;
      const uint64_t end = std::min(size_, (blocks[j - 1] + 1) * kBlockSize);
      int r = image_.diff_iterate2(from_snap_->c_str(), start, end - start,
                                   /*include_parent=*/true, /*whole_object=*/false, collect_extent,
                                   &raw);
      if (r == -ENOENT)
        throw Error("snapshot " + *from_snap_ + " of " + ref_.spec +
                    " disappeared during the run; the next run makes a full backup");
      if (r < 0) throw rbd_error("cannot list the changed extents of " + where(), r);
      i = j;
    }
    return split_at_blocks(std::move(raw), size_);
  }

  // A snapshot removed by someone else while we read it reads as zeros once the OSDs have
  // trimmed it, silently. If it still exists after our reads completed, they saw its data.
  void check_snapshot_exists() {
    librbd::Image head;
    open_rbd_head(ref_, head, false);
    bool exists = false;
    if (int r = head.snap_exists2(snap_.c_str(), &exists); r < 0)
      throw rbd_error("cannot list the snapshots of " + ref_.spec, r);
    if (!exists)
      throw Error("snapshot " + snap_ + " of " + ref_.spec +
                  " was removed by someone else during the run; what was read cannot be trusted");
  }

  RbdImageRef ref_;
  std::string snap_;
  std::optional<std::string> from_snap_;
  librbd::Image image_;
  uint64_t size_ = 0;
  RbdAioWindow window_;
  std::vector<char> scratch_;
  std::vector<Assembly> assemblies_;
  uint64_t bytes_read_ = 0;
};

}  // namespace

std::unique_ptr<SourceSnapshot> open_rbd_snapshot(RbdImageRef ref, std::string snap,
                                                  std::optional<std::string> from_snap,
                                                  int reads_in_flight) {
  return std::make_unique<RbdSnapshot>(std::move(ref), std::move(snap), std::move(from_snap),
                                       reads_in_flight);
}

}  // namespace backy

#include "source/rbd_snapshot.h"

#include <rados/librados.h>

#include <algorithm>
#include <cstring>

#include "source/rbd_aio.h"
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
    struct Extent {
      uint64_t offset, length;
      bool exists;
    };
    std::vector<Extent> extents;
    auto collect = [](uint64_t off, size_t len, int exists, void* arg) -> int {
      static_cast<std::vector<Extent>*>(arg)->push_back({off, len, exists != 0});
      return 0;
    };
    int r = image_.diff_iterate2(from_snap_ ? from_snap_->c_str() : nullptr, 0, size_,
                                 /*include_parent=*/true, /*whole_object=*/true, collect, &extents);
    if (r == -ENOENT && from_snap_)
      throw Error("snapshot " + *from_snap_ + " of " + ref_.spec +
                  " disappeared during the run; the next run makes a full backup");
    if (r < 0) throw rbd_error("cannot list the changes of " + where(), r);
    std::sort(extents.begin(), extents.end(),
              [](const Extent& a, const Extent& b) { return a.offset < b.offset; });

    // Objects map onto blocks one to one with the default 4 MiB objects; for other object sizes
    // a block is zero only if extents known to be zero cover all of it.
    const uint64_t blocks = blocks_for(size_);
    std::vector<BlockChange> out;
    std::vector<uint64_t> zero_bytes;
    for (const Extent& e : extents) {
      const uint64_t end = std::min(e.offset + e.length, size_);
      for (uint64_t b = e.offset / kBlockSize; b < blocks && b * kBlockSize < end; ++b) {
        if (out.empty() || out.back().block != b) {
          out.push_back({b, false});
          zero_bytes.push_back(0);
        }
        if (e.exists)
          out.back().data = true;
        else
          zero_bytes.back() +=
              std::min(end, (b + 1) * kBlockSize) - std::max(e.offset, b * kBlockSize);
      }
    }
    for (size_t i = 0; i < out.size(); ++i) {
      const uint64_t length = std::min(kBlockSize, size_ - out[i].block * kBlockSize);
      if (zero_bytes[i] < length) out[i].data = true;
    }
    return out;
  }

  void read_blocks(std::span<const uint64_t> blocks, const BlockSink& sink,
                   std::stop_token stop) override {
    size_t next = 0;
    try {
      while (next < blocks.size() || window_.in_flight() > 0) {
        while (next < blocks.size() && !window_.full()) {
          if (stop.stop_requested()) throw Cancelled();
          RbdAioWindow::Slot& slot = window_.free_slot();
          slot.tag = blocks[next++];
          slot.offset = slot.tag * kBlockSize;
          if (slot.offset >= size_)
            throw Error("block " + std::to_string(slot.tag) + " is beyond the end of " + where());
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
    const std::vector<Piece> pieces = precise_pieces(blocks);
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
        // The pieces' page hulls, merged where they touch.
        for (; p < pieces.size() && pieces[p].offset / kBlockSize == block; ++p) {
          const uint64_t from = (pieces[p].offset - base) / kPageSize * kPageSize;
          const uint64_t to =
              std::min(size_ - base, (pieces[p].offset - base + pieces[p].length + kPageSize - 1) /
                                         kPageSize * kPageSize);
          if (!as.runs.empty() && from <= as.runs.back().first + as.runs.back().second)
            as.runs.back().second = std::max(as.runs.back().second, to - as.runs.back().first);
          else
            as.runs.push_back({from, to - from});
        }
        for (const auto& [off, len] : as.runs) {
          while (window_.full()) complete_one();
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

  // A changed range inside one block: data to read (exists), or known zero.
  struct Piece {
    uint64_t offset, length;
    bool exists;
  };
  struct Assembly {
    uint64_t block = 0;
    size_t pending = 0;
    std::vector<char> buf;                            // kBlockSize once, reused
    std::vector<std::pair<uint64_t, uint64_t>> runs;  // (offset in block, length), page-aligned
  };

  // The exact changes since from_snap_ within `blocks` (sorted), split at block boundaries,
  // sorted by offset. Contiguous blocks are asked for in one call: librbd then runs its
  // list-snaps for the objects of the range concurrently.
  std::vector<Piece> precise_pieces(std::span<const uint64_t> blocks) {
    std::vector<Piece> raw;
    auto collect = [](uint64_t off, size_t len, int exists, void* arg) -> int {
      static_cast<std::vector<Piece>*>(arg)->push_back({off, len, exists != 0});
      return 0;
    };
    for (size_t i = 0; i < blocks.size();) {
      size_t j = i + 1;
      while (j < blocks.size() && blocks[j] == blocks[j - 1] + 1) ++j;
      const uint64_t start = blocks[i] * kBlockSize;
      const uint64_t end = std::min(size_, (blocks[j - 1] + 1) * kBlockSize);
      int r = image_.diff_iterate2(from_snap_->c_str(), start, end - start,
                                   /*include_parent=*/true, /*whole_object=*/false, collect, &raw);
      if (r == -ENOENT)
        throw Error("snapshot " + *from_snap_ + " of " + ref_.spec +
                    " disappeared during the run; the next run makes a full backup");
      if (r < 0) throw rbd_error("cannot list the changed extents of " + where(), r);
      i = j;
    }
    std::sort(raw.begin(), raw.end(),
              [](const Piece& a, const Piece& b) { return a.offset < b.offset; });
    std::vector<Piece> out;
    for (const Piece& e : raw) {
      for (uint64_t off = e.offset, end = std::min(e.offset + e.length, size_); off < end;) {
        const uint64_t stop = std::min(end, (off / kBlockSize + 1) * kBlockSize);
        out.push_back({off, stop - off, e.exists});
        off = stop;
      }
    }
    return out;
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

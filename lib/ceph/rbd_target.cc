#include "ceph/rbd_target.h"

#include <rados/librados.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "ceph/aio_window.h"
#include "ceph/ceph_api.h"
#include "util/error.h"
#include "util/thread_annotations.h"

namespace backy {

namespace {

// Chunk memory librbd can send as it is: a page-aligned ceph buffer the revision is read into
// (restore.h's chunk_allocator), which a write passes to librbd by reference.
struct CephChunk : ChunkMemory {
  ceph::bufferptr buffer{ceph::buffer::create_page_aligned(ChunkMemory::kSize)};
  char* data() override { return buffer.c_str(); }
};

// The target's chunk memory, reused: a chunk is taken again only when neither restore (the
// shared_ptr) nor librbd (the buffer's references: librados may hold a buffer after it acked the
// write) holds it. Up to `keep` chunks are kept for reuse; past that (librbd slow to let go) a
// chunk is made for one use. Shared with the reader's thread, which allocates.
class CephChunkPool {
 public:
  explicit CephChunkPool(size_t keep) : keep_(keep) {}

  std::shared_ptr<ChunkMemory> take() {
    MutexLock lock(mu_);
    for (const auto& c : chunks_) {
      if (c.use_count() == 1 && c->buffer.raw_nref() == 1) {
        // Pairs with the release of the last holder: its reads of the old bytes come first.
        std::atomic_thread_fence(std::memory_order_acquire);
        // The buffer caches the crc of what it held when last sent; new bytes need a new one
        // (a stale crc makes the OSD drop the connection, again and again).
        ceph::bufferlist bl;
        bl.push_back(c->buffer);
        bl.invalidate_crc();
        return c;
      }
    }
    auto c = std::make_shared<CephChunk>();
    if (chunks_.size() < keep_) chunks_.push_back(c);
    return c;
  }

 private:
  const size_t keep_;
  Mutex mu_;
  std::vector<std::shared_ptr<CephChunk>> chunks_ GUARDED_BY(mu_);
};

class RbdTarget : public RestoreTarget {
 public:
  RbdTarget(std::shared_ptr<RbdCluster> cluster, librados::IoCtx io, std::string name,
            std::string spec, int writes_in_flight)
      : cluster_(std::move(cluster)),
        io_(std::move(io)),
        name_(std::move(name)),
        spec_(std::move(spec)),
        window_(static_cast<size_t>(std::max(1, writes_in_flight))),
        chunks_(std::make_shared<CephChunkPool>(window_.depth() + kRestoreReadAhead + 2)) {
    librbd::RBD rbd;
    if (int r = rbd.open(io_, image_, name_.c_str()); r < 0) {
      rbd.remove(io_, name_.c_str());
      throw rbd_error("cannot open the new RBD image " + spec_, r);
    }
  }

  ~RbdTarget() override {
    window_.drain();
    image_.close();
    if (!finished_) {
      librbd::RBD rbd;
      rbd.remove(io_, name_.c_str());  // best effort: a partial restore must not look complete
    }
  }

  bool zero_filled() const override { return true; }

  ChunkAllocator chunk_allocator() override {
    return [chunks = chunks_] { return chunks->take(); };
  }

  void write_chunk(uint64_t offset, std::span<const char> data,
                   const std::shared_ptr<ChunkMemory>& memory) override {
    auto* chunk = dynamic_cast<CephChunk*>(memory.get());
    if (!chunk) return write(offset, data);
    while (window_.full()) reap();
    RbdAioWindow::Slot& slot = window_.free_slot();
    slot.bl.clear();
    // No copy: librbd takes a reference to the chunk's buffer (the pool reuses it only after
    // every reference is gone).
    const auto at = static_cast<unsigned>(data.data() - chunk->buffer.c_str());
    slot.bl.push_back(ceph::bufferptr(chunk->buffer, at, static_cast<unsigned>(data.size())));
    start(slot, offset, data.size());
  }

  void write(uint64_t offset, std::span<const char> data) override {
    while (window_.full()) reap();
    RbdAioWindow::Slot& slot = window_.free_slot();
    slot.bl.clear();
    // Reuse the slot's buffer unless librbd still holds a reference to it.
    if (slot.own.length() < data.size() || slot.own.raw_nref() > 1)
      slot.own = ceph::bufferptr(static_cast<unsigned>(std::max<size_t>(data.size(), 4 << 20)));
    // copy_in, not memcpy: it also drops the buffer's cached crc, which the messenger would
    // otherwise send with the new bytes (the OSD then drops the connection, again and again).
    slot.own.copy_in(0, static_cast<unsigned>(data.size()), data.data());
    slot.bl.append(slot.own, 0, static_cast<unsigned>(data.size()));
    start(slot, offset, data.size());
  }

  void finish() override {
    if (finished_) return;  // the image is closed: a second flush would touch freed state
    while (window_.in_flight() > 0) reap();
    if (int r = image_.flush(); r < 0) throw rbd_error("cannot flush " + spec_, r);
    if (int r = image_.close(); r < 0) throw rbd_error("cannot close " + spec_, r);
    finished_ = true;
  }

 private:
  // Sends slot.bl to [offset, offset + length).
  void start(RbdAioWindow::Slot& slot, uint64_t offset, uint64_t length) {
    slot.offset = offset;
    slot.length = length;
    int r = window_.start(slot, [&](librbd::RBD::AioCompletion* c) {
      return image_.aio_write2(slot.offset, slot.length, slot.bl, c,
                               LIBRADOS_OP_FLAG_FADVISE_SEQUENTIAL);
    });
    if (r < 0) throw rbd_error("cannot start a write to " + spec_, r);
  }

  void reap() {
    RbdAioWindow::Slot& slot = window_.wait_one();
    slot.bl.clear();
    if (slot.result < 0)
      throw rbd_error("write to " + spec_ + " at offset " + std::to_string(slot.offset) + " failed",
                      static_cast<int>(slot.result));
  }

  std::shared_ptr<RbdCluster> cluster_;
  librados::IoCtx io_;
  std::string name_, spec_;
  librbd::Image image_;
  RbdAioWindow window_;
  std::shared_ptr<CephChunkPool> chunks_;  // shared with the reader thread's allocator
  bool finished_ = false;
};

}  // namespace

std::unique_ptr<RestoreTarget> open_rbd_target(std::shared_ptr<RbdCluster> cluster,
                                               const RbdImageName& name, uint64_t size,
                                               int writes_in_flight) {
  librados::IoCtx io = cluster->io_ctx(name.pool, name.rbd_namespace);
  const std::string spec = rbd_image_spec(name.pool, name.rbd_namespace, name.image);
  librbd::RBD rbd;
  librbd::ImageOptions options;  // the cluster's defaults: features, 4 MiB objects
  int r = rbd.create4(io, name.image.c_str(), size, options);
  if (r == -EEXIST)
    throw Error("RBD image " + spec +
                " exists; restore never overwrites an image (remove it "
                "first or restore under another name)");
  if (r < 0) throw rbd_error("cannot create RBD image " + spec, r);
  return std::make_unique<RbdTarget>(std::move(cluster), std::move(io), name.image, spec,
                                     writes_in_flight);
}

}  // namespace backy

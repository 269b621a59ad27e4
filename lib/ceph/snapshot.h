// RbdSnapshot: the SourceSnapshot of an RBD run, reading image `name` at snapshot backy-<uuid>.
//
// changed_blocks(): diff_iterate2(from = the parent's snapshot or none, whole_object = true),
// mapped onto 4 MiB blocks; with object-map/fast-diff this is two bitmaps compared in memory, so
// a 1 TiB image with nothing changed costs milliseconds. Objects that no longer exist are zero.
// read_blocks(): whole blocks, librbd aio with `reads_in_flight` reads in flight (aio_window.h).
// read_changed_pages() (incremental): the exact extents written since the parent's snapshot
// (diff_iterate2 without whole_object, over the dirty blocks only), widened to whole pages and
// read with aio, so the cluster sends what changed, not whole objects, and the backup need not
// read the rest of the parent's block (block_sums.h: the checksum is additive over pages).
// After every batch of reads the snapshot is checked to still exist: one removed (with its
// image) by someone else mid-read reads as zeros once trimmed, which must fail the run.
//
// Holds the image open read-only; one thread at a time; sinks run on the caller's thread.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "ceph/ceph_api.h"
#include "ceph/cluster.h"
#include "source/source.h"

namespace backy {

// Where an RBD image lives, and what keeps that alive.
struct RbdImageRef {
  std::shared_ptr<RbdCluster> cluster;  // outlives every IoCtx and image made from it
  librados::IoCtx io;
  std::string name;  // image name in the pool/namespace
  std::string spec;  // pool/[namespace/]image, for messages
};

// Opens the image's head read-write (snapshot create/remove need it) or read-only. Throws
// backy::Error ("RBD image pool/x does not exist", or the librbd error).
void open_rbd_head(RbdImageRef& ref, librbd::Image& image, bool writable);

// Opens `snap` of the image; `from_snap` set makes it an incremental from that snapshot.
// Throws backy::Error when the snapshot cannot be opened.
std::unique_ptr<SourceSnapshot> open_rbd_snapshot(RbdImageRef ref, std::string snap,
                                                  std::optional<std::string> from_snap,
                                                  int reads_in_flight);

}  // namespace backy

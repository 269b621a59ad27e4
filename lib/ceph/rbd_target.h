// RbdTarget: restore into a new RBD image ("rbd:POOL/IMAGE" or "rbd:POOL/NAMESPACE/IMAGE").
//
// The image is created with the revision's size and the cluster's default features (object
// size 4 MiB), so it starts zero-filled: restore_image() skips the revision's holes and zero
// pages, and only data is sent. Writes are librbd aio, up to `writes_in_flight` at a time. The
// revision is read straight into ceph buffers of the target's (chunk_allocator()), which
// write_chunk() hands to librbd by reference, without a copy; a chunk's buffer is read into again
// only once librbd has let go of it. A plain write() (data valid only during the call) copies
// into a buffer owned by its slot.
//
// Never overwrites: an existing image is refused, with or without --force (remove it first).
// A restore that fails or is abandoned before finish() removes the image it created, so no
// half-restored image is left that looks like a good one.
//
// One thread; write() errors of earlier aio surface on a later write() or in finish().
#pragma once

#include <memory>
#include <string>

#include "ceph/cluster.h"
#include "restore/restore.h"
#include "restore/target_name.h"

namespace backy {

// Creates the image (throws backy::Error if it exists, or the pool is missing) and returns a
// target writing into it.
std::unique_ptr<RestoreTarget> open_rbd_target(std::shared_ptr<RbdCluster> cluster,
                                               const RbdImageName& name, uint64_t size,
                                               int writes_in_flight = 16);

}  // namespace backy

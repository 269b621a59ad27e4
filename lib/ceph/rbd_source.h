// RbdSource: a Ceph RBD image, backed up through librbd snapshots (`type: ceph-rbd`).
//
// A run of revision U creates snapshot `backy-U` on the image and reads only from it, so the VM
// may keep writing; an incremental diffs it against the parent's snapshot `backy-<parent>`.
// How changes are found and read (fast-diff, exact extents, aio reads in flight): snapshot.h.
//
// snapshot(U) creates backy-U ahead of open(U) (a run starts it first, on a thread of its own);
// open(U) creates it itself when snapshot(U) did not.
//
// Snapshot hygiene: committed(U, owned) removes backy-<u> for every u of the job's own (its
// revisions and its earlier runs, as the job directory records them) except U; abandon(U)
// removes backy-U. Other `backy-*` snapshots (another job's, another backup host's) and
// snapshots with other names are never touched. If open() fails after creating its snapshot,
// it removes it itself.
//
// Errors are backy::Error naming the image ("pool/[namespace/]image"): image or pool missing,
// parent snapshot gone mid-run, read failures (ETIMEDOUT once the cluster is gone for
// ceph.timeout). The source keeps its cluster connection alive while it or a snapshot of it
// exists. One thread at a time.
#pragma once

#include <memory>
#include <string>

#include "ceph/cluster.h"
#include "config/config.h"
#include "source/source.h"

namespace backy {

// The name of revision `uuid`'s snapshot: "backy-<uuid>".
std::string rbd_snapshot_name(const std::string& uuid);

// REQUIRES: config.type == ceph_rbd. Throws backy::Error when the pool does not exist (the image
// is looked up by each run, so a job whose image is missing fails its runs with a clear error).
std::unique_ptr<Source> make_rbd_source(std::shared_ptr<RbdCluster> cluster,
                                        const SourceConfig& config);

}  // namespace backy

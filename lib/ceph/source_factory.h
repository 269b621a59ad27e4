// The daemon's SourceFactory: every source type, and restores into new RBD images, through one
// cluster connection shared by every RBD job and restore.
//
// The connection is made lazily, on the first RBD job or restore, with `ceph`'s settings: a host
// with only file jobs (or a Ceph outage at start-up) does not fail, a failed connect is tried
// again by the next RBD job, and a failure fails only the job that needed it, after at most
// ceph.timeout. Any thread may use the factory (the daemon's workers share it).
#pragma once

#include <memory>

#include "config/config.h"
#include "source/source_factory.h"

namespace backy {

std::unique_ptr<SourceFactory> make_source_factory(const CephConfig& ceph);

}  // namespace backy

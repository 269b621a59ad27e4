// RbdCluster: the daemon's one connection to a Ceph cluster, shared by every RBD job.
//
// Connecting costs a monitor handshake and an OSD map, so the daemon connects once (lazily, on
// the first RBD job; see source_factory.h) and every job opens its pool through the same
// librados::Rados. librados is thread-safe: jobs on different workers may call io_ctx() and use
// their IoCtx concurrently.
//
// Bounded failure: `ceph.timeout` becomes client_mount_timeout, rados_mon_op_timeout and
// rados_osd_op_timeout, so connecting to a dead cluster, or any read or write after the cluster
// died, fails with ETIMEDOUT after that long instead of hanging the job. The rbd cache is off:
// backups stream each block once, and restore writes must not linger in client memory.
//
// Owns the librados handle (shut down on destruction, after every IoCtx and image made from it
// is gone: holders keep the cluster alive through shared_ptr). Not copyable.
#pragma once

#include <memory>
#include <string>

#include "config/config.h"
#include "ceph/ceph_api.h"
#include "util/error.h"

namespace backy {

class RbdCluster {
 public:
  // Reads `ceph.conf`, authenticates as client.`ceph.client` (keyring if given) and connects.
  // Throws backy::Error naming the conf file and the cause (unreachable: after ceph.timeout).
  static std::shared_ptr<RbdCluster> connect(const CephConfig& ceph);

  ~RbdCluster();
  RbdCluster(const RbdCluster&) = delete;
  RbdCluster& operator=(const RbdCluster&) = delete;

  // An IoCtx on `pool`, in `rbd_namespace` when not empty. Throws backy::Error when the pool does
  // not exist ("pool 'x' does not exist in cluster <conf>").
  librados::IoCtx io_ctx(const std::string& pool, const std::string& rbd_namespace);

  const std::string& conf() const { return conf_; }

 private:
  RbdCluster() = default;

  librados::Rados rados_;
  std::string conf_;
  bool connected_ = false;
};

// "pool/image" or "pool/namespace/image", for messages.
std::string rbd_image_spec(const std::string& pool, const std::string& rbd_namespace,
                           const std::string& image);

// An Error "<what>: <strerror(-r)>" for a negative librbd/librados return value.
Error rbd_error(const std::string& what, int r);

}  // namespace backy

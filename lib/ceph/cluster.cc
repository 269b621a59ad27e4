#include "ceph/cluster.h"

#include <cstring>

#include "util/error.h"

namespace backy {

std::string rbd_image_spec(const std::string& pool, const std::string& rbd_namespace,
                           const std::string& image) {
  return rbd_namespace.empty() ? pool + "/" + image : pool + "/" + rbd_namespace + "/" + image;
}

Error rbd_error(const std::string& what, int r) {
  return sys_error(what, r < 0 ? -r : r);
}

std::shared_ptr<RbdCluster> RbdCluster::connect(const CephConfig& ceph) {
  std::shared_ptr<RbdCluster> c(new RbdCluster());
  c->conf_ = ceph.conf;
  const std::string where = "Ceph cluster of " + ceph.conf;
  const std::string name =
      ceph.client.rfind("client.", 0) == 0 ? ceph.client : "client." + ceph.client;
  if (int r = c->rados_.init2(name.c_str(), "ceph", 0); r < 0)
    throw rbd_error("cannot initialise librados as " + name, r);
  if (int r = c->rados_.conf_read_file(ceph.conf.c_str()); r < 0)
    throw rbd_error("cannot read " + ceph.conf, r);
  const std::string timeout = std::to_string(ceph.timeout.count());
  // Set after the file: the job's bound wins over whatever ceph.conf says.
  for (const char* option :
       {"client_mount_timeout", "rados_mon_op_timeout", "rados_osd_op_timeout"})
    if (int r = c->rados_.conf_set(option, timeout.c_str()); r < 0)
      throw rbd_error(std::string("cannot set ") + option, r);
  if (int r = c->rados_.conf_set("rbd_cache", "false"); r < 0)
    throw rbd_error("cannot disable the rbd cache", r);
  if (!ceph.keyring.empty())
    if (int r = c->rados_.conf_set("keyring", ceph.keyring.c_str()); r < 0)
      throw rbd_error("cannot use keyring " + ceph.keyring, r);
  if (int r = c->rados_.connect(); r < 0)
    throw rbd_error(
        "cannot connect to the " + where + " as " + name + " (timeout " + timeout + " s)", r);
  c->connected_ = true;
  return c;
}

RbdCluster::~RbdCluster() {
  // librados::Rados' destructor shuts down too; this only makes the order explicit.
  if (connected_) rados_.shutdown();
}

librados::IoCtx RbdCluster::io_ctx(const std::string& pool, const std::string& rbd_namespace) {
  librados::IoCtx io;
  int r = rados_.ioctx_create(pool.c_str(), io);
  if (r == -ENOENT) throw Error("pool '" + pool + "' does not exist in the cluster of " + conf_);
  if (r < 0) throw rbd_error("cannot open pool '" + pool + "'", r);
  if (!rbd_namespace.empty()) io.set_namespace(rbd_namespace);
  return io;
}

}  // namespace backy

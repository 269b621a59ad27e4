#include "ceph/image_check.h"

#include <memory>

#include "ceph/ceph_api.h"
#include "ceph/cluster.h"

namespace backy {

ImageCheck make_rbd_image_check(const CephConfig& ceph) {
  auto cluster = std::make_shared<std::shared_ptr<RbdCluster>>();
  return [ceph, cluster](const SourceConfig& source) -> std::optional<std::string> {
    if (!*cluster) *cluster = RbdCluster::connect(ceph);
    const std::string spec = rbd_image_spec(source.pool, source.rbd_namespace, source.image);
    librados::IoCtx io;
    try {
      io = (*cluster)->io_ctx(source.pool, source.rbd_namespace);
    } catch (const Error& e) {
      return std::string("image ") + spec + ": " + e.what();
    }
    librbd::RBD rbd;
    librbd::Image image;
    const int r = rbd.open_read_only(io, image, source.image.c_str(), nullptr);
    if (r < 0) return "image " + spec + ": " + rbd_error("open", r).what();
    image.close();
    return std::nullopt;
  };
}

}  // namespace backy

// The online half of the preflight (`backyd --check-config --online`): an ImageCheck that opens
// each RBD image read-only through one cluster connection, made on the first call.
//
// The returned function throws backy::Error when the cluster cannot be reached (after
// ceph.timeout); it returns "image pool/[ns/]image: <cause>" when the pool or image cannot be
// opened. One thread at a time.
#pragma once

#include "config/preflight.h"

namespace backy {

ImageCheck make_rbd_image_check(const CephConfig& ceph);

}  // namespace backy

// What a restore target string names: "rbd:POOL/IMAGE" or "rbd:POOL/NAMESPACE/IMAGE" (a new RBD
// image, written by the daemon), anything else a path or "-" (written by the client).
//
// Pure; any thread. (Here rather than in lib/ceph/rbd_target.h so that code without librbd can
// tell the two apart.)
#pragma once

#include <optional>
#include <string>

namespace backy {

struct RbdImageName {
  std::string pool;
  std::string rbd_namespace;  // empty: the pool's default namespace
  std::string image;
};

// nullopt when `target` does not start with "rbd:"; throws backy::Error when it does but is not
// "rbd:POOL/IMAGE" or "rbd:POOL/NAMESPACE/IMAGE".
std::optional<RbdImageName> parse_rbd_target(const std::string& target);

}  // namespace backy

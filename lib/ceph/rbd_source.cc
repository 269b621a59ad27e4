#include "ceph/rbd_source.h"

#include <cstring>
#include <optional>

#include "ceph/ceph_api.h"
#include "ceph/snapshot.h"
#include "util/error.h"

namespace backy {

namespace {

constexpr const char* kSnapPrefix = "backy-";

class RbdSource : public Source {
 public:
  RbdSource(RbdImageRef ref, const SourceConfig& config)
      : ref_(std::move(ref)),
        pool_(config.pool),
        namespace_(config.rbd_namespace),
        reads_in_flight_(config.reads_in_flight) {}

  std::map<std::string, std::string> describe(const std::string& uuid) const override {
    std::map<std::string, std::string> d{{"type", "ceph-rbd"},
                                         {"pool", pool_},
                                         {"image", ref_.name},
                                         {"snapshot", rbd_snapshot_name(uuid)}};
    if (!namespace_.empty()) d["namespace"] = namespace_;
    return d;
  }

  bool can_diff_from(const std::string& parent_uuid) override {
    librbd::Image image;
    open_rbd_head(ref_, image, false);
    bool exists = false;
    if (int r = image.snap_exists2(rbd_snapshot_name(parent_uuid).c_str(), &exists); r < 0)
      throw rbd_error("cannot list the snapshots of " + ref_.spec, r);
    return exists;
  }

  void snapshot(const std::string& uuid) override {
    const std::string snap = rbd_snapshot_name(uuid);
    librbd::Image image;
    open_rbd_head(ref_, image, true);
    if (int r = image.snap_create(snap.c_str()); r < 0)
      throw rbd_error("cannot create snapshot " + snap + " of " + ref_.spec, r);
    created_ = uuid;
  }

  std::unique_ptr<SourceSnapshot> open(const std::string& uuid,
                                       const std::optional<std::string>& parent_uuid) override {
    const std::string snap = rbd_snapshot_name(uuid);
    if (created_ != uuid) snapshot(uuid);
    try {
      return open_rbd_snapshot(
          ref_, snap, parent_uuid ? std::optional(rbd_snapshot_name(*parent_uuid)) : std::nullopt,
          reads_in_flight_);
    } catch (...) {
      abandon(uuid);
      throw;
    }
  }

  std::set<std::string> committed(const std::string& uuid,
                                  const std::set<std::string>& owned) override {
    const std::string keep = rbd_snapshot_name(uuid);
    librbd::Image image;
    open_rbd_head(ref_, image, true);
    std::vector<librbd::snap_info_t> snaps;
    if (int r = image.snap_list(snaps); r < 0)
      throw rbd_error("cannot list the snapshots of " + ref_.spec, r);
    std::set<std::string> gone = owned;
    gone.erase(uuid);
    for (const auto& s : snaps) {
      // Only this job's own snapshots: a backy-* of another job or host is not ours to drop.
      if (s.name.rfind(kSnapPrefix, 0) != 0 || s.name == keep) continue;
      const std::string of = s.name.substr(std::strlen(kSnapPrefix));
      if (!owned.contains(of)) continue;
      if (int r = image.snap_remove(s.name.c_str()); r < 0 && r != -ENOENT) gone.erase(of);
    }
    return gone;
  }

  bool abandon(const std::string& uuid) noexcept override {
    try {
      librbd::RBD rbd;
      librbd::Image image;
      int r = rbd.open(ref_.io, image, ref_.name.c_str());
      if (r == -ENOENT) return true;  // the image is gone, and its snapshots with it
      if (r < 0) return false;
      r = image.snap_remove(rbd_snapshot_name(uuid).c_str());
      return r == 0 || r == -ENOENT;
    } catch (...) {
      // The cluster may be gone: the job's source record keeps the snapshot known, and the next
      // successful run's committed() removes it.
      return false;
    }
  }

 private:
  RbdImageRef ref_;
  std::string pool_, namespace_;
  int reads_in_flight_;
  std::string created_;  // the uuid whose snapshot snapshot() created
};

}  // namespace

std::string rbd_snapshot_name(const std::string& uuid) {
  return kSnapPrefix + uuid;
}

std::unique_ptr<Source> make_rbd_source(std::shared_ptr<RbdCluster> cluster,
                                        const SourceConfig& config) {
  if (config.type != SourceConfig::Type::ceph_rbd)
    throw Error("make_rbd_source: source type " + to_string(config.type) + " is not ceph-rbd");
  RbdImageRef ref;
  ref.io = cluster->io_ctx(config.pool, config.rbd_namespace);
  ref.cluster = std::move(cluster);
  ref.name = config.image;
  ref.spec = rbd_image_spec(config.pool, config.rbd_namespace, config.image);
  return std::make_unique<RbdSource>(std::move(ref), config);
}

}  // namespace backy

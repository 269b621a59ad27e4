// make_source_factory(). Worker threads call make() concurrently; the mutex serialises only the
// connect.
#include "ceph/source_factory.h"

#include "ceph/cluster.h"
#include "ceph/rbd_source.h"
#include "ceph/rbd_target.h"
#include "util/error.h"
#include "util/thread_annotations.h"

namespace backy {

namespace {

class AnySourceFactory : public SourceFactory {
 public:
  explicit AnySourceFactory(CephConfig ceph) : ceph_(std::move(ceph)) {}

  std::unique_ptr<Source> make(const SourceConfig& config) override {
    if (config.type == SourceConfig::Type::ceph_rbd) return make_rbd_source(cluster(), config);
    return files_.make(config);
  }

  std::unique_ptr<RestoreTarget> open_restore_target(const RbdImageName& name,
                                                     uint64_t size) override {
    return open_rbd_target(cluster(), name, size);
  }

 private:
  std::shared_ptr<RbdCluster> cluster() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (!cluster_) cluster_ = RbdCluster::connect(ceph_);
    return cluster_;
  }

  const CephConfig ceph_;
  FileSourceFactory files_;
  Mutex mu_;
  std::shared_ptr<RbdCluster> cluster_ GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<SourceFactory> make_source_factory(const CephConfig& ceph) {
  return std::make_unique<AnySourceFactory>(ceph);
}

}  // namespace backy

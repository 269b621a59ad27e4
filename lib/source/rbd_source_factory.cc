// The daemon's SourceFactory: file sources, and ceph-rbd sources through one shared cluster
// connection made on first use.
//
// Connecting lazily keeps a host with only file jobs (or a Ceph outage at start-up) from
// failing: the connection is tried again by the next RBD job after a failure, and a failure
// fails only the job that needed it, after at most ceph.timeout. Worker threads call make()
// concurrently; the mutex serialises only the connect.
#include "restore/rbd_target.h"
#include "source/rbd_cluster.h"
#include "source/rbd_source.h"
#include "source/source_factory.h"
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

  std::unique_ptr<RestoreTarget> open_restore_target(const std::string& target, uint64_t size,
                                                     bool force) override {
    if (auto name = parse_rbd_target(target)) return open_rbd_target(cluster(), *name, size);
    return files_.open_restore_target(target, size, force);
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

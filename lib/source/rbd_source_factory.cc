#include "source/source_factory.h"
#include "util/error.h"

namespace backy {

namespace {

// Placeholder until the RBD source lands: handles files, refuses ceph-rbd with a clear error.
class AnySourceFactory : public SourceFactory {
 public:
  explicit AnySourceFactory(CephConfig ceph) : ceph_(std::move(ceph)) {}
  std::unique_ptr<Source> make(const SourceConfig& config) override {
    return files_.make(config);
  }

 private:
  CephConfig ceph_;
  FileSourceFactory files_;
};

}  // namespace

std::unique_ptr<SourceFactory> make_source_factory(const CephConfig& ceph) {
  return std::make_unique<AnySourceFactory>(ceph);
}

}  // namespace backy

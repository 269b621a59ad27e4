// SourceFactory: turns a job's `source:` configuration into a Source.
//
// The daemon owns one factory for its lifetime, so that all RBD jobs share one cluster
// connection. make_source_factory() (lib/ceph/source_factory.h, in backy_ceph, since it knows
// Ceph) builds the factory that handles every source type; tests of the core library use
// FileSourceFactory.
#pragma once

#include <memory>

#include "config/config.h"
#include "restore/restore.h"
#include "restore/target_name.h"
#include "source/source.h"

namespace backy {

class SourceFactory {
 public:
  virtual ~SourceFactory() = default;
  // Throws backy::Error when the source cannot be reached (cluster down, pool missing).
  virtual std::unique_ptr<Source> make(const SourceConfig& config) = 0;
  // The daemon's restore target: a new RBD image `name` of `size` bytes, made through the shared
  // cluster connection (never overwritten: an existing image is an error). The daemon writes
  // nothing else; backyctl writes files, devices and stdout itself (open_file_target()).
  // This default has no cluster and refuses with a clear error naming the target.
  virtual std::unique_ptr<RestoreTarget> open_restore_target(const RbdImageName& name,
                                                             uint64_t size);
};

// Only `type: file`; any other type is an error naming it.
class FileSourceFactory : public SourceFactory {
 public:
  std::unique_ptr<Source> make(const SourceConfig& config) override;
};

}  // namespace backy

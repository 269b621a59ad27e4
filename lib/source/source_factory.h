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
#include "source/source.h"

namespace backy {

class SourceFactory {
 public:
  virtual ~SourceFactory() = default;
  // Throws backy::Error when the source cannot be reached (cluster down, pool missing).
  virtual std::unique_ptr<Source> make(const SourceConfig& config) = 0;
  // The target of a restore: "rbd:POOL/IMAGE" or "rbd:POOL/NAMESPACE/IMAGE" is a new RBD image
  // (through the shared cluster; never overwritten), anything else is open_file_target().
  // This default handles file targets only and refuses "rbd:" with a clear error.
  virtual std::unique_ptr<RestoreTarget> open_restore_target(const std::string& target,
                                                             uint64_t size, bool force);
};

// Only `type: file`; any other type is an error naming it.
class FileSourceFactory : public SourceFactory {
 public:
  std::unique_ptr<Source> make(const SourceConfig& config) override;
};

}  // namespace backy

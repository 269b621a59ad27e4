#include "source/source_factory.h"

#include "source/file_source.h"
#include "util/error.h"

namespace backy {

std::unique_ptr<Source> FileSourceFactory::make(const SourceConfig& config) {
  if (config.type != SourceConfig::Type::file)
    throw Error("source type " + to_string(config.type) + " is not available here");
  return std::make_unique<FileSource>(config.filename);
}

std::unique_ptr<RestoreTarget> SourceFactory::open_restore_target(const std::string& target,
                                                                  uint64_t size, bool force) {
  if (target.rfind("rbd:", 0) == 0)
    throw Error("restore target " + target + ": RBD targets are not available here");
  return open_file_target(target, size, force);
}

}  // namespace backy

#include "source/source_factory.h"

#include "source/file_source.h"
#include "util/error.h"

namespace backy {

std::unique_ptr<Source> FileSourceFactory::make(const SourceConfig& config) {
  if (config.type != SourceConfig::Type::file)
    throw Error("source type " + to_string(config.type) + " is not available here");
  return std::make_unique<FileSource>(config.filename);
}

std::unique_ptr<RestoreTarget> SourceFactory::open_restore_target(const RbdImageName& name,
                                                                  uint64_t /*size*/) {
  const std::string ns = name.rbd_namespace.empty() ? "" : name.rbd_namespace + "/";
  throw Error("restore target rbd:" + name.pool + "/" + ns + name.image +
              ": RBD targets are not available here");
}

}  // namespace backy

#include "source/source_factory.h"

#include "source/file_source.h"
#include "util/error.h"

namespace backy {

std::unique_ptr<Source> FileSourceFactory::make(const SourceConfig& config) {
  if (config.type != SourceConfig::Type::file)
    throw Error("source type " + to_string(config.type) + " is not available here");
  return std::make_unique<FileSource>(config.filename);
}

}  // namespace backy

// FileSource: an image file or a block device, read whole on every run.
//
// There is no snapshot to diff against, so changed_blocks() offers every block that may hold
// data (a regular file's holes are found with SEEK_DATA and reported as zero without reading);
// the backup run skips blocks whose checksum matches the parent's. The file is read in place:
// it should not be written while it is backed up, and stable() is false, so the verification
// after a run checks the written image against the checksums instead of rereading the source.
#pragma once

#include <string>

#include "source/source.h"

namespace backy {

class FileSource : public Source {
 public:
  explicit FileSource(std::string filename) : filename_(std::move(filename)) {}

  std::map<std::string, std::string> describe(const std::string& uuid) const override;
  bool can_diff_from(const std::string&) override { return true; }
  std::unique_ptr<SourceSnapshot> open(const std::string& uuid,
                                       const std::optional<std::string>& parent_uuid) override;
  // A file leaves nothing behind.
  std::set<std::string> committed(const std::string&, const std::set<std::string>& owned) override {
    return owned;
  }
  bool abandon(const std::string&) noexcept override { return true; }

 private:
  std::string filename_;
};

}  // namespace backy

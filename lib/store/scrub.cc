#include "store/scrub.h"

#include <fcntl.h>

#include "util/error.h"
#include "util/fd.h"
#include "util/file_io.h"

namespace backy {

std::vector<BadBlock> scrub_image(const std::filesystem::path& image, const BlockSums& sums,
                                  std::stop_token stop) {
  UniqueFd fd = open_file(image, O_RDONLY);
  return scrub_image(fd.get(), image.string(), sums, stop);
}

std::vector<BadBlock> scrub_image(int fd, const std::string& what, const BlockSums& sums,
                                  std::stop_token stop) {
  auto check_size = [&](uint64_t size) {
    if (size != sums.image_size())
      throw Error(what + " has " + std::to_string(size) + " bytes, its checksums say " +
                  std::to_string(sums.image_size()));
  };
  check_size(file_or_device_size(fd, what));  // before a long read that could only fail
  // The image read once, block by block, as adoption reads it; then compared.
  const BlockSums actual = sums_of_image(fd, what, stop);
  check_size(actual.image_size());  // it may have changed meanwhile
  std::vector<BadBlock> bad;
  for (uint64_t b = 0; b < sums.block_count(); ++b)
    if (actual.at(b) != sums.at(b)) bad.push_back({b, sums.at(b), actual.at(b)});
  return bad;
}

BlockSums sums_of_image(int fd, const std::string& what, std::stop_token stop) {
  BlockSums sums(file_or_device_size(fd, what));
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  std::vector<char> buf(kBlockSize);
  for (uint64_t b = 0; b < sums.block_count(); ++b) {
    if (stop.stop_requested()) throw Cancelled();
    const size_t len = static_cast<size_t>(sums.block_length(b));
    pread_full(fd, std::span<char>(buf.data(), len), b * kBlockSize, what);
    std::span<const char> data(buf.data(), len);
    sums.set(b, is_all_zero(data) ? kHole : checksum(data));
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  return sums;
}

}  // namespace backy

#include "store/block_sums.h"

#include <xxhash.h>

#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include "util/error.h"
#include "util/file_io.h"

namespace backy {

namespace {
constexpr size_t kRecord = 17;

void put64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
uint64_t get64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
}  // namespace

BlockSum page_sum(uint64_t page_index, std::span<const char> page) {
  if (is_all_zero(page)) return kHole;
  XXH128_hash_t h = XXH3_128bits_withSeed(page.data(), page.size(), page_index);
  return BlockSum{true, h.low64, h.high64};
}

BlockSum add_page_sum(const BlockSum& sum, const BlockSum& page, int sign) {
  BlockSum out;
  if (sign > 0) {
    out.low = sum.low + page.low;
    out.high = sum.high + page.high + (out.low < sum.low ? 1 : 0);
  } else {
    out.low = sum.low - page.low;
    out.high = sum.high - page.high - (sum.low < page.low ? 1 : 0);
  }
  out.data = out.low != 0 || out.high != 0;
  return out;
}

BlockSum checksum(std::span<const char> block, uint64_t first_page) {
  BlockSum sum = kHole;
  for (size_t pos = 0; pos < block.size(); pos += kPageSize) {
    const size_t len = std::min<size_t>(kPageSize, block.size() - pos);
    sum = add_page_sum(sum, page_sum(first_page + pos / kPageSize, block.subspan(pos, len)), +1);
  }
  return sum;
}

BlockSum replace_pages(BlockSum sum, uint64_t first_page, std::span<const char> old,
                       std::span<const char> now) {
  for (size_t pos = 0; pos < now.size(); pos += kPageSize) {
    const size_t len = std::min<size_t>(kPageSize, now.size() - pos);
    if (std::memcmp(old.data() + pos, now.data() + pos, len) == 0) continue;
    const uint64_t page = first_page + pos / kPageSize;
    sum = add_page_sum(sum, page_sum(page, old.subspan(pos, len)), -1);
    sum = add_page_sum(sum, page_sum(page, now.subspan(pos, len)), +1);
  }
  return sum;
}

BlockSums::BlockSums(uint64_t image_size)
    : image_size_(image_size), sums_(blocks_for(image_size)) {}

void BlockSums::resize(uint64_t image_size) {
  if (image_size == image_size_) return;
  uint64_t old_size = std::exchange(image_size_, image_size);
  sums_.resize(blocks_for(image_size));
  // A block that was, or becomes, a partial last block changes length: its sum no longer
  // describes it. Mark it stale (data with a zero hash, which no real block matches).
  for (uint64_t size : {old_size, image_size}) {
    uint64_t block = size / kBlockSize;
    if (size % kBlockSize != 0 && block < sums_.size()) sums_[block] = kStale;
  }
}

uint64_t BlockSums::block_length(uint64_t block) const {
  uint64_t start = block * kBlockSize;
  return std::min(kBlockSize, image_size_ - start);
}

BlockSums BlockSums::parse(std::string_view raw, const std::string& where) {
  auto bad = [&](const std::string& why) {
    return Error("malformed checksum file " + where + ": " + why);
  };
  // A header is about 70 bytes; what is much longer is no header (and no error message).
  const size_t nl = raw.substr(0, 128).find('\n');
  if (nl == std::string_view::npos) throw bad("no header line");
  const std::string line(raw.substr(0, nl));
  unsigned long long block_size = 0, size = 0;
  // sscanf's %llu also takes signs, spaces and trailing text: only the exact form save() writes
  // is a header.
  if (std::sscanf(line.c_str(), "backy-sums 2 xxh3-128-pagesum block-size=%llu size=%llu",
                  &block_size, &size) != 2 ||
      line != "backy-sums 2 xxh3-128-pagesum block-size=" + std::to_string(block_size) +
                  " size=" + std::to_string(size))
    throw bad("unknown header '" + line + "'");
  if (block_size != kBlockSize) throw bad("block size " + std::to_string(block_size));
  if (size > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    throw bad("image size " + std::to_string(size) + " is out of range");
  // Check the length before allocating: the header alone must not make us allocate.
  const uint64_t records = blocks_for(size);
  if (raw.size() - nl - 1 != records * kRecord)
    throw bad("expected " + std::to_string(records) + " records of " + std::to_string(kRecord) +
              " bytes after the header, found " + std::to_string(raw.size() - nl - 1) + " bytes");
  BlockSums sums(size);
  const char* p = raw.data() + nl + 1;
  for (auto& s : sums.sums_) {
    if (p[0] != 0 && p[0] != 1) throw bad("bad record kind");
    s.data = p[0] == 1;
    s.low = get64(p + 1);
    s.high = get64(p + 9);
    if (!s.data && (s.low != 0 || s.high != 0)) throw bad("a hole record with a checksum");
    p += kRecord;
  }
  return sums;
}

BlockSums BlockSums::load(const std::filesystem::path& path) {
  return parse(read_file(path), path.string());
}

std::string BlockSums::serialize() const {
  std::string out = "backy-sums 2 xxh3-128-pagesum block-size=" + std::to_string(kBlockSize) +
                    " size=" + std::to_string(image_size_) + "\n";
  size_t header = out.size();
  out.resize(header + sums_.size() * kRecord);
  char* p = out.data() + header;
  for (const auto& s : sums_) {
    p[0] = s.data ? 1 : 0;
    put64(p + 1, s.low);
    put64(p + 9, s.high);
    p += kRecord;
  }
  return out;
}

}  // namespace backy

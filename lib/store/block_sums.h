// BlockSums: the checksum of every 4 MiB block of one revision image (the <uuid>.sums file).
//
// A block is either a hole (all zero; never hashed, never stored on disk) or data with its
// checksum. The backup compares a freshly read block with the parent's checksum to decide
// whether to write it, without reading the parent back; scrub recomputes them.
//
// The checksum of a block is the sum (mod 2^128) of the XXH3-128 hashes of its non-zero 4 KiB
// pages, each hashed with its page index as seed (so moved pages do not cancel out). Zero pages
// contribute nothing, so an all-zero block sums to zero and is never hashed. Because the sum is
// additive, a block whose source reports exactly which pages changed (RBD's diff) gets its new
// checksum from those pages alone: subtract the old pages' hashes, add the new ones. Reading the
// whole parent block back to re-hash it would cost an incremental the full size of every block
// a single 4 KiB write touched.
//
// File format (all integers little-endian):
//   line 1, text: "backy-sums 2 xxh3-128-pagesum block-size=<bytes> size=<image bytes>\n"
//   then one 17-byte record per block: kind (0 = hole, 1 = data), then 16 bytes of hash
//   (low 64 bits first; zero for holes).
//
// Plain value; not thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace backy {

inline constexpr uint64_t kBlockSize = 4 * 1024 * 1024;  // the unit of sums, diffs and verify
inline constexpr uint64_t kPageSize = 4096;              // the unit of writes and holes

// `n` rounded up to whole pages (what an O_DIRECT read of n bytes asks for).
inline constexpr uint64_t round_up_to_page(uint64_t n) {
  return (n + kPageSize - 1) / kPageSize * kPageSize;
}

struct BlockSum {
  bool data = false;  // false: hole, all zero
  uint64_t low = 0;
  uint64_t high = 0;
  bool operator==(const BlockSum&) const = default;
};

// Checksum of a block's bytes (or of any page-aligned part of one, at page index `first_page`
// within its block); kHole for all zeros.
BlockSum checksum(std::span<const char> block, uint64_t first_page = 0);
// The contribution of one page (index within its block) to its block's checksum; zero for a
// zero page. Add or subtract it with add_page_sum.
BlockSum page_sum(uint64_t page_index, std::span<const char> page);
// `sum` with `page` added (sign > 0) or removed (sign < 0); data is false exactly when the
// result is zero.
BlockSum add_page_sum(const BlockSum& sum, const BlockSum& page, int sign);
// `sum` of a block in which the pages starting at page index `first_page` changed from `old`
// to `now` (equal lengths; whole pages, the image's last may be short): the old pages'
// contributions subtracted, the new ones added. Pages whose bytes are equal are skipped. This
// is how an incremental that knows the changed pages updates a block's checksum without
// reading the rest of the block.
BlockSum replace_pages(BlockSum sum, uint64_t first_page, std::span<const char> old,
                       std::span<const char> now);
inline constexpr BlockSum kHole{};
inline constexpr BlockSum kStale{true, 0, 0};

class BlockSums {
 public:
  BlockSums() = default;
  // All holes.
  explicit BlockSums(uint64_t image_size);

  uint64_t image_size() const { return image_size_; }
  uint64_t block_count() const { return sums_.size(); }
  const BlockSum& at(uint64_t block) const { return sums_.at(block); }
  void set(uint64_t block, const BlockSum& s) { sums_.at(block) = s; }
  // Follows a change of image size: new blocks are holes; a block whose length changes (the old
  // or new partial last block) gets kStale, which matches no checksum, so the caller rereads it.
  void resize(uint64_t image_size);
  // Length of `block` in bytes: kBlockSize, or less for the last block.
  uint64_t block_length(uint64_t block) const;

  // The file format above. parse() throws backy::Error naming `where` when `raw` is malformed;
  // it allocates only after checking that `raw` holds every record its header announces.
  static BlockSums parse(std::string_view raw, const std::string& where);
  std::string serialize() const;
  // parse() of the file at `path` (throws backy::Error naming it when unreadable).
  static BlockSums load(const std::filesystem::path& path);

 private:
  uint64_t image_size_ = 0;
  std::vector<BlockSum> sums_;
};

inline uint64_t blocks_for(uint64_t image_size) {
  return (image_size + kBlockSize - 1) / kBlockSize;
}

}  // namespace backy

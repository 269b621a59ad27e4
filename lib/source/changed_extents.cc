#include "source/changed_extents.h"

#include <algorithm>

#include "store/block_sums.h"

namespace backy {

namespace {

void sort_by_offset(std::vector<Extent>& extents) {
  std::sort(extents.begin(), extents.end(),
            [](const Extent& a, const Extent& b) { return a.offset < b.offset; });
}

}  // namespace

std::vector<BlockChange> blocks_from_extents(std::vector<Extent> extents, uint64_t image_size) {
  sort_by_offset(extents);
  // Objects map onto blocks one to one with the default 4 MiB objects; for other object sizes
  // a block is zero only if extents known to be zero cover all of it.
  const uint64_t blocks = blocks_for(image_size);
  std::vector<BlockChange> out;
  std::vector<uint64_t> zero_bytes;
  for (const Extent& e : extents) {
    const uint64_t end = std::min(e.offset + e.length, image_size);
    for (uint64_t b = e.offset / kBlockSize; b < blocks && b * kBlockSize < end; ++b) {
      if (out.empty() || out.back().block != b) {
        out.push_back({b, false});
        zero_bytes.push_back(0);
      }
      if (e.exists)
        out.back().data = true;
      else
        zero_bytes.back() +=
            std::min(end, (b + 1) * kBlockSize) - std::max(e.offset, b * kBlockSize);
    }
  }
  for (size_t i = 0; i < out.size(); ++i) {
    const uint64_t length = std::min(kBlockSize, image_size - out[i].block * kBlockSize);
    if (zero_bytes[i] < length) out[i].data = true;
  }
  return out;
}

std::vector<Extent> split_at_blocks(std::vector<Extent> extents, uint64_t image_size) {
  sort_by_offset(extents);
  std::vector<Extent> out;
  for (const Extent& e : extents) {
    for (uint64_t off = e.offset, end = std::min(e.offset + e.length, image_size); off < end;) {
      const uint64_t stop = std::min(end, (off / kBlockSize + 1) * kBlockSize);
      out.push_back({off, stop - off, e.exists});
      off = stop;
    }
  }
  return out;
}

std::vector<PageSpan> page_spans(std::span<const Extent> pieces, uint64_t block,
                                 uint64_t image_size) {
  const uint64_t base = block * kBlockSize;
  std::vector<PageSpan> out;
  for (const Extent& p : pieces) {
    const uint64_t from = (p.offset - base) / kPageSize * kPageSize;
    const uint64_t to = std::min(image_size - base, round_up_to_page(p.offset - base + p.length));
    if (!out.empty() && from <= out.back().offset + out.back().length)
      out.back().length = std::max(out.back().length, to - out.back().offset);
    else
      out.push_back({from, to - from});
  }
  return out;
}

}  // namespace backy

// Changed extents: the pure arithmetic between what a source reports as changed (byte extents,
// as librbd's diff_iterate2 gives them) and what a backup run reads (4 MiB blocks, and runs of
// whole 4 KiB pages within a block). No I/O, no librbd: lib/ceph/snapshot.cc feeds it and issues
// the reads; tests/unit/changed_extents_test.cc holds the tables.
//
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "source/source.h"

namespace backy {

// A byte range the source reports: data to read (exists), or known to read as zeros.
struct Extent {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool exists = true;
  bool operator==(const Extent&) const = default;
};

// Whole-object extents (any order) as the changed blocks of an image of `image_size` bytes,
// sorted: a block is listed when any extent touches it, and is data unless zero extents cover
// all of it. Extents past the end of the image are clipped.
std::vector<BlockChange> blocks_from_extents(std::vector<Extent> extents, uint64_t image_size);

// Exact extents (any order), clipped to `image_size`, split where they cross a block boundary,
// sorted by offset: each piece lies within one block.
std::vector<Extent> split_at_blocks(std::vector<Extent> extents, uint64_t image_size);

// A run of whole pages within one block: byte offset in the block (a multiple of kPageSize) and
// length (whole pages, except that the image's last page may be short).
struct PageSpan {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool operator==(const PageSpan&) const = default;
};

// The pieces of `block` (from split_at_blocks, sorted) widened to whole pages, clipped to the
// image's end, and merged where they touch or overlap: what to read so that every changed byte
// is read within whole pages.
std::vector<PageSpan> page_spans(std::span<const Extent> pieces, uint64_t block,
                                 uint64_t image_size);

}  // namespace backy

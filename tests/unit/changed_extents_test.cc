// The arithmetic between changed byte extents and what a backup reads (source/changed_extents.h),
// as tables: what the RBD source used to compute inline, next to the aio window.
#include <catch2/catch.hpp>

#include "source/changed_extents.h"
#include "store/block_sums.h"

using namespace backy;

namespace {
constexpr uint64_t B = kBlockSize, P = kPageSize;
}

TEST_CASE("whole-object extents become the changed blocks", "[extents]") {
  struct Row {
    const char* what;
    uint64_t size;
    std::vector<Extent> extents;
    std::vector<BlockChange> blocks;
  };
  const std::vector<Row> rows{
      {"nothing changed", 4 * B, {}, {}},
      {"one object written", 4 * B, {{B, B, true}}, {{1, true}}},
      {"one object discarded: a zero block", 4 * B, {{2 * B, B, false}}, {{2, false}}},
      {"unsorted extents come out sorted",
       4 * B,
       {{3 * B, B, true}, {0, B, true}},
       {{0, true}, {3, true}}},
      {"half a block zero is still data", 4 * B, {{0, B / 2, false}}, {{0, true}}},
      {"two zero halves make a zero block",
       4 * B,
       {{0, B / 2, false}, {B / 2, B / 2, false}},
       {{0, false}}},
      {"zero and data in one block: data",
       4 * B,
       {{0, B / 2, false}, {B / 2, B / 2, true}},
       {{0, true}}},
      {"an extent across two blocks", 4 * B, {{B - P, 2 * P, true}}, {{0, true}, {1, true}}},
      {"a short last block all zero", B + 100, {{B, B, false}}, {{1, false}}},
      {"past the end is clipped", 2 * B, {{B, 4 * B, true}}, {{1, true}}},
  };
  for (const Row& r : rows) {
    INFO(r.what);
    const auto got = blocks_from_extents(r.extents, r.size);
    REQUIRE(got.size() == r.blocks.size());
    for (size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i].block == r.blocks[i].block);
      CHECK(got[i].data == r.blocks[i].data);
    }
  }
}

TEST_CASE("exact extents are split at block boundaries and clipped", "[extents]") {
  struct Row {
    const char* what;
    uint64_t size;
    std::vector<Extent> extents, pieces;
  };
  const std::vector<Row> rows{
      {"inside one block", 4 * B, {{100, 50, true}}, {{100, 50, true}}},
      {"across a boundary", 4 * B, {{B - 10, 20, true}}, {{B - 10, 10, true}, {B, 10, true}}},
      {"across three blocks",
       4 * B,
       {{B / 2, 2 * B, false}},
       {{B / 2, B / 2, false}, {B, B, false}, {2 * B, B / 2, false}}},
      {"sorted", 4 * B, {{2 * B, 1, true}, {1, 1, true}}, {{1, 1, true}, {2 * B, 1, true}}},
      {"clipped at the end", B + 100, {{B, 1000, true}}, {{B, 100, true}}},
      {"wholly past the end: nothing", B, {{2 * B, 10, true}}, {}},
  };
  for (const Row& r : rows) {
    INFO(r.what);
    CHECK(split_at_blocks(r.extents, r.size) == r.pieces);
  }
}

TEST_CASE("the pieces of a block are widened to pages and merged", "[extents]") {
  struct Row {
    const char* what;
    uint64_t block, size;
    std::vector<Extent> pieces;
    std::vector<PageSpan> spans;
  };
  const std::vector<Row> rows{
      {"one byte: its page", 0, 4 * B, {{5, 1, true}}, {{0, P}}},
      {"a page exactly", 0, 4 * B, {{P, P, true}}, {{P, P}}},
      {"across a page boundary: two pages", 0, 4 * B, {{P - 1, 2, true}}, {{0, 2 * P}}},
      {"two in one page merge", 0, 4 * B, {{1, 1, true}, {100, 1, false}}, {{0, P}}},
      {"adjacent pages merge", 0, 4 * B, {{0, 1, true}, {P, 1, true}}, {{0, 2 * P}}},
      {"a gap page keeps them apart",
       0,
       4 * B,
       {{0, 1, true}, {2 * P, 1, true}},
       {{0, P}, {2 * P, P}}},
      {"offsets are within the block", 2, 4 * B, {{2 * B + 3 * P + 7, 1, true}}, {{3 * P, P}}},
      {"the image's short last page", 1, B + 100, {{B + 50, 10, true}}, {{0, 100}}},
      {"an overlap wider than the last", 0, 4 * B, {{0, 3 * P, true}, {P, 1, true}}, {{0, 3 * P}}},
  };
  for (const Row& r : rows) {
    INFO(r.what);
    CHECK(page_spans(r.pieces, r.block, r.size) == r.spans);
  }
}

// The store on the machine's own filesystem (no reflinks needed): checksums, page-wise writes,
// holes, the copy fallback, scrub.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>

#include "scratch_dir.h"
#include "store/block_sums.h"
#include "store/image_writer.h"
#include "store/scrub.h"
#include "util/dir.h"
#include "util/error.h"
#include "util/file_io.h"

using namespace backy;
namespace fs = std::filesystem;

namespace {

using Scratch = backy::test::ScratchDir;

std::vector<char> random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<char> v(n);
  for (auto& c : v) c = static_cast<char>(rng());
  return v;
}

uint64_t allocated(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

std::vector<char> read_all(const fs::path& p) {
  std::string s = read_file(p);
  return {s.begin(), s.end()};
}

}  // namespace

TEST_CASE("block sums round-trip through their file and reject damage", "[store]") {
  Scratch s;
  BlockSums sums(3 * kBlockSize + 100);
  REQUIRE(sums.block_count() == 4);
  CHECK(sums.block_length(3) == 100);
  auto data = random_bytes(4096, 1);
  sums.set(1, checksum(data));
  write_file_atomic(s.dir / "a.sums", sums.serialize(), 0440);
  BlockSums back = BlockSums::load(s.dir / "a.sums");
  CHECK(back.image_size() == sums.image_size());
  CHECK(back.at(0) == kHole);
  CHECK(back.at(1) == checksum(data));
  CHECK(back.at(1) != checksum(random_bytes(4096, 2)));

  std::string raw = read_file(s.dir / "a.sums");
  fs::permissions(s.dir / "a.sums", fs::perms::owner_write, fs::perm_options::add);
  std::ofstream(s.dir / "a.sums", std::ios::binary) << raw.substr(0, raw.size() - 3);
  CHECK_THROWS_WITH(BlockSums::load(s.dir / "a.sums"),
                    Catch::Contains("malformed checksum file") && Catch::Contains("a.sums"));
}

TEST_CASE("a resize marks blocks whose length changes as stale", "[store]") {
  BlockSums sums(2 * kBlockSize + 10);
  auto data = random_bytes(4096, 1);
  for (uint64_t b = 0; b < 3; ++b) sums.set(b, checksum(data));
  sums.resize(4 * kBlockSize);  // old partial block 2 grows to a full block
  CHECK(sums.block_count() == 4);
  CHECK(sums.at(1) == checksum(data));
  CHECK(sums.at(2) == kStale);
  CHECK(sums.at(3) == kHole);
  sums.resize(kBlockSize + 5);  // shrinks: block 1 becomes partial
  CHECK(sums.block_count() == 2);
  CHECK(sums.at(0) == checksum(data));
  CHECK(sums.at(1) == kStale);
}

TEST_CASE("image writer writes only pages that differ and punches zero pages", "[store]") {
  Scratch s;
  const uint64_t size = 2 * kBlockSize;
  auto block = random_bytes(kBlockSize, 7);
  const Dir dir = Dir::open(s.dir, false);
  ImageWriter base = ImageWriter::create(dir, "base", std::nullopt, size);
  CHECK(base.size() == size);
  // Into a hole: only non-zero pages are written.
  std::vector<char> half = block;
  std::fill(half.begin() + kBlockSize / 2, half.end(), 0);
  CHECK(base.write(0, half, false) == kBlockSize / 2);
  base.finish();
  CHECK(allocated(s.dir / "base") <= kBlockSize / 2 + 64 * 1024);
  CHECK((fs::status(s.dir / "base").permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::group_read));

  // A child (a copy here: /tmp has no reflinks, or it has; both must give the same content).
  ImageWriter child = ImageWriter::create(dir, "child", std::string("base"), size);
  std::vector<char> changed = half;
  changed[5] ^= 1;                                                         // page 0 differs
  changed[3 * 4096 + 1] ^= 1;                                              // page 3 differs
  std::fill(changed.begin() + 4096 * 10, changed.begin() + 4096 * 12, 0);  // pages 10-11 zeroed
  CHECK(child.write(0, changed, true) == 2 * 4096);
  child.finish();
  auto content = read_all(s.dir / "child");
  REQUIRE(content.size() == size);
  CHECK(std::equal(changed.begin(), changed.end(), content.begin()));
  CHECK(std::all_of(content.begin() + kBlockSize, content.end(), [](char c) { return c == 0; }));
  // The parent is untouched.
  auto parent = read_all(s.dir / "base");
  CHECK(std::equal(half.begin(), half.end(), parent.begin()));
}

TEST_CASE("a partial last block is written completely", "[store]") {
  Scratch s;
  const uint64_t size = kBlockSize + 4096 * 2 + 17;
  ImageWriter img = ImageWriter::create(Dir::open(s.dir, false), "img", std::nullopt, size);
  auto tail = random_bytes(size - kBlockSize, 3);
  CHECK(img.write(kBlockSize, tail, false) == tail.size());
  img.finish();
  auto content = read_all(s.dir / "img");
  CHECK(std::equal(tail.begin(), tail.end(), content.begin() + kBlockSize));
}

TEST_CASE("scattered ranges read in flight equal what read() gives, the file's tail included",
          "[store]") {
  Scratch s;
  const uint64_t size = 2 * kBlockSize + 4096 * 3 + 100;  // the last page is partial
  const auto data = random_bytes(size, 11);
  const Dir dir = Dir::open(s.dir, false);
  {
    ImageWriter base = ImageWriter::create(dir, "base", std::nullopt, size);
    CHECK(base.write(0, data, false) == size);
    base.finish();
  }
  ImageWriter child = ImageWriter::create(dir, "child", std::string("base"), size);
  // One block's worth of scattered runs of 1 to 3 pages, in the second and the partial block,
  // and one run just after a page written a moment ago (a read must see its own writes).
  auto page = random_bytes(4096, 12);
  CHECK(child.write(kBlockSize + 4096 * 40, page, true) == 4096);
  struct Want {
    uint64_t offset;
    size_t len;
  };
  std::vector<Want> wants;
  for (uint64_t p = 0; p < 1024 - 3; p += 37)
    wants.push_back({kBlockSize + p * 4096, 4096 * (1 + p % 3)});
  wants.push_back({2 * kBlockSize + 4096, 4096 * 2 + 100});  // up to the end of the file
  std::vector<char> out(kBlockSize + 8 * 4096, 'x');
  size_t need = 0;
  for (const auto& r : wants) need += (r.len + 4095) / 4096 * 4096;
  REQUIRE(need <= kBlockSize);
  std::vector<ImageWriter::Range> ranges;
  size_t at = 0;
  for (const auto& r : wants) {
    ranges.push_back({r.offset, std::span<char>(out.data() + at, r.len)});
    at += r.len;
  }
  child.read_ranges(ranges);
  at = 0;
  for (const auto& r : wants) {
    std::vector<char> one(r.len);
    child.read(r.offset, one);
    INFO("range at " << r.offset << ", " << r.len << " bytes");
    CHECK(std::equal(one.begin(), one.end(), out.begin() + static_cast<ptrdiff_t>(at)));
    std::vector<char> expect(data.begin() + static_cast<ptrdiff_t>(r.offset),
                             data.begin() + static_cast<ptrdiff_t>(r.offset + r.len));
    if (r.offset <= kBlockSize + 4096 * 40 && kBlockSize + 4096 * 41 <= r.offset + r.len)
      std::copy(page.begin(), page.end(), expect.begin() + (kBlockSize + 4096 * 40 - r.offset));
    CHECK(one == expect);
    at += r.len;
  }
  // A single range goes the way of read().
  std::vector<char> single(4096);
  child.read_ranges(std::vector<ImageWriter::Range>{{4096 * 5, single}});
  CHECK(std::equal(single.begin(), single.end(), data.begin() + 4096 * 5));
}

TEST_CASE("creating an image that exists fails and leaves it alone", "[store]") {
  Scratch s;
  std::ofstream(s.dir / "x") << "keep me";
  CHECK_THROWS_AS(ImageWriter::create(Dir::open(s.dir, false), "x", std::nullopt, 4096), Error);
  CHECK(read_file(s.dir / "x") == "keep me");
}

TEST_CASE("copy fallback keeps holes as holes", "[store]") {
  Scratch s;
  const uint64_t size = 64 * kBlockSize;
  {
    ImageWriter img = ImageWriter::create(Dir::open(s.dir, false), "sparse", std::nullopt, size);
    img.write(10 * kBlockSize, random_bytes(kBlockSize, 1), false);
    img.finish();
  }
  UniqueFd from = open_file(s.dir / "sparse", O_RDONLY);
  UniqueFd to = open_file(s.dir / "copy", O_RDWR | O_CREAT, 0600);
  REQUIRE(::ftruncate(to.get(), static_cast<off_t>(size)) == 0);
  copy_sparse(FileSystem::real(), from.get(), to.get(), size, "sparse");
  CHECK(read_all(s.dir / "copy") == read_all(s.dir / "sparse"));
  CHECK(allocated(s.dir / "copy") < 4 * kBlockSize);
}

TEST_CASE("scrub finds exactly the damaged blocks", "[store]") {
  Scratch s;
  const uint64_t size = 4 * kBlockSize;
  BlockSums sums(size);
  {
    ImageWriter img = ImageWriter::create(Dir::open(s.dir, false), "img", std::nullopt, size);
    for (uint64_t b : {0, 2}) {
      auto d = random_bytes(kBlockSize, b + 10);
      img.write(b * kBlockSize, d, false);
      sums.set(b, checksum(d));
    }
    img.finish();
  }
  CHECK(scrub_image(s.dir / "img", sums).empty());
  fs::permissions(s.dir / "img", fs::perms::owner_write, fs::perm_options::add);
  {
    UniqueFd fd = open_file(s.dir / "img", O_WRONLY);
    pwrite_full(fd.get(), std::span<const char>("X", 1), 2 * kBlockSize + 12345, "img");
    pwrite_full(fd.get(), std::span<const char>("Y", 1), 3 * kBlockSize + 1, "img");
  }
  auto bad = scrub_image(s.dir / "img", sums);
  REQUIRE(bad.size() == 2);
  CHECK(bad[0].block == 2);
  CHECK(bad[0].expected == sums.at(2));
  CHECK(bad[1].block == 3);
  CHECK(bad[1].expected == kHole);
  CHECK(bad[1].actual.data);
}

TEST_CASE("a block's checksum updates from its changed pages alone", "[store]") {
  std::vector<char> block = random_bytes(kBlockSize, 11);
  std::fill(block.begin() + 10 * kPageSize, block.begin() + 12 * kPageSize, 0);  // zero pages
  const BlockSum before = checksum(block);
  CHECK(before.data);
  std::vector<char> after = block;
  BlockSum updated = before;
  for (uint64_t page : {3u, 10u, 700u, 1023u}) {  // data -> data, zero -> data, ...
    std::span<const char> old(block.data() + page * kPageSize, kPageSize);
    auto fresh = random_bytes(kPageSize, page);
    if (page == 700) std::fill(fresh.begin(), fresh.end(), 0);  // ... data -> zero
    std::copy(fresh.begin(), fresh.end(), after.begin() + page * kPageSize);
    updated = add_page_sum(updated, page_sum(page, old), -1);
    updated = add_page_sum(updated, page_sum(page, fresh), +1);
  }
  CHECK(updated == checksum(after));
  CHECK(updated != before);
  // Pages that trade places change the sum: each page is hashed with its index.
  std::vector<char> swapped = block;
  std::swap_ranges(swapped.begin(), swapped.begin() + kPageSize, swapped.begin() + kPageSize);
  CHECK(checksum(swapped) != before);
  // Zero pages contribute nothing; an all-zero block is a hole.
  CHECK(checksum(std::vector<char>(kBlockSize, 0)) == kHole);
  CHECK(page_sum(5, std::vector<char>(kPageSize, 0)) == kHole);
  // Removing every page's contribution leaves a hole.
  BlockSum emptied = before;
  for (uint64_t page = 0; page < kBlockSize / kPageSize; ++page)
    emptied = add_page_sum(
        emptied, page_sum(page, std::span<const char>(block.data() + page * kPageSize, kPageSize)),
        -1);
  CHECK(emptied == kHole);
}

TEST_CASE("replace_pages turns a block's checksum into that of the block with new pages",
          "[store]") {
  // The correctness core of an incremental: the sum updated from the changed pages alone must be
  // the sum of the whole new block, whichever pages change, to zero or from zero.
  std::mt19937_64 rng(42);
  for (int round = 0; round < 50; ++round) {
    INFO("round " << round);
    std::vector<char> block = random_bytes(kBlockSize, rng());
    // Some pages zero to start with.
    for (int z = 0; z < 4; ++z) {
      const size_t p = rng() % (kBlockSize / kPageSize);
      std::fill_n(block.begin() + p * kPageSize, kPageSize, 0);
    }
    BlockSum sum = checksum(block);
    // A run of pages changes: new random bytes, zeros, or the same bytes again.
    const size_t first = rng() % (kBlockSize / kPageSize);
    const size_t pages = 1 + rng() % std::min<size_t>(16, kBlockSize / kPageSize - first);
    std::span<char> run(block.data() + first * kPageSize, pages * kPageSize);
    std::vector<char> old(run.begin(), run.end());
    std::vector<char> now = random_bytes(run.size(), rng());
    if (round % 3 == 1) std::fill(now.begin(), now.end(), 0);
    if (round % 3 == 2) std::copy_n(old.begin(), kPageSize, now.begin());  // first page same
    std::copy(now.begin(), now.end(), run.begin());
    CHECK(replace_pages(sum, first, old, now) == checksum(block));
  }
  // All pages back to zero: a hole.
  std::vector<char> page = random_bytes(kPageSize, 5);
  std::vector<char> zero(kPageSize, 0);
  CHECK(replace_pages(page_sum(3, page), 3, page, zero) == kHole);
}

// ImageReader (lib/restore/image_reader.h): an image's chunks in order, holes unread, data chunks
// within 4 MiB boundaries, an early stop, read errors surfacing in the consumer.
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "restore/image_reader.h"
#include "scratch_dir.h"
#include "util/error.h"
#include "util/file_io.h"

using namespace backy;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t MiB = 1024 * 1024;
constexpr uint64_t kChunk = ImageReader::kChunkSize;

std::string pattern(size_t len, int seed) {
  std::string s(len, '\0');
  for (size_t i = 0; i < len; ++i) s[i] = static_cast<char>('a' + (i / 4096 + seed) % 26);
  return s;
}

// An image of `n` whole chunks, chunk i of pattern(kChunk, i), on the disk (O_DIRECT reads it).
fs::path chunks_image(const test::ScratchDir& s, int n) {
  const fs::path p = s.dir / "image";
  UniqueFd fd = open_file(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
  for (int i = 0; i < n; ++i) pwrite_full(fd.get(), pattern(kChunk, i), i * kChunk, "image");
  REQUIRE(::fsync(fd.get()) == 0);
  return p;
}

}  // namespace

TEST_CASE("image reader: chunks cover the image in order, holes unread, data within 4 MiB",
          "[restore]") {
  test::ScratchDir s;
  const fs::path p = s.dir / "image";
  const uint64_t size = 5 * kChunk + 12345;  // ends inside a block, not on a page
  UniqueFd fd = open_file(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
  REQUIRE(::ftruncate(fd.get(), static_cast<off_t>(size)) == 0);
  // Data across a 4 MiB boundary, a hole of more than a block, data to the odd end.
  const std::string a = pattern(3 * MiB, 1), b = pattern(2 * kChunk + 12345 - 8192, 2);
  pwrite_full(fd.get(), a, kChunk - MiB, "image");
  pwrite_full(fd.get(), b, 3 * kChunk + 8192, "image");

  REQUIRE(::fsync(fd.get()) == 0);
  const size_t depth = GENERATE(1, 2, 8);
  // O_DIRECT (restore opens a revision so): whole pages are read, past the odd end too.
  const bool direct = GENERATE(false, true);
  UniqueFd in = open_file(p, O_RDONLY | (direct ? O_DIRECT : 0));
  ImageReader reader(in.get(), "image", size, depth);
  std::string seen(size, '\0');
  uint64_t pos = 0, holes = 0;
  while (auto c = reader.next()) {
    INFO("chunk at " << c->offset << " of " << c->length);
    CHECK(c->offset == pos);
    REQUIRE(c->length > 0);
    if (c->hole) {
      CHECK(c->data.empty());
      holes += c->length;
    } else {
      REQUIRE(c->data.size() == c->length);
      CHECK(c->offset / kChunk == (c->offset + c->length - 1) / kChunk);
      seen.replace(c->offset, c->length, c->data.data(), c->length);
    }
    pos += c->length;
  }
  CHECK(pos == size);
  std::string expect(size, '\0');
  expect.replace(kChunk - MiB, a.size(), a);
  expect.replace(3 * kChunk + 8192, b.size(), b);
  CHECK(seen == expect);
  // At least the unwritten first 3 MiB and the 4 MiB-plus gap were holes (a filesystem may
  // allocate a little around writes, never less).
  CHECK(holes >= (kChunk - MiB) + (2 * kChunk + 8192 - (kChunk + 2 * MiB)) - 2 * MiB);
  CHECK_FALSE(reader.next().has_value());  // stays at the end
}

TEST_CASE("image reader: a consumer may stop early, with the reader blocked ahead", "[restore]") {
  test::ScratchDir s;
  const fs::path p = s.dir / "image";
  UniqueFd fd = open_file(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
  pwrite_full(fd.get(), pattern(8 * kChunk, 4), 0, "image");
  {
    ImageReader reader(fd.get(), "image", 8 * kChunk, 2);
    auto c = reader.next();
    REQUIRE(c);
    CHECK(c->data[0] == 'e');
  }  // the destructor stops the reader waiting for a free buffer
}

TEST_CASE("image reader: a read error surfaces in next(), naming the image", "[restore]") {
  test::ScratchDir s;
  const fs::path p = s.dir / "image";
  UniqueFd fd = open_file(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
  pwrite_full(fd.get(), pattern(2 * kChunk, 5), 0, "image");
  UniqueFd bad = open_file(p, O_WRONLY);  // not readable: pread fails
  ImageReader reader(bad.get(), "revision x", 2 * kChunk);
  CHECK_THROWS_WITH(reader.next(), Catch::Contains("read revision x at offset 0"));
}

TEST_CASE("image reader: a chunk kept past next() stays unchanged, read into the given allocator",
          "[restore]") {
  test::ScratchDir s;
  UniqueFd fd = open_file(chunks_image(s, 6), O_RDONLY);
  struct Counted : ChunkMemory {
    explicit Counted(int* live) : live(live) { ++*live; }
    ~Counted() override { --*live; }
    char* data() override { return bytes.data(); }
    int* live;
    std::vector<char> bytes = std::vector<char>(kSize);
  };
  int live = 0, made = 0;
  {
    // Each data chunk in memory of the allocator's, on the reader's thread; `made` is read after
    // the reader ended (next() returned nullopt).
    ImageReader reader(fd.get(), "image", 6 * kChunk, 2, [&] {
      ++made;
      return std::make_shared<Counted>(&live);
    });
    std::vector<ImageReader::Chunk> kept;
    while (auto c = reader.next()) kept.push_back(*c);
    CHECK(made == 6);
    REQUIRE(kept.size() == 6);
    for (int i = 0; i < 6; ++i) {
      REQUIRE(dynamic_cast<Counted*>(kept[i].memory.get()));
      CHECK(std::string(kept[i].data.data(), kept[i].data.size()) == pattern(kChunk, i));
    }
  }
  CHECK(live == 0);  // the last holder frees it
}

namespace {

// Chunk memory of the test's, which notes when each chunk's read began (the reader asks for the
// bytes just before it reads into them). The first chunk's is slow to give its bytes (and, with
// `fail`, throws instead), so the first chunk's read ends after later ones began.
struct SlowFirst {
  using Clock = std::chrono::steady_clock;
  static constexpr auto kSlow = std::chrono::milliseconds(300);

  struct Memory : ChunkMemory {
    Memory(SlowFirst& test, size_t index) : test(test), index(index) {}
    ~Memory() override { std::free(bytes); }
    char* data() override {
      test.began[index] = Clock::now().time_since_epoch().count();
      if (index == 0) {
        std::this_thread::sleep_for(kSlow);
        if (test.fail) throw Error("no bytes for the first chunk");
      }
      return bytes;
    }
    SlowFirst& test;
    const size_t index;  // the chunk's: the reader allocates in offset order
    char* bytes = static_cast<char*>(std::aligned_alloc(4096, kSize));  // O_DIRECT's alignment
  };

  bool fail = false;
  std::atomic<size_t> made{0};
  std::array<std::atomic<Clock::rep>, 8> began{};

  ChunkAllocator allocator() {
    return [this] { return std::make_shared<Memory>(*this, made.fetch_add(1)); };
  }
  // Whether the second chunk's read began while the first's was held up (with one read at a
  // time it begins kSlow later).
  bool overlapped() const {
    const auto gap = Clock::duration(began[1].load() - began[0].load());
    return began[1].load() != 0 && gap < kSlow / 2;
  }
};

}  // namespace

TEST_CASE("image reader: O_DIRECT reads overlap, and chunks still come in offset order",
          "[restore]") {
  test::ScratchDir s;
  const fs::path p = chunks_image(s, 6);
  UniqueFd fd = open_file(p, O_RDONLY | O_DIRECT);
  SlowFirst memory;
  ImageReader reader(fd.get(), "image", 6 * kChunk, 8, memory.allocator());
  for (int i = 0; i < 6; ++i) {
    auto c = reader.next();
    REQUIRE(c);
    CHECK(c->offset == static_cast<uint64_t>(i) * kChunk);
    CHECK(std::string(c->data.data(), c->data.size()) == pattern(kChunk, i));
  }
  CHECK_FALSE(reader.next().has_value());
  CHECK(memory.overlapped());
}

TEST_CASE("image reader: a failed read is thrown at its place, after the chunks before it",
          "[restore]") {
  test::ScratchDir s;
  const fs::path p = chunks_image(s, 4);
  UniqueFd fd = open_file(p, O_RDONLY | O_DIRECT);
  SlowFirst memory;
  memory.fail = true;
  ImageReader reader(fd.get(), "image", 4 * kChunk, 8, memory.allocator());
  // The later chunks were read first; the first chunk's failure still comes first, and stays.
  CHECK_THROWS_WITH(reader.next(), Catch::Contains("no bytes for the first chunk"));
  CHECK(memory.overlapped());
  CHECK_THROWS_WITH(reader.next(), Catch::Contains("no bytes for the first chunk"));
}

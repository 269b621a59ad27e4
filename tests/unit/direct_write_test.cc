// The image writer's fast path for long runs of new data: O_DIRECT writes from a queue of its
// own (store/direct_write_queue.h); the buffered fallback where the filesystem refuses O_DIRECT;
// the failure where a write fails.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "queue_file.h"
#include "scratch_dir.h"
#include "store/block_sums.h"
#include "store/direct_write_queue.h"
#include "store/image_writer.h"
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
  for (auto& c : v) c = static_cast<char>(rng() | 1);  // no zero pages by chance
  return v;
}

std::vector<char> read_all(const fs::path& p) {
  std::string s = read_file(p);
  return {s.begin(), s.end()};
}

// The data extents of `p` as [start, end) pairs, from SEEK_DATA / SEEK_HOLE.
std::vector<std::pair<uint64_t, uint64_t>> data_extents(const fs::path& p) {
  UniqueFd fd = open_file(p, O_RDONLY);
  std::vector<std::pair<uint64_t, uint64_t>> out;
  off_t pos = 0;
  for (;;) {
    const off_t data = ::lseek(fd.get(), pos, SEEK_DATA);
    if (data < 0) break;
    const off_t hole = ::lseek(fd.get(), data, SEEK_HOLE);
    REQUIRE(hole > data);
    out.push_back({static_cast<uint64_t>(data), static_cast<uint64_t>(hole)});
    pos = hole;
  }
  return out;
}

bool is_direct(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && (flags & O_DIRECT) != 0;
}

// The kernel, except that O_DIRECT writes are refused (EINVAL, as by a filesystem without
// O_DIRECT) or fail (EIO) when the test says so. Counts the writes of each kind.
class PickyFileSystem : public FileSystem {
 public:
  int direct_error = 0;  // errno for every O_DIRECT pwrite; 0: the kernel's answer
  std::atomic<int> direct_writes{0}, buffered_writes{0};

  ssize_t pwrite(int fd, const void* buf, size_t len, off_t offset) override {
    if (is_direct(fd)) {
      ++direct_writes;
      if (direct_error) {
        errno = direct_error;
        return -1;
      }
    } else {
      ++buffered_writes;
    }
    return FileSystem::pwrite(fd, buf, len, offset);
  }
};

// An image of `blocks` blocks: every third block all zero, every other one with its second
// half zero, the rest random.
std::vector<char> mixed_image(uint64_t blocks, uint64_t seed) {
  std::vector<char> image = random_bytes(blocks * kBlockSize, seed);
  for (uint64_t b = 0; b < blocks; ++b) {
    auto block = image.begin() + static_cast<std::ptrdiff_t>(b * kBlockSize);
    if (b % 3 == 0) std::fill(block, block + kBlockSize, 0);
    if (b % 3 == 1) std::fill(block + kBlockSize / 2, block + kBlockSize, 0);
  }
  return image;
}

// Writes `image` block by block into a new image `name` of `dir`, as a full backup does.
uint64_t write_full(const Dir& dir, const std::string& name, const std::vector<char>& image) {
  ImageWriter w = ImageWriter::create(dir, name, std::nullopt, image.size());
  uint64_t written = 0;
  for (uint64_t off = 0; off < image.size(); off += kBlockSize)
    written += w.write(off, std::span(image).subspan(off, kBlockSize), false);
  w.finish();
  return written;
}

}  // namespace

TEST_CASE("a full image written direct equals its data, and zero pages stay holes", "[store]") {
  Scratch s;
  PickyFileSystem pfs;
  const Dir dir = Dir::open(s.dir, false, pfs);
  const std::vector<char> image = mixed_image(12, 1);
  // 4 random blocks + 4 half blocks: only those bytes are written.
  CHECK(write_full(dir, "img", image) == 4 * kBlockSize + 4 * kBlockSize / 2);
  CHECK(read_all(s.dir / "img") == image);
  CHECK(pfs.direct_writes > 0);  // the path under test was taken
  // Exactly the non-zero halves and blocks hold data.
  std::vector<std::pair<uint64_t, uint64_t>> expected;
  for (uint64_t b = 0; b < 12; ++b) {
    const uint64_t start = b * kBlockSize;
    if (b % 3 == 1) expected.push_back({start, start + kBlockSize / 2});
    if (b % 3 == 2) expected.push_back({start, start + kBlockSize});
  }
  CHECK(data_extents(s.dir / "img") == expected);
}

TEST_CASE("a block read back right after its direct write is queued has the new data", "[store]") {
  Scratch s;
  const Dir dir = Dir::open(s.dir, false);
  const std::vector<char> block = random_bytes(kBlockSize, 2);
  ImageWriter w = ImageWriter::create(dir, "img", std::nullopt, 2 * kBlockSize);
  CHECK(w.write(kBlockSize, block, false) == kBlockSize);
  std::vector<char> back(kBlockSize);
  w.read(kBlockSize, back);  // waits for the queue
  CHECK(back == block);
  // A page compare over it reads it too: writing the same block again writes nothing.
  CHECK(w.write(kBlockSize, block, true) == 0);
  w.finish();
  CHECK(std::equal(block.begin(), block.end(), read_all(s.dir / "img").begin() + kBlockSize));
}

TEST_CASE("where O_DIRECT writes are refused the image is written buffered, whole", "[store]") {
  Scratch s;
  PickyFileSystem pfs;
  pfs.direct_error = EINVAL;
  const Dir dir = Dir::open(s.dir, false, pfs);
  const std::vector<char> image = mixed_image(9, 3);
  CHECK(write_full(dir, "img", image) == 3 * kBlockSize + 3 * kBlockSize / 2);
  CHECK(read_all(s.dir / "img") == image);
  // Refused once, then never tried again.
  CHECK(pfs.direct_writes == 1);
  CHECK(pfs.buffered_writes >= 6);
}

TEST_CASE("a failed direct write fails the image with the file and offset named", "[store]") {
  Scratch s;
  PickyFileSystem pfs;
  pfs.direct_error = EIO;
  const Dir dir = Dir::open(s.dir, false, pfs);
  const std::vector<char> block = random_bytes(kBlockSize, 4);
  ImageWriter w = ImageWriter::create(dir, "img", std::nullopt, 4 * kBlockSize);
  // The failure shows at the latest in finish(): the writes are queued.
  auto write_all = [&] {
    for (uint64_t b = 0; b < 4; ++b) w.write(b * kBlockSize, block, false);
    w.finish();
  };
  CHECK_THROWS_WITH(write_all(), Catch::Contains((s.dir / "img").string()) &&
                                     Catch::Contains("at offset 0") &&
                                     Catch::Contains("Input/output error"));
}

TEST_CASE("the direct write queue writes every block in order and drains", "[store]") {
  test::QueueFile f;
  const size_t kBuf = 64 * 1024;
  const std::vector<char> data = random_bytes(16 * kBuf, 5);
  {
    DirectWriteQueue q(FileSystem::real(), f.direct.get(), f.buffered.get(), "f", 2, kBuf);
    CHECK(q.buffer_size() == kBuf);
    for (size_t i = 0; i < 16; ++i) {
      char* buf = q.buffer();
      CHECK(reinterpret_cast<uintptr_t>(buf) % 4096 == 0);
      std::memcpy(buf, data.data() + i * kBuf, kBuf);
      q.submit(buf, i * kBuf, kBuf);
    }
    q.drain();
    CHECK_FALSE(q.refused());
  }
  CHECK(read_all(f.path) == data);
}

// A file system whose first write is slow: a writer that took a later write finishes first.
// With `fail`, every write fails (EIO), the first one last.
class SlowFirstWriteFileSystem : public FileSystem {
 public:
  explicit SlowFirstWriteFileSystem(bool fail = false) : fail_(fail) {}
  ssize_t pwrite(int fd, const void* buf, size_t len, off_t offset) override {
    if (!first_done_.exchange(true)) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (!fail_) return FileSystem::pwrite(fd, buf, len, offset);
    errno = EIO;
    return -1;
  }

 private:
  const bool fail_;
  std::atomic<bool> first_done_{false};
};

TEST_CASE("with several writers, writes to the same bytes land in the order they were queued",
          "[store]") {
  test::QueueFile f;
  const size_t kBuf = 64 * 1024;
  const std::vector<char> older = random_bytes(kBuf, 7), newer = random_bytes(kBuf, 8);
  SlowFirstWriteFileSystem fs;
  {
    // The older write is slow; the second writer takes the newer one at once. Without the
    // overlap rule it lands first and the older one then overwrites it.
    DirectWriteQueue q(fs, f.direct.get(), f.buffered.get(), "f", 2, kBuf, 2);
    test::queue_copy(q, older, 0);
    test::queue_copy(q, newer, 0);
    q.drain();
  }
  CHECK(read_all(f.path) == newer);
}

TEST_CASE("with several writers, every block is written and drain waits for all of them",
          "[store]") {
  test::QueueFile f;
  const size_t kBuf = 64 * 1024;
  const std::vector<char> data = random_bytes(64 * kBuf, 6);
  DirectWriteQueue q(FileSystem::real(), f.direct.get(), f.buffered.get(), "f", 4, kBuf, 2);
  for (size_t i = 0; i < 64; ++i)
    test::queue_copy(q, std::span(data).subspan(i * kBuf, kBuf), i * kBuf);
  q.drain();  // before the queue goes: drain() alone must have waited for every write
  CHECK(read_all(f.path) == data);
}

TEST_CASE("with several writers, the failure reported is that of the write queued first",
          "[store]") {
  test::QueueFile f;
  const size_t kBuf = 64 * 1024;
  const std::vector<char> ones(kBuf, 1);
  SlowFirstWriteFileSystem fs(/*fail=*/true);
  DirectWriteQueue q(fs, f.direct.get(), f.buffered.get(), "f", 2, kBuf, 2);
  // The write at 0 fails last; the one at kBuf, taken by the other writer, fails first.
  test::queue_copy(q, ones, 0);
  test::queue_copy(q, ones, kBuf);
  CHECK_THROWS_WITH(q.drain(),
                    Catch::Contains("at offset 0") && Catch::Contains("Input/output error"));
}

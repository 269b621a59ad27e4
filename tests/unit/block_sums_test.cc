// The .sums loader (BlockSums::parse) on damaged or hostile bytes. Found by
// tests/fuzz/fuzz_sums.cc and by reading the loader.
#include <catch2/catch.hpp>
#include <string>

#include "store/block_sums.h"
#include "util/error.h"

using namespace backy;

namespace {

std::string header(const std::string& size) {
  return "backy-sums 2 xxh3-128-pagesum block-size=4194304 size=" + size + "\n";
}

std::string record(char kind, char fill) {
  return std::string(1, kind) + std::string(16, fill);
}

}  // namespace

TEST_CASE("a .sums header with a huge size is refused before anything is allocated", "[store]") {
  // size=2^60 asked for 2^38 records (6 TiB) from a 60-byte file, before the length check.
  CHECK_THROWS_WITH(BlockSums::parse(header("1152921504606846976"), "x.sums"),
                    Catch::Contains("expected 274877906944 records of 17 bytes after the header, "
                                    "found 0 bytes"));
  // Near 2^64, blocks_for() wrapped to 0 and an empty table matched a 16 EiB image.
  CHECK_THROWS_WITH(BlockSums::parse(header("18446744073709551615"), "x.sums"),
                    Catch::Contains("x.sums: image size 18446744073709551615 is out of range"));
}

TEST_CASE("a .sums header must be exactly what save writes", "[store]") {
  // sscanf's %llu took "-1" as 2^64-1, and ignored spaces, '+' and trailing text.
  for (const std::string size : {"-1", " 4096", "+4096", "4096 junk", "04096", "4096\r"}) {
    INFO(size);
    CHECK_THROWS_WITH(BlockSums::parse(header(size) + record(1, 'a'), "x.sums"),
                      Catch::Contains("x.sums: unknown header"));
  }
  const BlockSums ok = BlockSums::parse(header("4096") + record(1, 'a'), "x.sums");
  CHECK(ok.block_count() == 1);
  CHECK(ok.image_size() == 4096);
}

TEST_CASE("a .sums hole record with a checksum is malformed", "[store]") {
  // A hole compares unequal to every real block only if its checksum is zero.
  CHECK_THROWS_WITH(BlockSums::parse(header("4096") + record(0, 'a'), "x.sums"),
                    Catch::Contains("a hole record with a checksum"));
  CHECK(BlockSums::parse(header("4096") + record(0, '\0'), "x.sums").at(0) == kHole);
}

TEST_CASE("a .sums file of the wrong length names what it expected", "[store]") {
  CHECK_THROWS_WITH(BlockSums::parse("", "x.sums"), Catch::EndsWith("x.sums: no header line"));
  // A file without a newline near its start is not quoted whole in the message.
  CHECK_THROWS_WITH(BlockSums::parse(std::string(1 << 20, 'x') + "\n", "x.sums"),
                    Catch::EndsWith("x.sums: no header line"));
  CHECK_THROWS_WITH(BlockSums::parse(header("8388609") + record(1, 'a'), "x.sums"),
                    Catch::Contains("expected 3 records of 17 bytes after the header, found 17"));
  CHECK_THROWS_WITH(BlockSums::parse(header("4096") + record(2, 'a'), "x.sums"),
                    Catch::Contains("bad record kind"));
}

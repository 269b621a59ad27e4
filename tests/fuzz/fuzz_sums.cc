// Fuzzes the .sums loader with arbitrary bytes: BlockSums::parse either returns checksums
// that match the header or throws backy::Error, and never allocates more than the input
// justifies (libFuzzer's -malloc_limit_mb catches a header that asks for a huge table).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "store/block_sums.h"
#include "util/error.h"

namespace {

void expect(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const backy::BlockSums sums = backy::BlockSums::parse(bytes, "fuzz.sums");
    expect(sums.block_count() == backy::blocks_for(sums.image_size()));
    expect(sums.block_count() * 17 < size);
    for (uint64_t b = 0; b < sums.block_count(); ++b) {
      expect(sums.block_length(b) > 0 && sums.block_length(b) <= backy::kBlockSize);
      expect(sums.at(b).data || sums.at(b) == backy::kHole);
    }
  } catch (const backy::Error&) {
  }
  return 0;
}

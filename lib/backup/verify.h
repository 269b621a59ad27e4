// Verification after a run: reread a random sample of blocks and compare.
//
// Stable sources (an RBD snapshot) are reread and compared byte for byte with the written image;
// for others the image is reread and compared with the checksums the run recorded. The sample
// mixes blocks the run changed with blocks it took from the parent, so both the writes and the
// clone are checked. It is bounded by VerifyConfig::max_time.
//
// Two halves, so that the slow one can overlap the image's flush: read_source_sample() rereads
// the sample from a stable source (the network's time) and needs neither the image nor the
// checksums; verify_sample() then reads the image (from disk: O_DIRECT) and compares.
#pragma once

#include <cstdint>
#include <optional>
#include <stop_token>
#include <utility>
#include <vector>

#include "config/config.h"
#include "source/source.h"
#include "store/block_sums.h"
#include "store/image_writer.h"

namespace backy {

struct VerifyResult {
  uint64_t blocks_checked = 0;
  std::vector<std::string> mismatches;  // "block N: expected <hash>, image has <hash>"
};

// Picks the sample: about `fraction` of the blocks that hold data, at least `min_blocks` (never
// more than exist), half of it from `changed` where possible; plus a few holes (kHoleSamples),
// which are cheap to check and would otherwise dominate a thin image's sample (1 % of a 1 TiB
// image holding 1 GiB is 2621 blocks, nearly all of them holes). Sorted, unique.
inline constexpr uint64_t kHoleSamples = 4;
std::vector<uint64_t> pick_sample(const BlockSums& sums, const std::vector<uint64_t>& changed,
                                  const VerifyConfig& config, uint64_t seed);

// The source's content of the sample's blocks, as (block, sum), in order; those read within
// config.max_time of the call. REQUIRES: snapshot.stable(). Uses only `snapshot`, so it may run
// on another thread while the caller writes or flushes the image.
using SourceSums = std::vector<std::pair<uint64_t, BlockSum>>;
SourceSums read_source_sample(SourceSnapshot& snapshot, const std::vector<uint64_t>& sample,
                              const VerifyConfig& config, std::stop_token stop);

// Compares the image with `from_source` (read_source_sample's, for a stable source: each block
// must match it and the recorded sum) or, without it, the sample's blocks with the recorded
// sums, within config.max_time.
VerifyResult verify_sample(ImageWriter& image, const BlockSums& sums,
                           const std::vector<uint64_t>& sample,
                           const std::optional<SourceSums>& from_source, const VerifyConfig& config,
                           std::stop_token stop);

}  // namespace backy

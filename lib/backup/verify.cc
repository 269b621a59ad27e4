#include "backup/verify.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <set>

#include "util/error.h"
#include "util/file_io.h"

namespace backy {

namespace {

std::string hex(const BlockSum& s) {
  if (!s.data) return "hole";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(s.high),
                static_cast<unsigned long long>(s.low));
  return buf;
}

BlockSum sum_of(std::span<const char> data) {
  return is_all_zero(data) ? kHole : checksum(data);
}

}  // namespace

std::vector<uint64_t> pick_sample(const BlockSums& sums, const std::vector<uint64_t>& changed,
                                  const VerifyConfig& config, uint64_t seed) {
  std::vector<uint64_t> data, holes;
  for (uint64_t b = 0; b < sums.block_count(); ++b) (sums.at(b).data ? data : holes).push_back(b);
  std::mt19937_64 rng(seed);
  std::set<uint64_t> picked;
  auto pick_from = [&](const std::vector<uint64_t>& from, size_t until) {
    if (from.empty()) return;
    std::uniform_int_distribution<size_t> pick(0, from.size() - 1);
    // Bounded tries: `from` may hold fewer distinct new blocks than asked for.
    for (size_t tries = 0; picked.size() < until && tries < 4 * until + 16; ++tries)
      picked.insert(from[pick(rng)]);
  };
  uint64_t want = static_cast<uint64_t>(config.fraction * static_cast<double>(data.size()));
  want = std::min<uint64_t>(data.size(),
                            std::max<uint64_t>(want, static_cast<uint64_t>(config.min_blocks)));
  if (want > 0) {
    pick_from(changed, std::min<size_t>(changed.size(), want / 2 + want % 2));
    pick_from(data, want);
    // Random tries can miss the last few of a small set; take them in order.
    for (size_t i = 0; picked.size() < want && i < data.size(); ++i) picked.insert(data[i]);
  }
  pick_from(holes, picked.size() + std::min<uint64_t>(kHoleSamples, holes.size()));
  return {picked.begin(), picked.end()};
}

SourceSums read_source_sample(SourceSnapshot& snapshot, const std::vector<uint64_t>& sample,
                              const VerifyConfig& config, std::stop_token stop) {
  const auto deadline = std::chrono::steady_clock::now() + config.max_time;
  SourceSums from_source;
  // Read in chunks so the time bound is checked between them.
  constexpr size_t kChunk = 16;
  for (size_t i = 0; i < sample.size(); i += kChunk) {
    if (std::chrono::steady_clock::now() > deadline) break;
    auto part = std::span<const uint64_t>(sample).subspan(i, std::min(kChunk, sample.size() - i));
    snapshot.read_blocks(
        part,
        [&](uint64_t b, std::span<const char> d) {
          from_source.push_back({b, sum_of(d)});
        },
        stop);
  }
  return from_source;
}

VerifyResult verify_sample(ImageWriter& image, const BlockSums& sums,
                           const std::vector<uint64_t>& sample,
                           const std::optional<SourceSums>& from_source, const VerifyConfig& config,
                           std::stop_token stop) {
  VerifyResult result;
  const auto deadline = std::chrono::steady_clock::now() + config.max_time;
  // Not zeroed: a read touches only the pages it fills (a small image's, not a whole block).
  const auto buf = std::make_unique_for_overwrite<char[]>(kBlockSize);
  auto image_sum = [&](uint64_t block) {
    const uint64_t len = sums.block_length(block);
    image.read(block * kBlockSize, std::span<char>(buf.get(), len));
    return sum_of(std::span<const char>(buf.get(), len));
  };
  if (from_source) {
    // The source's half kept to its own time bound; the image's is local and quick.
    for (const auto& [b, expected] : *from_source) {
      if (stop.stop_requested()) throw Cancelled();
      BlockSum got = image_sum(b);
      ++result.blocks_checked;
      if (got != expected || got != sums.at(b))
        result.mismatches.push_back("block " + std::to_string(b) + ": source " + hex(expected) +
                                    ", image " + hex(got) + ", recorded " + hex(sums.at(b)));
    }
  } else {
    for (uint64_t b : sample) {
      if (std::chrono::steady_clock::now() > deadline) break;
      if (stop.stop_requested()) throw Cancelled();
      BlockSum got = image_sum(b);
      ++result.blocks_checked;
      if (got != sums.at(b))
        result.mismatches.push_back("block " + std::to_string(b) + ": recorded " + hex(sums.at(b)) +
                                    ", image " + hex(got));
    }
  }
  return result;
}

}  // namespace backy

// Scrub: reread a revision's image and compare every block with its recorded checksum.
//
// Finds what silent corruption, a bad disk or a hand edit did to a complete revision. The caller
// (repo level) marks the revision distrusted when bad blocks are found, verified otherwise.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stop_token>
#include <string>
#include <vector>

#include "store/block_sums.h"

namespace backy {

struct BadBlock {
  uint64_t block = 0;
  BlockSum expected;
  BlockSum actual;
};

// Reads the image open at `fd` (`what` names it in errors). Throws backy::Error when the image
// cannot be read at all or its size differs from the checksums', backy::Cancelled on `stop`.
std::vector<BadBlock> scrub_image(int fd, const std::string& what, const BlockSums& sums,
                                  std::stop_token stop = {});
// The checksums of the image open at `fd` (`what` names it in errors), reading it once: what a
// revision that no backup of ours wrote (an adopted one, repo/adopt.h) gets as its .sums.
// Throws backy::Error when it cannot be read, backy::Cancelled on `stop`.
BlockSums sums_of_image(int fd, const std::string& what, std::stop_token stop = {});
// The same for the file at `image`.
std::vector<BadBlock> scrub_image(const std::filesystem::path& image, const BlockSums& sums,
                                  std::stop_token stop = {});

}  // namespace backy

// Partitions of a disk image, read from its partition table as `sfdisk -J` prints it, and the
// choice of the one to mount.
//
// The kernels backyd runs on may have no partition-table support for loop devices (no
// /dev/loopNp1), so a partition is found here and reached as a loop device at its byte offset
// (mount/loop_device.h). Every number comes from the image, i.e. from the backed-up machine:
// it is hostile, and a partition that does not lie inside the image is refused.
//
// Pure; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace backy {

struct Partition {
  int number = 0;           // 1-based as in the table; 0: the whole image (no partition table)
  uint64_t offset = 0;      // bytes from the image's start
  uint64_t size = 0;        // bytes
  std::string type;         // the table's type: a GPT type GUID or an MBR type ("83")
  bool linux_data = false;  // a Linux filesystem type (GPT Linux data/root/home/srv, MBR 83)
  bool operator==(const Partition&) const = default;
};

// The partitions of `sfdisk -J` output, in table order. Empty output (sfdisk found no table)
// gives no partitions. Throws backy::Error for malformed JSON or a partition outside
// `image_size` bytes.
std::vector<Partition> parse_partition_table(const std::string& sfdisk_json, uint64_t image_size);

// The partition to mount: number `wanted` if given; else the whole image when there is no
// table; else the only partition; else the largest Linux one. Throws backy::Error listing the
// partitions when `wanted` does not exist or no Linux partition is there to choose.
Partition choose_partition(const std::vector<Partition>& table, std::optional<int> wanted,
                           uint64_t image_size);

// "1: 40 MiB at 1 MiB, Linux (0FC63DAF-...)" lines, for messages.
std::string describe(const std::vector<Partition>& table);

}  // namespace backy

// Tests of mount/partitions.h and mount/mount_table.h: partition tables as sfdisk -J prints them
// (hostile numbers included), the choice of the partition to mount, mountinfo lines.
#include <catch2/catch.hpp>

#include "mount/mount_table.h"
#include "mount/partitions.h"
#include "util/error.h"

namespace backy {
namespace {

constexpr uint64_t kImage = 400ull << 20;

std::string table(const std::string& parts, uint64_t sector = 512) {
  return R"({"partitiontable": {"label": "gpt", "device": "/x/img", "unit": "sectors",
    "sectorsize": )" +
         std::to_string(sector) + R"(, "partitions": [)" + parts + "]}}";
}

const std::string kExt4 =
    R"({"node": "/x/img1", "start": 2048, "size": 81920, "type": "0FC63DAF-8483-4772-8E79-3D69D8477DE4"})";
const std::string kXfs =
    R"({"node": "/x/img2", "start": 83968, "size": 733184, "type": "0fc63daf-8483-4772-8e79-3d69d8477de4"})";
const std::string kEfi =
    R"({"node": "/x/img3", "start": 34, "size": 2000, "type": "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"})";

TEST_CASE("partitions: offsets and sizes in bytes, Linux types recognised", "[mount]") {
  auto t = parse_partition_table(table(kExt4 + "," + kXfs + "," + kEfi), kImage);
  REQUIRE(t.size() == 3);
  CHECK(t[0] ==
        Partition{1, 2048 * 512, 81920 * 512, "0FC63DAF-8483-4772-8E79-3D69D8477DE4", true});
  CHECK(t[1].number == 2);
  CHECK(t[1].linux_data);
  CHECK_FALSE(t[2].linux_data);
  CHECK(parse_partition_table("", kImage).empty());  // no table
}

TEST_CASE("partitions: one outside the image or a silly sector size is refused", "[mount]") {
  CHECK_THROWS_WITH(parse_partition_table(table(kXfs), 100ull << 20),
                    Catch::Contains("partition 2") && Catch::Contains("outside the image"));
  const std::string huge =
      R"({"node": "/x/img1", "start": 18446744073709551615, "size": 1, "type": "83"})";
  CHECK_THROWS_AS(parse_partition_table(table(huge), kImage), Error);
  CHECK_THROWS_WITH(parse_partition_table(table(kExt4, 3), kImage), Catch::Contains("sector size"));
  CHECK_THROWS_AS(parse_partition_table("{not json", kImage), Error);
}

TEST_CASE("partitions: --partition N, else the only one, else the largest Linux one", "[mount]") {
  auto t = parse_partition_table(table(kExt4 + "," + kXfs + "," + kEfi), kImage);
  CHECK(choose_partition(t, 1, kImage).number == 1);
  CHECK(choose_partition(t, std::nullopt, kImage).number == 2);
  CHECK_THROWS_WITH(choose_partition(t, 7, kImage),
                    Catch::Contains("no partition 7") && Catch::Contains("1: 40 MiB at 1 MiB"));
  auto efi = parse_partition_table(table(kEfi), kImage);
  CHECK(choose_partition(efi, std::nullopt, kImage).number == 3);  // the only one
  auto two_efi = parse_partition_table(table(kEfi + "," + kEfi), kImage);
  CHECK_THROWS_WITH(choose_partition(two_efi, std::nullopt, kImage),
                    Catch::Contains("--partition N"));
  // No table: the filesystem fills the image.
  CHECK(choose_partition({}, std::nullopt, kImage) == Partition{0, 0, kImage, "", true});
}

TEST_CASE("mount table: mount points unescaped, optional fields skipped", "[mount]") {
  auto t = parse_mountinfo(
      "36 35 98:0 / /mnt/a\\040b rw,noatime master:1 - ext4 /dev/loop3 rw\n"
      "37 35 98:1 / /srv ro - xfs /dev/loop4 ro,nouuid\n"
      "garbage\n");
  REQUIRE(t.size() == 2);
  CHECK(t[0].mount_point == "/mnt/a b");
  CHECK(t[0].fstype == "ext4");
  CHECK(t[0].source == "/dev/loop3");
  CHECK(t[1].mount_point == "/srv");
  CHECK(t[1].source == "/dev/loop4");
}

}  // namespace
}  // namespace backy

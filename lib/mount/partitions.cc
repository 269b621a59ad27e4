#include "mount/partitions.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace backy {

namespace {

bool is_linux_type(std::string type) {
  std::transform(type.begin(), type.end(), type.begin(), ::toupper);
  static const char* const kLinux[] = {
      "83",                                    // MBR: Linux
      "0FC63DAF-8483-4772-8E79-3D69D8477DE4",  // GPT: Linux filesystem data
      "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",  // GPT: root (x86-64)
      "B921B045-1DF0-41C3-AF44-4C6F280D3FAE",  // GPT: root (arm64)
      "933AC7E1-2EB4-4F13-B844-0E14E2AEF915",  // GPT: /home
      "3B8F8425-20E0-4F3B-907F-1A25A76F98E8",  // GPT: /srv
  };
  return std::any_of(std::begin(kLinux), std::end(kLinux),
                     [&](const char* t) { return type == t; });
}

std::string mib(uint64_t bytes) {
  return std::to_string(bytes >> 20) + " MiB";
}

}  // namespace

std::vector<Partition> parse_partition_table(const std::string& text, uint64_t image_size) {
  std::vector<Partition> out;
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return out;
  try {
    const auto root = nlohmann::json::parse(text);
    const auto& table = root.at("partitiontable");
    const uint64_t sector = table.value("sectorsize", uint64_t{512});
    if (sector == 0 || sector > 65536 || (sector & (sector - 1)) != 0)
      throw Error("partition table: sector size " + std::to_string(sector) + " is not plausible");
    if (!table.contains("partitions")) return out;
    const auto& parts = table.at("partitions");
    if (!parts.is_array() || parts.size() > 256)
      throw Error("partition table: \"partitions\" is no array of at most 256 entries");
    int index = 0;
    for (const auto& p : parts) {
      ++index;
      Partition part;
      // sfdisk names nodes <device><N>; the number is the suffix, else the position.
      part.number = index;
      const std::string node = p.value("node", "");
      size_t digits = node.size();
      while (digits > 0 && std::isdigit(static_cast<unsigned char>(node[digits - 1]))) --digits;
      if (digits < node.size() && node.size() - digits <= 3)
        part.number = std::stoi(node.substr(digits));
      const uint64_t start = p.at("start").get<uint64_t>(), count = p.at("size").get<uint64_t>();
      if (start > image_size / sector || count > image_size / sector ||
          (start + count) > image_size / sector)
        throw Error("partition " + std::to_string(part.number) + " (sectors " +
                    std::to_string(start) + " + " + std::to_string(count) +
                    ") lies outside the image of " + std::to_string(image_size) + " bytes");
      part.offset = start * sector;
      part.size = count * sector;
      part.type = p.value("type", "");
      part.linux_data = is_linux_type(part.type);
      out.push_back(part);
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("partition table: unexpected sfdisk output: ") + e.what());
  }
  return out;
}

std::string describe(const std::vector<Partition>& table) {
  std::string s;
  for (const auto& p : table) {
    if (!s.empty()) s += "; ";
    s += std::to_string(p.number) + ": " + mib(p.size) + " at " + mib(p.offset) + ", " +
         (p.linux_data ? "Linux" : "type") + " " + p.type;
  }
  return s.empty() ? "none" : s;
}

Partition choose_partition(const std::vector<Partition>& table, std::optional<int> wanted,
                           uint64_t image_size) {
  if (wanted) {
    if (*wanted == 0 && table.empty()) return Partition{0, 0, image_size, "", true};
    for (const auto& p : table)
      if (p.number == *wanted) return p;
    throw Error("there is no partition " + std::to_string(*wanted) +
                " (partitions: " + describe(table) + ")");
  }
  if (table.empty()) return Partition{0, 0, image_size, "", true};
  if (table.size() == 1) return table.front();
  const Partition* best = nullptr;
  for (const auto& p : table)
    if (p.linux_data && (!best || p.size > best->size)) best = &p;
  if (!best)
    throw Error("no Linux filesystem partition to choose; name one with --partition N (" +
                describe(table) + ")");
  return *best;
}

}  // namespace backy

#include "mount/mount_table.h"

#include <fstream>
#include <sstream>

namespace backy {

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && s.size() - i >= 4) {
      const std::string oct = s.substr(i + 1, 3);
      if (oct.find_first_not_of("01234567") == std::string::npos) {
        out += static_cast<char>(std::stoi(oct, nullptr, 8));
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

}  // namespace

std::vector<MountEntry> parse_mountinfo(const std::string& text) {
  std::vector<MountEntry> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    std::vector<std::string> fields;
    for (std::string w; f >> w;) fields.push_back(w);
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    size_t sep = 6;
    while (sep < fields.size() && fields[sep] != "-") ++sep;
    if (fields.size() < 5 || sep + 2 >= fields.size()) continue;
    out.push_back({unescape(fields[4]), fields[sep + 1], unescape(fields[sep + 2])});
  }
  return out;
}

std::vector<MountEntry> read_mount_table() {
  std::ifstream in("/proc/self/mountinfo");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_mountinfo(ss.str());
}

bool is_mounted_from(const std::string& mount_point, const std::string& source) {
  for (const auto& e : read_mount_table())
    if (e.mount_point == mount_point && e.source == source) return true;
  return false;
}

}  // namespace backy

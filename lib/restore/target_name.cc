#include "restore/target_name.h"

#include <algorithm>
#include <vector>

#include "util/error.h"

namespace backy {

std::optional<RbdImageName> parse_rbd_target(const std::string& target) {
  const std::string prefix = "rbd:";
  if (target.rfind(prefix, 0) != 0) return std::nullopt;
  std::vector<std::string> parts;
  size_t start = prefix.size();
  for (;;) {
    size_t slash = target.find('/', start);
    parts.push_back(target.substr(start, slash == std::string::npos ? slash : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  bool empty_part = std::any_of(parts.begin(), parts.end(), [](auto& p) { return p.empty(); });
  if (parts.size() < 2 || parts.size() > 3 || empty_part)
    throw Error("restore target '" + target +
                "' is not rbd:POOL/IMAGE or rbd:POOL/NAMESPACE/IMAGE");
  if (parts.size() == 2) return RbdImageName{parts[0], "", parts[1]};
  return RbdImageName{parts[0], parts[1], parts[2]};
}

}  // namespace backy

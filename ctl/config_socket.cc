#include "config_socket.h"

#include <yaml-cpp/yaml.h>

#include <string_view>

namespace backy::ctl {

namespace {

std::optional<std::string> socket_of(const YAML::Node& root) {
  if (root.IsMap() && root["global"] && root["global"]["socket"])
    return root["global"]["socket"].as<std::string>();
  return std::nullopt;
}

// The lines of the top-level block `global:` (its key line included), or nullopt when the file
// has none, or has anything that could make that block mean something else in the whole file.
std::optional<std::string> global_block(std::string_view text) {
  std::optional<size_t> from, to;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    // The cut is only sound for plain block mappings: no aliases (`*a` may name an anchor
    // outside the block), no documents, no tabs (YAML forbids them in indentation, and a
    // "top-level" line indented with one would be misread here).
    if (line.find_first_of("&*\t") != std::string_view::npos) return std::nullopt;
    const bool top = !line.empty() && line[0] != ' ' && line[0] != '#' && line[0] != '\r';
    if (top) {
      if (line.starts_with("---") || line.starts_with("...") || line[0] == '{' || line[0] == '[' ||
          line[0] == '?' || line[0] == '%')
        return std::nullopt;
      if (from && !to) to = pos;
      if (line.starts_with("global:")) {
        if (from) return std::nullopt;  // twice: the daemon refuses it; let the parser say so
        from = pos;
      }
    }
    pos = end + 1;
  }
  if (!from) return std::nullopt;
  return std::string(text.substr(*from, to.value_or(text.size()) - *from));
}

}  // namespace

std::optional<std::string> configured_socket(const std::string& text) {
  if (auto block = global_block(text)) {
    try {
      return socket_of(YAML::Load(*block));
    } catch (const YAML::Exception&) {
      // Parsed whole below: its error, if any, names the place in the file.
    }
  }
  return socket_of(YAML::Load(text));
}

}  // namespace backy::ctl

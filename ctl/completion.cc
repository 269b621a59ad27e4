#include "completion.h"

#include <sstream>

#include "args.h"
#include "protocol/commands.h"

namespace backy::ctl {

namespace {

using protocol::CommandSpec;

std::vector<std::string> split(std::string_view words) {
  std::vector<std::string> out;
  std::istringstream in{std::string(words)};
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// Whether `word` is an option that swallows the next word (global, or any command's).
bool takes_value(const std::string& word) {
  for (const auto& g : global_options())
    if (word == g.short_flag || word == g.long_flag) return !g.value_name.empty();
  for (const auto& c : protocol::all_commands())
    for (const auto& o : c.options)
      if (word == o.flag) return o.takes_value;
  return false;
}

}  // namespace

std::vector<std::string> complete(const std::vector<std::string>& words, size_t index) {
  if (index == 0 || index > words.size()) return {};
  const std::string cur = index < words.size() ? words[index] : "";
  const std::string& prev = words[index - 1];
  if (prev == "-s" || prev == "--socket" || prev == "-c" || prev == "--config") return {"@files"};
  if (takes_value(prev)) return {};  // tags: nothing to offer

  // The command is the first word that is neither an option nor an option's value.
  const CommandSpec* cmd = nullptr;
  size_t nargs = 0;
  for (size_t i = 1; i < index; ++i) {
    const std::string& w = words[i];
    if (w.size() > 1 && w[0] == '-') {
      if (takes_value(w) && w.find('=') == std::string::npos) ++i;
      continue;
    }
    if (!cmd)
      cmd = protocol::find_command(w);
    else
      ++nargs;
  }

  std::vector<std::string> out;
  if (!cur.empty() && cur[0] == '-') {
    for (const auto& g : global_options()) {
      if (!g.short_flag.empty()) out.emplace_back(g.short_flag);
      out.emplace_back(g.long_flag);
    }
    if (cmd)
      for (const auto& o : cmd->options) out.emplace_back(o.flag);
    return out;
  }
  if (!cmd) {
    for (const auto& c : protocol::all_commands()) out.emplace_back(c.name);
    return out;
  }
  // The positional this word fills; a repeating one (JOB...) fills every later word.
  for (const auto& p : cmd->positionals) {
    const bool repeats =
        p.count == protocol::Positional::many || p.count == protocol::Positional::any;
    if (nargs == 0 || repeats) return split(p.completes);
    --nargs;
  }
  return out;
}

}  // namespace backy::ctl

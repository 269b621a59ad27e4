#include "repo/rev_yaml.h"

#include "util/error.h"
#include "util/utf8.h"
#include "util/yaml_keys.h"

namespace backy {

YAML::Node load_rev_yaml(const std::string& text, const std::string& what,
                         const std::string& where) {
  auto bad = [&](const std::string& why) { return Error(what + " " + where + ": " + why); };
  if (size_t at = invalid_utf8_at(text); at != std::string::npos)
    throw bad("not UTF-8 text (byte " + std::to_string(at) + ")");
  try {
    YAML::Node n = YAML::Load(text);
    if (!n.IsMap()) throw bad("not a mapping");
    if (const auto dups = find_duplicate_keys(text); !dups.empty())
      throw bad("duplicate key '" + dups[0].key + "' at line " + std::to_string(dups[0].line) +
                " (first at line " + std::to_string(dups[0].first_line) + ")");
    return n;
  } catch (const YAML::Exception& e) {
    throw bad(e.what());
  }
}

Trust trust_of(const YAML::Node& rev, const std::string& what, const std::string& where) {
  const YAML::Node t = rev["trust"];
  const std::string word = t && t.IsScalar() ? t.Scalar() : t ? "" : "trusted";
  if (word == "trusted") return Trust::trusted;
  if (word == "distrusted") return Trust::distrusted;
  if (word == "verified") return Trust::verified;
  throw Error(what + " " + where + ": unknown 'trust' '" + word +
              "' (trusted, verified or distrusted)");
}

}  // namespace backy

// Duplicate keys in YAML text. yaml-cpp accepts a mapping that names a key twice and lookups see
// only the first, so a second `jobs:` section or a job written twice would be silently ignored.
// Callers that read files written by people or left on disk check for duplicates with this.
//
// Works on the parser's events, not on the node tree: linear in the text, and an alias is never
// followed (a node tree can contain itself through one). Pure; any thread.
#pragma once

#include <string>
#include <vector>

namespace backy {

struct DuplicateKey {
  std::string key;
  int line = 0;  // 1-based position of the repeated key
  int column = 0;
  int first_line = 0;  // 1-based position of the key's first occurrence in the same mapping
  int first_column = 0;
};

// Every scalar key that occurs again in the same mapping, at any depth, in text order, in the
// first document of `text` (the one YAML::Load reads). Null keys count as "~"; keys that are
// themselves collections or aliases are not compared.
// Throws YAML::ParserException on a syntax error: parse the text first and report that.
std::vector<DuplicateKey> find_duplicate_keys(const std::string& text);

}  // namespace backy

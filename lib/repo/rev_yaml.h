// rev_yaml: the reading rules a .rev file's YAML obeys, ours (revision.h) and upstream backy's
// (upstream_revision.h) alike. The text is bytes from disk: it is checked before any field is.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

#include "repo/revision.h"

namespace backy {

// `text` as one YAML mapping: UTF-8 (the emitter would replace what is not, and a tag would not
// survive the next rewrite), a mapping at the top, no key twice (yaml-cpp keeps the first).
// Throws backy::Error "<what> <where>: <the rule broken>".
YAML::Node load_rev_yaml(const std::string& text, const std::string& what,
                         const std::string& where);

// The `trust` word (absent: trusted, upstream's default). Any other word is an error: a mangled
// "distrusted" must not read as trusted, or the revision would become a parent.
// REQUIRES: `rev` is a mapping. Throws backy::Error "<what> <where>: ...".
Trust trust_of(const YAML::Node& rev, const std::string& what, const std::string& where);

}  // namespace backy

#include "config/key_positions.h"

#include <yaml-cpp/yaml.h>

namespace backy {

namespace {

// `node`'s position, or `otherwise` when it does not exist (or has none).
KeyPosition position(const YAML::Node& node, KeyPosition otherwise) {
  if (!node.IsDefined() || node.Mark().line < 0) return otherwise;
  return {node.Mark().line + 1, node.Mark().column + 1};
}

// The value of `key` in `map`, if `map` is a mapping (a lookup in anything else is undefined).
YAML::Node value(const YAML::Node& map, const char* key) {
  return map.IsMap() ? map[key] : YAML::Node(YAML::NodeType::Undefined);
}

}  // namespace

KeyPositions::KeyPositions(const YAML::Node& root) {
  root_ = position(root, {});
  ceph_ = position(value(root, "ceph"), root_);
  const YAML::Node global = value(root, "global");
  global_ = position(global, root_);
  if (global.IsMap())
    for (const auto& kv : global)
      if (kv.first.IsScalar())
        global_keys_.emplace(kv.first.Scalar(), position(kv.second, global_));
  const YAML::Node jobs = value(root, "jobs");
  jobs_ = position(jobs, root_);
  if (!jobs.IsMap()) return;
  jobs_by_name_.reserve(jobs.size());
  for (const auto& kv : jobs) {
    if (!kv.first.IsScalar()) continue;
    Job j;
    j.self = position(kv.second, jobs_);
    const YAML::Node source = value(kv.second, "source");
    j.source = position(source, j.self);
    j.filename = position(value(source, "filename"), j.source);
    j.image = position(value(source, "image"), j.source);
    // The first of a duplicated name, as a lookup in the tree found it.
    jobs_by_name_.emplace(kv.first.Scalar(), j);
  }
}

KeyPosition KeyPositions::at(const std::vector<std::string>& path) const {
  if (path.empty()) return root_;
  if (path[0] == "ceph") return ceph_;
  if (path[0] == "global") {
    if (path.size() < 2) return global_;
    const auto it = global_keys_.find(path[1]);
    return it == global_keys_.end() ? global_ : it->second;
  }
  if (path[0] != "jobs") return root_;
  if (path.size() < 2) return jobs_;
  const auto it = jobs_by_name_.find(path[1]);
  if (it == jobs_by_name_.end()) return jobs_;
  const Job& j = it->second;
  if (path.size() < 3 || path[2] != "source") return j.self;
  if (path.size() < 4) return j.source;
  if (path[3] == "filename") return j.filename;
  if (path[3] == "image") return j.image;
  return j.source;
}

}  // namespace backy

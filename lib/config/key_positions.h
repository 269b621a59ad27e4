// KeyPositions: where a configuration file names the things preflight (config/preflight.h)
// reports on, kept by parse_config from the tree it has just validated, so that every finding
// carries its file:line:col without the file being parsed again (with 10,000 jobs that second
// parse cost as much as the load itself).
//
// A position is that of the key's value in the file, or of the nearest enclosing value that
// exists when the key does not; {0, 0} when the file had none at all. Plain values; any thread.
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace YAML {
class Node;
}

namespace backy {

struct KeyPosition {
  int line = 0;  // 1-based; 0: unknown
  int column = 0;
};

class KeyPositions {
 public:
  KeyPositions() = default;
  // Positions of the parsed configuration `root` (a mapping, as parse_config has checked).
  explicit KeyPositions(const YAML::Node& root);

  // The position of root[path[0]][path[1]]... for the paths preflight names: {"ceph"},
  // {"global", KEY}, {"jobs", JOB, "source"} and {"jobs", JOB, "source", "filename" or
  // "image"}; for any other path, that of its longest prefix among these (the top level at
  // least).
  KeyPosition at(const std::vector<std::string>& path) const;

 private:
  struct Job {
    KeyPosition self, source, filename, image;
  };
  KeyPosition root_, ceph_, global_, jobs_;
  std::map<std::string, KeyPosition> global_keys_;
  std::unordered_map<std::string, Job> jobs_by_name_;
};

}  // namespace backy

#include "util/yaml_keys.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <map>
#include <sstream>

namespace backy {

namespace {

// Follows the nesting of the event stream; in a mapping, keys and values alternate.
class KeyCollector : public YAML::EventHandler {
 public:
  std::vector<DuplicateKey> take() { return std::move(found_); }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { leaf(mark, "~"); }
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override { node_done(); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string& value) override {
    leaf(mark, value);
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    stack_.push_back(Frame{false, true, {}});
  }
  void OnSequenceEnd() override { pop(); }
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    stack_.push_back(Frame{true, true, {}});
  }
  void OnMapEnd() override { pop(); }

 private:
  struct Frame {
    bool map = false;
    bool at_key = true;  // map only: the next node is a key
    std::map<std::string, YAML::Mark> keys;
  };

  void leaf(const YAML::Mark& mark, const std::string& value) {
    if (!stack_.empty() && stack_.back().map && stack_.back().at_key) {
      auto [first, inserted] = stack_.back().keys.emplace(value, mark);
      if (!inserted)
        found_.push_back({value, mark.line + 1, mark.column + 1, first->second.line + 1,
                          first->second.column + 1});
    }
    node_done();
  }
  void pop() {
    if (!stack_.empty()) stack_.pop_back();
    node_done();
  }
  void node_done() {
    if (!stack_.empty() && stack_.back().map) stack_.back().at_key = !stack_.back().at_key;
  }

  std::vector<Frame> stack_;
  std::vector<DuplicateKey> found_;
};

}  // namespace

std::vector<DuplicateKey> find_duplicate_keys(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  KeyCollector keys;
  parser.HandleNextDocument(keys);
  return keys.take();
}

}  // namespace backy

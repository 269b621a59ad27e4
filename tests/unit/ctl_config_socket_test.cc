// backyctl -c CONFIG: the socket path from the top-level global block alone, or from the whole
// file wherever the block alone could read differently.
#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>

#include "config_socket.h"

using backy::ctl::configured_socket;

namespace {

// A configuration with many jobs after the global block, as on a big backup host.
std::string with_jobs(const std::string& head, int jobs) {
  std::string text = head + "schedules:\n  daily:\n    daily: {interval: 1d, keep: 7}\njobs:\n";
  for (int i = 0; i < jobs; ++i)
    text +=
        "  vm" + std::to_string(i) + ": {schedule: daily, source: {type: file, filename: /x}}\n";
  return text;
}

}  // namespace

TEST_CASE("ctl config socket: global.socket from the global block", "[ctl]") {
  CHECK(configured_socket(with_jobs("global:\n  base-dir: /b\n  socket: /run/x.sock\n", 3)) ==
        "/run/x.sock");
  // The block anywhere among the top-level keys, comments and blank lines around it.
  CHECK(configured_socket(with_jobs("# head\n\n", 2) +
                          "global:\n  # the socket\n  socket: '/run/y.sock'\n\n  base-dir: /b\n") ==
        "/run/y.sock");
  CHECK(configured_socket("global:\n  base-dir: /b\n") == std::nullopt);
  CHECK(configured_socket(with_jobs("", 2)) == std::nullopt);
  CHECK(configured_socket("") == std::nullopt);
}

TEST_CASE("ctl config socket: the whole file decides where the block alone could differ", "[ctl]") {
  // An alias to an anchor outside the block.
  CHECK(configured_socket("x: &s /run/anchored.sock\nglobal:\n  socket: *s\n") ==
        "/run/anchored.sock");
  // Flow style at the top: no block to cut.
  CHECK(configured_socket("{global: {socket: /run/flow.sock}}\n") == "/run/flow.sock");
  // Only the first document counts, as when the whole file is read.
  CHECK(configured_socket("global:\n  socket: /run/one.sock\n---\nglobal:\n  socket: /two\n") ==
        "/run/one.sock");
  // CRLF line ends.
  CHECK(configured_socket("global:\r\n  socket: /run/crlf.sock\r\njobs: {}\r\n") ==
        "/run/crlf.sock");
}

TEST_CASE("ctl config socket: a global block that does not parse is an error", "[ctl]") {
  CHECK_THROWS_AS(configured_socket("global:\n  socket: [unclosed\n"), YAML::Exception);
  // A half-edited rest of the file does not lock the operator out: the block is all it reads.
  CHECK(configured_socket("global: {socket: /s}\njobs: [\n") == "/s");
}

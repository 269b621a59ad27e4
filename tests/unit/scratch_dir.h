// ScratchDir: a fresh directory under the system's temp directory for one unit test, removed
// with everything in it when the test ends. Unit tests need no XFS: they run anywhere.
#pragma once

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

namespace backy::test {

struct ScratchDir {
  std::filesystem::path dir;
  // Under `base` (default: the system's temp directory).
  explicit ScratchDir(const std::filesystem::path& base = std::filesystem::temp_directory_path()) {
    std::string t = (base / "backy-unit-XXXXXX").string();
    REQUIRE(::mkdtemp(t.data()));
    dir = t;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

}  // namespace backy::test

// Helpers for the tests on the real Ceph test cluster (CEPH_CONF): a test-side librbd handle to
// create, write, discard, resize and snapshot images (what a VM would do), `rbd export` as the
// independent oracle, and in-process backup runs through the product's own factory.
//
// The product never uses the rbd CLI; the tests may, to check it from the outside.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "backup/job_backup.h"
#include "config/config.h"
#include "ceph/ceph_api.h"
#include "source/source_factory.h"
#include "support/test_env.h"

namespace spdlog {
class logger;
}

namespace backy::test {

// CEPH_CONF, or FAIL with a clear message: CI always sets it, these tests never skip.
std::string ceph_conf();

// A test-side connection to the cluster of `conf` (its own, not the product's).
class TestCluster {
 public:
  explicit TestCluster(const std::string& conf = ceph_conf());
  ~TestCluster();
  librados::IoCtx& pool() { return io_; }
  librados::Rados& rados() { return rados_; }
  const std::string& conf() const { return conf_; }

 private:
  std::string conf_;
  librados::Rados rados_;
  librados::IoCtx io_;  // pool "rbd"
};

// An image in pool "rbd" with a unique name, removed (with all its snapshots) on destruction.
class TestImage {
 public:
  TestImage(TestCluster& cluster, uint64_t size, const std::string& prefix = "t");
  ~TestImage();
  TestImage(const TestImage&) = delete;
  TestImage& operator=(const TestImage&) = delete;

  const std::string& name() const { return name_; }
  std::string spec() const { return "rbd/" + name_; }
  uint64_t size();
  // pseudo_random_bytes(len, seed), below.
  void write(uint64_t offset, uint64_t len, uint64_t seed);
  void discard(uint64_t offset, uint64_t len);
  void resize(uint64_t size);
  void snap_create(const std::string& snap);
  void snap_remove(const std::string& snap);
  std::vector<std::string> snapshots();
  std::vector<std::string> backy_snapshots();  // names starting with "backy-"
  // Blocklists (for 10 minutes) every client watching the image but this test's own, and
  // returns how many: how an operator fences a client that crashed (kill -9 of backyd), so that
  // its dead watch does not stall the image's next notifications (the lock handover before a
  // write, a snapshot) until the OSDs' watch timeout, 30 s.
  int fence_watchers();
  // Deletes the image now (snapshots first), as an operator would.
  void remove();
  // Do not remove the image on destruction (its cluster is gone).
  void forget() { removed_ = true; }
  // After remove(): the name was taken again (by the product); remove it on destruction.
  void adopt() { removed_ = false; }

 private:
  TestCluster& cluster_;
  std::string name_;
  bool removed_ = false;
};

// The bytes TestImage::write(offset, len, seed) writes: what a test that models the image's
// content in memory copies into its model.
std::string pseudo_random_bytes(uint64_t len, uint64_t seed);

// Bytes of `file` in data extents that FIEMAP does not mark shared: what this file alone costs
// (st_blocks also counts XFS's speculative copy-on-write preallocation, freed later).
uint64_t unshared_bytes(const std::filesystem::path& file);

// `rbd export SPEC OUT` (SPEC may carry @snap); REQUIREs success.
void rbd_export(const std::string& conf, const std::string& spec, const std::filesystem::path& out);
// Whether RBD image `name` exists in pool "rbd".
bool image_exists(TestCluster& cluster, const std::string& name);

// A config with one ceph-rbd job "vm" on `image` of pool "rbd", base-dir `base_dir`.
Config rbd_config(const std::filesystem::path& base_dir, const std::string& conf,
                  const std::string& image, int timeout_seconds = 30);

// A logger that keeps every line (to assert on) and echoes it to stderr.
class CapturedLog {
 public:
  CapturedLog();
  spdlog::logger& operator*() const { return *logger_; }
  std::string text() const;

 private:
  std::shared_ptr<std::ostringstream> out_;  // before logger_: the sink writes into it
  std::shared_ptr<spdlog::logger> logger_;
};

// One backup run of job "vm" in-process, through `factory`.
BackupResult backup(const Config& config, SourceFactory& factory, spdlog::logger& log);

// What an RBD test starts from: a new image `img` of `image_size` bytes in pool "rbd" (its name
// starts with `name`), a TempDir "rbd-<name>" on the XFS mount, job "vm" backing the image up
// into <dir>/base (rbd_config), the product's factory on that config's cluster (it connects on
// first use) and a captured log. Members are destroyed in reverse: the factory and its cluster
// connection before the image and the test's own connection. Tests may change `config.jobs`
// before a run.
class RbdJob {
 public:
  RbdJob(uint64_t image_size, const std::string& name, int timeout_seconds = 30,
         const std::string& conf = ceph_conf());

  // One backup run of job "vm" through `factory`.
  BackupResult backup() { return test::backup(config, *factory, *log); }

  TestCluster cluster;
  TestImage img;
  TempDir dir;
  Config config;
  std::unique_ptr<SourceFactory> factory;
  CapturedLog log;
};

}  // namespace backy::test

#include "ceph/rbd_support.h"

#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <list>
#include <random>
#include <sstream>

#include "ceph/source_factory.h"
#include "support/test_env.h"

namespace backy::test {

std::string ceph_conf() {
  const char* conf = std::getenv("CEPH_CONF");
  if (!conf || !*conf)
    FAIL(
        "CEPH_CONF is not set: run the Ceph tests through script/test, which starts a "
        "single-node test cluster (script/ceph-cluster) and exports CEPH_CONF");
  return conf;
}

TestCluster::TestCluster(const std::string& conf) : conf_(conf) {
  REQUIRE(rados_.init2("client.admin", "ceph", 0) == 0);
  REQUIRE(rados_.conf_read_file(conf.c_str()) == 0);
  REQUIRE(rados_.conf_set("client_mount_timeout", "30") == 0);
  REQUIRE(rados_.connect() == 0);
  REQUIRE(rados_.ioctx_create("rbd", io_) == 0);
}

TestCluster::~TestCluster() {
  io_.close();
  rados_.shutdown();
}

TestImage::TestImage(TestCluster& cluster, uint64_t size, const std::string& prefix)
    : cluster_(cluster) {
  std::random_device rd;
  name_ = "backy-test-" + prefix + "-" + std::to_string(rd() % 1000000000);
  librbd::RBD rbd;
  int order = 22;  // 4 MiB objects, the default and the unit of backyd's blocks
  REQUIRE(rbd.create(cluster_.pool(), name_.c_str(), size, &order) == 0);
}

TestImage::~TestImage() {
  if (removed_) return;
  try {
    remove();
  } catch (...) {
  }
}

void TestImage::remove() {
  librbd::RBD rbd;
  {
    librbd::Image img;
    if (rbd.open(cluster_.pool(), img, name_.c_str()) == 0) {
      std::vector<librbd::snap_info_t> snaps;
      img.snap_list(snaps);
      for (const auto& s : snaps) img.snap_remove(s.name.c_str());
      img.close();
    }
  }
  int r = rbd.remove(cluster_.pool(), name_.c_str());
  removed_ = true;
  REQUIRE((r == 0 || r == -ENOENT));
}

namespace {
struct Open {
  librbd::Image img;
  Open(TestCluster& c, const std::string& name) {
    librbd::RBD rbd;
    REQUIRE(rbd.open(c.pool(), img, name.c_str()) == 0);
  }
};
}  // namespace

uint64_t TestImage::size() {
  Open o(cluster_, name_);
  uint64_t s = 0;
  REQUIRE(o.img.size(&s) == 0);
  return s;
}

std::string pseudo_random_bytes(uint64_t len, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string data(len, '\0');
  for (size_t i = 0; i + 8 <= len; i += 8) {
    uint64_t v = rng();
    std::memcpy(&data[i], &v, 8);
  }
  return data;
}

void TestImage::write(uint64_t offset, uint64_t len, uint64_t seed) {
  Open o(cluster_, name_);
  ceph::bufferlist bl;
  bl.append(pseudo_random_bytes(len, seed));
  REQUIRE(o.img.write(offset, len, bl) == static_cast<ssize_t>(len));
}

void TestImage::discard(uint64_t offset, uint64_t len) {
  Open o(cluster_, name_);
  REQUIRE(o.img.discard(offset, len) >= 0);
}

void TestImage::resize(uint64_t size) {
  Open o(cluster_, name_);
  REQUIRE(o.img.resize(size) == 0);
}

void TestImage::snap_create(const std::string& snap) {
  Open o(cluster_, name_);
  REQUIRE(o.img.snap_create(snap.c_str()) == 0);
}

void TestImage::snap_remove(const std::string& snap) {
  Open o(cluster_, name_);
  REQUIRE(o.img.snap_remove(snap.c_str()) == 0);
}

std::vector<std::string> TestImage::snapshots() {
  Open o(cluster_, name_);
  std::vector<librbd::snap_info_t> snaps;
  REQUIRE(o.img.snap_list(snaps) == 0);
  std::vector<std::string> names;
  for (const auto& s : snaps) names.push_back(s.name);
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> TestImage::backy_snapshots() {
  std::vector<std::string> out;
  for (const auto& s : snapshots())
    if (s.rfind("backy-", 0) == 0) out.push_back(s);
  return out;
}

int TestImage::fence_watchers() {
  Open o(cluster_, name_);
  std::list<librbd::image_watcher_t> watchers;
  REQUIRE(o.img.list_watchers(watchers) == 0);
  const auto me = static_cast<int64_t>(cluster_.rados().get_instance_id());
  int fenced = 0;
  for (const auto& w : watchers) {
    if (w.id == me) continue;
    INFO("blocklist " << w.addr);
    REQUIRE(cluster_.rados().blocklist_add(w.addr, 600) == 0);
    ++fenced;
  }
  return fenced;
}

uint64_t unshared_bytes(const std::filesystem::path& file) {
  uint64_t unshared = 0;
  for_each_extent(file, [&](const fiemap_extent& e) {
    if (!(e.fe_flags & FIEMAP_EXTENT_SHARED)) unshared += e.fe_length;
  });
  return unshared;
}

void rbd_export(const std::string& conf, const std::string& spec,
                const std::filesystem::path& out) {
  std::filesystem::remove(out);
  auto r = run({"rbd", "-c", conf, "export", "--no-progress", spec, out.string()});
  INFO("rbd export " << spec << ": " << r.err);
  REQUIRE(r.exit_code == 0);
}

bool image_exists(TestCluster& cluster, const std::string& name) {
  librbd::RBD rbd;
  librbd::Image img;
  return rbd.open_read_only(cluster.pool(), img, name.c_str(), nullptr) == 0;
}

Config rbd_config(const std::filesystem::path& base_dir, const std::string& conf,
                  const std::string& image, int timeout_seconds) {
  Config c;
  c.global.base_dir = base_dir;
  c.ceph.conf = conf;
  c.ceph.timeout = Seconds(timeout_seconds);
  c.schedules["s"]["daily"] = TagSpec{Seconds(86400), 3};
  JobConfig job;
  job.name = "vm";
  job.schedule = "s";
  job.source.type = SourceConfig::Type::ceph_rbd;
  job.source.pool = "rbd";
  job.source.image = image;
  c.jobs["vm"] = job;
  return c;
}

CapturedLog::CapturedLog() : out_(std::make_shared<std::ostringstream>()) {
  auto keep = std::make_shared<spdlog::sinks::ostream_sink_mt>(*out_);
  auto echo = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  logger_ = std::make_shared<spdlog::logger>("test", spdlog::sinks_init_list{keep, echo});
  logger_->set_level(spdlog::level::debug);
}

std::string CapturedLog::text() const {
  return out_->str();
}

BackupResult backup(const Config& config, SourceFactory& factory, spdlog::logger& log) {
  const JobConfig& job = config.jobs.at("vm");
  return backup_job(config, job, factory, {"daily"}, log);
}

RbdJob::RbdJob(uint64_t image_size, const std::string& name, int timeout_seconds,
               const std::string& conf)
    : cluster(conf),
      img(cluster, image_size, name),
      dir(xfs_mount(), "rbd-" + name),
      config(rbd_config(dir / "base", cluster.conf(), img.name(), timeout_seconds)),
      factory(make_source_factory(config.ceph)) {}

}  // namespace backy::test

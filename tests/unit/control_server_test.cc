// The control socket server (daemon/control_server.*) on a real Unix socket in a temp dir, with a
// FakeScheduler behind it: framing, limits, time-outs, many clients, the socket file itself.
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "control_server.h"
#include "fake_scheduler.h"
#include "protocol/message.h"
#include "repo/repository.h"
#include "test_revision.h"
#include "util/fd_passing.h"

using namespace backy;
using protocol::Json;

namespace {

int connect_to(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

void send_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return;  // the server may hang up on an oversized request: fine
    done += size_t(n);
  }
}

// Everything the server sends until it closes.
std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, size_t(n));
  return out;
}

// Sends `data` on a fresh connection and returns the final reply.
protocol::Reply ask(const std::string& path, const std::string& data) {
  int fd = connect_to(path);
  REQUIRE(fd >= 0);
  send_all(fd, data);
  std::string all = read_all(fd);
  ::close(fd);
  REQUIRE_FALSE(all.empty());
  REQUIRE(all.back() == '\n');
  all.pop_back();
  return protocol::parse_reply(
      all.substr(all.rfind('\n') == std::string::npos ? 0 : all.rfind('\n') + 1));
}

std::string request(const std::string& cmd, Json args = Json::object()) {
  return protocol::encode_request({cmd, std::move(args)});
}

struct Server {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("backy-cs-" + std::to_string(::getpid()));
  std::string path = (dir / "run" / "backyd.sock").string();
  boost::asio::io_context io;
  test::FakeScheduler sched{dir / "base"};
  std::shared_ptr<spdlog::logger> log =
      std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>());
  std::unique_ptr<ControlServer> server;
  std::thread thread;

  explicit Server(ControlLimits limits = {}, size_t extra_jobs = 0) {
    std::filesystem::remove_all(dir);
    sched.add_job("vm1");
    for (size_t i = 0; i < extra_jobs; ++i) sched.add_job("j" + std::to_string(i));
    sched.post = [this](std::function<void()> f) { boost::asio::post(io, std::move(f)); };
    Config c = sched.config();
    c.global.socket = path;
    server = std::make_unique<ControlServer>(io, sched, c, *log, -1, limits);
    server->start();
    thread = std::thread([this] { io.run(); });
  }
  ~Server() {
    boost::asio::post(io, [this] { server->stop(); });
    thread.join();
    server.reset();
    std::filesystem::remove_all(dir);
  }
};

}  // namespace

TEST_CASE("control server: the socket file is 0660 and answers requests", "[control]") {
  Server s;
  struct stat st {};
  REQUIRE(::lstat(s.path.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0660);
  auto r = ask(s.path, request("version"));
  REQUIRE(r.ok);
  CHECK(r.body["protocol"] == protocol::kVersion);
}

TEST_CASE("control server: garbage, oversized and unknown requests get an error", "[control]") {
  Server s;
  auto garbage = ask(s.path, "\x01\x02 hello\n");
  CHECK(garbage.error->code == protocol::ErrorCode::bad_request);
  auto huge = ask(s.path, std::string(200 * 1024, 'x'));
  CHECK(huge.error->code == protocol::ErrorCode::too_large);
  auto unknown = ask(s.path, R"({"v":1,"cmd":"format-disk"})"
                             "\n");
  CHECK(unknown.error->code == protocol::ErrorCode::unknown_command);
  auto unterminated = [&] {
    int fd = connect_to(s.path);
    send_all(fd, R"({"v":1,"cmd":"version"})");
    ::shutdown(fd, SHUT_WR);
    std::string all = read_all(fd);
    ::close(fd);
    return all;
  }();
  CHECK(unterminated.find("bad_request") != std::string::npos);
  // Still serving.
  CHECK(ask(s.path, request("status")).ok);
}

TEST_CASE("control server: a silent client times out without blocking others", "[control]") {
  Server s;
  int silent = connect_to(s.path);
  REQUIRE(silent >= 0);
  send_all(silent, R"({"v":1,"cmd":)");  // half a request, then nothing
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) CHECK(ask(s.path, request("status")).ok);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  std::string all = read_all(silent);  // the server answers `timeout` and hangs up
  ::close(silent);
  CHECK(all.find("\"timeout\"") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::seconds(9));
}

TEST_CASE("control server: many clients at once", "[control]") {
  Server s;
  std::vector<std::future<bool>> clients;
  for (int i = 0; i < 64; ++i)
    clients.push_back(std::async(std::launch::async, [&] {
      int fd = connect_to(s.path);
      if (fd < 0) return false;
      send_all(fd, request("status"));
      std::string all = read_all(fd);
      ::close(fd);
      return all.find("\"ok\":true") != std::string::npos;
    }));
  int ok = 0;
  for (auto& c : clients) ok += c.get();
  CHECK(ok == 64);
}

TEST_CASE("control server: run --wait streams progress, then the outcome", "[control]") {
  Server s;
  int fd = connect_to(s.path);
  send_all(fd, request("run", {{"jobs", {"vm1"}}, {"wait", true}}));
  // The run ends when the test says so, on the io thread.
  REQUIRE(test::eventually_on(s.io, [&] { return s.sched.pending_runs.count("vm1") == 1; }));
  boost::asio::post(s.io, [&] { s.sched.finish_run("vm1", true); });
  std::string all = read_all(fd);
  ::close(fd);
  CHECK(all.find("\"event\":\"queued\"") != std::string::npos);
  CHECK(all.find("\"event\":\"finished\"") != std::string::npos);
  CHECK(all.find("\"uuid\":\"uuid-vm1\"") != std::string::npos);
}

TEST_CASE("control server: a stale socket is replaced, a live one refused", "[control]") {
  Server s;
  boost::asio::io_context io2;
  Config c = s.sched.config();
  c.global.socket = s.path;
  ControlServer second(io2, s.sched, c, *s.log, -1);
  CHECK_THROWS_WITH(second.start(), Catch::Contains("already listening"));

  // A socket file nobody listens on (a crashed daemon's) is taken over.
  const std::string stale = (s.dir / "stale.sock").string();
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    stale.copy(addr.sun_path, sizeof addr.sun_path - 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    ::close(fd);
  }
  c.global.socket = stale;
  ControlServer third(io2, s.sched, c, *s.log, -1);
  REQUIRE_NOTHROW(third.start());
  third.stop();
  CHECK_FALSE(std::filesystem::exists(stale));  // stop() removes its socket file
}

TEST_CASE("control server: beyond the connection cap a client gets busy, others are served",
          "[control]") {
  Server s(ControlLimits{2, 16 << 20});
  int idle1 = connect_to(s.path), idle2 = connect_to(s.path);
  REQUIRE(test::eventually_on(s.io, [&] { return s.server->connection_count() == 2; }));
  auto busy = ask(s.path, request("version"));
  REQUIRE(busy.error);
  CHECK(busy.error->code == protocol::ErrorCode::busy);
  CHECK(busy.error->message.find("2 connections") != std::string::npos);
  CHECK(s.server->connection_count() <= 2);
  ::close(idle1);
  ::close(idle2);
  REQUIRE(test::eventually_on(s.io, [&] { return s.server->connection_count() == 0; }));
  CHECK(ask(s.path, request("version")).ok);
}

TEST_CASE("control server: a client that does not read while progress piles up is dropped",
          "[control]") {
  // run --wait on 4000 jobs: one `queued` progress line each, far more than the socket buffers.
  Server s(ControlLimits{64, 4096}, 4000);
  std::vector<std::string> jobs;
  for (size_t i = 0; i < 4000; ++i) jobs.push_back("j" + std::to_string(i));
  int fd = connect_to(s.path);
  int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  send_all(fd, request("run", {{"jobs", jobs}, {"wait", true}}));
  REQUIRE(test::eventually_on(s.io, [&] { return s.sched.pending_runs.size() == 4000; }));
  REQUIRE(test::eventually_on(s.io, [&] { return s.server->connection_count() == 0; }));
  // What the client finds when it reads at last: some progress, then the end, no response.
  std::string all = read_all(fd);
  ::close(fd);
  CHECK(all.find("\"event\":\"queued\"") != std::string::npos);
  CHECK(all.find("\"type\":\"response\"") == std::string::npos);
  CHECK(all.size() < 4000 * 40);
  CHECK(ask(s.path, request("version")).ok);
}

TEST_CASE("control server: a restore answer passes the image fd with the response line",
          "[control]") {
  Server s;
  const std::string uuid = "aaaaaaaa-0000-4000-8000-000000000001";
  {
    Repository repo(s.dir / "base" / "vm1");
    Revision r;
    r.uuid = uuid;
    r.timestamp = Clock::now();
    r.tags = {"daily"};
    r.source = {{"type", "file"}};
    backy::test::commit_test_revision(repo, r, std::string(8192, 'r'));
  }
  int fd = connect_to(s.path);
  send_all(fd, request("restore", {{"job", "vm1"}, {"rev", "0"}, {"target", "-"}, {"fd", true}}));
  std::string all;
  std::vector<UniqueFd> fds;
  char buf[4096];
  ssize_t n;
  while ((n = receive_with_fds(fd, buf, fds)) > 0) all.append(buf, size_t(n));
  ::close(fd);
  REQUIRE(!all.empty());
  protocol::Reply reply = protocol::parse_reply(all.substr(0, all.size() - 1));
  INFO(all);
  REQUIRE(reply.ok);
  CHECK(protocol::carries_fd(reply));
  CHECK(reply.body["uuid"] == uuid);
  REQUIRE(fds.size() == 1);
  std::string data(8192, '\0');
  CHECK(::pread(fds[0].get(), data.data(), data.size(), 0) == 8192);
  CHECK(data == std::string(8192, 'r'));
  CHECK(::write(fds[0].get(), "x", 1) < 0);  // read-only
}

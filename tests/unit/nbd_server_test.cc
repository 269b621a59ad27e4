// Tests of export/nbd_server.h: --listen addresses (hostile ones included), qemu-nbd's command
// line, and the child's start, descriptors, signal and reaping (with sh standing in for
// qemu-nbd; the real one is exercised by tests/integration/export_test.cc).
#include "export/nbd_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "scratch_dir.h"
#include "util/error.h"

namespace backy {
namespace {

TEST_CASE("nbd: --listen takes a numeric address and a port, nothing else", "[export]") {
  std::string why;
  auto v4 = parse_tcp_listen("192.0.2.10:10809", &why);
  REQUIRE(v4);
  CHECK(v4->host == "192.0.2.10");
  CHECK(v4->port == 10809);
  CHECK(v4->tcp());
  CHECK(v4->address() == "192.0.2.10:10809");
  CHECK(v4->uri() == "nbd://192.0.2.10:10809/");
  auto v6 = parse_tcp_listen("[::1]:1", &why);
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->address() == "[::1]:1");
  CHECK(v6->uri() == "nbd://[::1]:1/");

  const std::vector<std::pair<std::string, std::string>> bad{
      {"localhost:10809", "no numeric IPv4"},
      {"10809", "give ADDR:PORT"},
      {":10809", "give ADDR:PORT"},
      {"127.0.0.1:", "port"},
      {"127.0.0.1:0", "port"},
      {"127.0.0.1:65536", "port"},
      {"127.0.0.1:123456", "port"},
      {"127.0.0.1:-1", "port"},
      {"127.0.0.1:80x", "port"},
      {"::1:10809", "bracketed IPv6"},
      {"[127.0.0.1]:10809", "bracketed IPv6"},
      {"[]:10809", "no numeric"},
      {"1.2.3:10809", "no numeric"},
      {std::string("127.0.0.1\0:1", 12), "no numeric"},
  };
  for (const auto& [text, reason] : bad) {
    INFO(text);
    why.clear();
    CHECK_FALSE(parse_tcp_listen(text, &why));
    CHECK_THAT(why, Catch::StartsWith("--listen \"") && Catch::Contains(reason));
  }
}

TEST_CASE("nbd: qemu-nbd serves /dev/fd/3 read-only, raw, persistent, bounded", "[export]") {
  NbdListen unix_socket{.socket = "/run/backy/exports/vm.1234abcd.sock", .host = {}, .port = 0};
  CHECK(unix_socket.address() == "/run/backy/exports/vm.1234abcd.sock");
  CHECK(unix_socket.uri() == "nbd+unix:///?socket=/run/backy/exports/vm.1234abcd.sock");
  CHECK(qemu_nbd_args(unix_socket, "/run/backy/exports/vm.1234abcd.pid", 8) ==
        std::vector<std::string>{"--read-only", "--format=raw", "--persistent", "--shared=8",
                                 "--pid-file=/run/backy/exports/vm.1234abcd.pid",
                                 "--socket=/run/backy/exports/vm.1234abcd.sock", "/dev/fd/3"});
  NbdListen tcp{.socket = {}, .host = "::1", .port = 10809};
  CHECK(qemu_nbd_args(tcp, "/p", 2) ==
        std::vector<std::string>{"--read-only", "--format=raw", "--persistent", "--shared=2",
                                 "--pid-file=/p", "--bind=::1", "--port=10809", "/dev/fd/3"});
}

// Waits for the child to exit (its pidfd turns readable) and reaps it.
int wait_exit(NbdServer& s) {
  pollfd p{s.pidfd(), POLLIN, 0};
  REQUIRE(::poll(&p, 1, 10000) == 1);
  auto code = s.try_reap();
  REQUIRE(code);
  return *code;
}

std::string read_all(int fd) {
  std::string out;
  char buf[256];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
  return out;
}

TEST_CASE("nbd: the child gets the image as fd 3, /dev/null as stdin, and nothing else of ours",
          "[export]") {
  test::ScratchDir scratch;
  const auto image = scratch.dir / "image";
  std::ofstream(image) << "the revision's bytes";
  const int img = ::open(image.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(img >= 0);
  int err[2];
  REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
  // Lists its descriptors too: 0, 1, 2, 3, and the one ls opens for the listing.
  NbdServer s = NbdServer::start(
      "sh", {"-c", "cat <&3 >&2; echo >&2; cat >&2; echo '|' >&2; ls /proc/self/fd >&2"}, img, err[1]);
  ::close(err[1]);
  ::close(img);
  CHECK(s.pid() > 0);
  CHECK(wait_exit(s) == 0);
  const std::string out = read_all(err[0]);
  ::close(err[0]);
  CHECK_THAT(out, Catch::StartsWith("the revision's bytes\n|\n"));  // stdin was empty
  CHECK_THAT(out, Catch::EndsWith("|\n0\n1\n2\n3\n4\n"));
  CHECK(s.try_reap() == 0);  // the code stays
  s.signal(SIGTERM);         // reaped: nothing happens
}

TEST_CASE("nbd: SIGTERM ends the child, which is reaped with 128 + 15", "[export]") {
  const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  NbdServer s = NbdServer::start("sleep", {"30"}, null, null);
  CHECK_FALSE(s.try_reap());  // still running
  s.signal(SIGTERM);
  CHECK(wait_exit(s) == 128 + SIGTERM);
  // A child still running when its owner goes is killed and reaped.
  pid_t pid = 0;
  {
    NbdServer t = NbdServer::start("sleep", {"30"}, null, null);
    pid = t.pid();
  }
  CHECK(::kill(pid, 0) != 0);
  ::close(null);
  CHECK_THROWS_WITH(NbdServer::start("backy-no-such-program", {}, 0, 2),
                    Catch::Contains("is not installed"));
}

}  // namespace
}  // namespace backy

// Progress for people (util/progress.h) and how backyctl shows it (ctl/render.h,
// ctl/progress_line.h): the math of rate and ETA, the words, the one updating terminal line.
#include <catch2/catch.hpp>
#include <sstream>
#include <thread>

#include "progress_line.h"
#include "render.h"
#include "util/progress.h"

using namespace backy;
using protocol::Json;

TEST_CASE("progress: rate is the average since the start, ETA what is left at that rate",
          "[progress]") {
  const uint64_t MiB = 1 << 20;
  CHECK(progress_rate({0, 100 * MiB, 0}) == 0);        // no time passed: no rate
  CHECK(progress_rate({50 * MiB, 0, 2}) == 25 * MiB);  // total not known: a rate all the same
  CHECK(progress_rate({30 * MiB, 120 * MiB, 3}) == 10 * MiB);

  CHECK_FALSE(progress_eta({50 * MiB, 0, 2}));   // total unknown
  CHECK_FALSE(progress_eta({0, 100 * MiB, 5}));  // nothing done yet: rate 0, no guess
  CHECK(*progress_eta({30 * MiB, 120 * MiB, 3}) == Approx(9));
  CHECK(*progress_eta({120 * MiB, 120 * MiB, 3}) == 0);
  CHECK(*progress_eta({130 * MiB, 120 * MiB, 3}) == 0);  // a total that grew late: never < 0
}

TEST_CASE("progress: one line for people", "[progress]") {
  const uint64_t MiB = 1 << 20;
  CHECK(describe_progress({560 * MiB, 1536 * MiB, 10}) ==
        "36% (560.0 MiB of 1.5 GiB), 56.0 MiB/s, 17.4 s left");
  CHECK(describe_progress({1535 * MiB + MiB / 2, 1536 * MiB, 10}).starts_with("99% "));
  CHECK(describe_progress({1536 * MiB, 1536 * MiB, 16}) == "100% (1.5 GiB of 1.5 GiB), 96.0 MiB/s");
  CHECK(describe_progress({0, 0, 0}) == "0 B");
  CHECK(describe_progress({3 * MiB, 0, 1}) == "3.0 MiB, 3.0 MiB/s");
}

TEST_CASE("progress meter: a writer's figures and the time since start", "[progress]") {
  ProgressMeter m;
  CHECK(m.sample().elapsed == 0);  // not started
  m.start();
  m.set(10, 40);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const ProgressSample s = m.sample();
  CHECK(s.done == 10);
  CHECK(s.total == 40);
  CHECK(s.elapsed >= 0.02);
  CHECK(s.elapsed < 60);
}

TEST_CASE("backyctl progress: run events and figures, a run's end left to the answer",
          "[progress]") {
  using ctl::render_progress;
  CHECK(render_progress("run", {{"event", "queued"}, {"job", "vm1"}}) == "vm1: queued");
  CHECK(render_progress("run", {{"event", "already"}, {"job", "vm1"}, {"state", "running"}}) ==
        "vm1: already running, waiting for that run");
  CHECK(render_progress("run", {{"event", "progress"},
                                {"job", "vm1"},
                                {"done", 1 << 30},
                                {"total", uint64_t{2} << 30},
                                {"elapsed", 8}}) ==
        "vm1: 50% (1.0 GiB of 2.0 GiB), 128.0 MiB/s, 8.0 s left");
  CHECK(render_progress("run", {{"event", "finished"}, {"job", "vm1"}, {"ok", true}}).empty());
  CHECK(render_progress(
            "restore",
            {{"uuid", "0123456789abcdef"}, {"done", 1 << 20}, {"total", 4 << 20}, {"elapsed", 1}})
            .find("25% (1.0 MiB of 4.0 MiB), 1.0 MiB/s, 3.0 s left") != std::string::npos);
  CHECK(ctl::is_progress_figure({{"done", 1}, {"total", 2}}));
  CHECK_FALSE(ctl::is_progress_figure({{"done", 2}, {"total", 2}}));  // the end always shows
  CHECK_FALSE(ctl::is_progress_figure({{"event", "queued"}}));
}

TEST_CASE("backyctl progress: one updating line on a terminal, erased before the answer",
          "[progress]") {
  std::ostringstream out;
  {
    ctl::ProgressLine line(out, true);
    line.show("vm1: queued", false);
    line.show("vm1: 10%", true);
    line.show("vm1: 20%", true);
    line.clear();
    CHECK(out.str() == "\r\033[Kvm1: queued\r\033[Kvm1: 10%\r\033[Kvm1: 20%\r\033[K");
    line.show("", true);  // nothing to show: nothing written
  }
  CHECK(out.str().find('\n') == std::string::npos);
  CHECK(out.str().ends_with("\r\033[K"));
}

TEST_CASE("backyctl progress: plain lines elsewhere, figures at most every few seconds",
          "[progress]") {
  std::ostringstream out;
  ctl::ProgressLine line(out, false, std::chrono::seconds(5));
  const auto t0 = ctl::ProgressLine::Clock::now();
  line.show("vm1: queued", false, t0);
  line.show("vm1: 10%", true, t0);
  line.show("vm1: 11%", true, t0 + std::chrono::seconds(1));      // too soon: left out
  line.show("vm2: queued", false, t0 + std::chrono::seconds(2));  // an event: always
  line.show("vm1: 30%", true, t0 + std::chrono::seconds(5));
  line.clear();  // nothing to erase
  CHECK(out.str() == "vm1: queued\nvm1: 10%\nvm2: queued\nvm1: 30%\n");
}

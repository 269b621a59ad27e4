// backup-completed-callback: the job name as argument, the job's revision list (JSON) on stdin,
// its output logged; a failing callback does not fail the backup, a hanging one is killed. The
// run-callback: the same after every run, with the outcome.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "daemon_support.h"

using namespace backy;
using namespace backy::test;

TEST_CASE("daemon: the completion callback gets the job name and its revisions", "[daemon]") {
  TempDir dir(xfs_mount(), "daemon-cb");
  const auto out = dir / "cb";
  std::filesystem::create_directories(out);
  const auto script = dir / "callback.sh";
  // One file per call, named after the job; "hang" never ends, "fail" exits 3.
  std::ofstream(script) << "#!/bin/sh\n"
                           "f="
                        << out.string()
                        << "/$1-$(date +%s%N).json\n"
                           "cat > \"$f.tmp\" && mv \"$f.tmp\" \"$f\"\n"
                           "echo \"callback saw $1\"\n"
                           "case $1 in hang) sleep 600;; fail) exit 3;; esac\n";
  ::chmod(script.c_str(), 0755);
  std::string jobs;
  for (const char* j : {"ok", "fail", "hang"}) {
    write_random(dir / (std::string(j) + ".img"), 0, 1 << 20, 9);
    jobs += std::string("  ") + j + ": {schedule: fast, source: {type: file, filename: " +
            (dir / (std::string(j) + ".img")).string() + "}}\n";
  }
  const auto config = write_config(
      dir.path(), "global:\n  base-dir: " + (dir / "base").string() +
                      "\n  worker-limit: 3\n  socket: " + (dir / "sock").string() +
                      "\n  backup-completed-callback: " + script.string() +
                      "\n  callback-timeout: 1s\nschedules:\n  fast:\n    t: {interval: 3s, keep: "
                      "1000}\njobs:\n" +
                      jobs);
  Daemon d(config, dir / "backyd.log");
  REQUIRE(eventually(20, [&] {
    for (const char* j : {"ok", "fail", "hang"})
      if (revisions_of(dir / "base" / j).size() < 3) return false;
    return true;
  }));
  REQUIRE(d.stop(20) == std::optional<int>(0));
  const std::string log = d.log();
  INFO(log);

  // Every call's stdin is the job's revision list at that moment: a prefix of the final list.
  for (const char* j : {"ok", "fail", "hang"}) {
    const auto revs = revisions_of(dir / "base" / j);
    std::vector<std::filesystem::path> calls;
    for (const auto& e : std::filesystem::directory_iterator(out))
      if (e.path().filename().string().starts_with(std::string(j) + "-") &&
          e.path().extension() == ".json")
        calls.push_back(e.path());
    std::sort(calls.begin(), calls.end());
    INFO(j);
    REQUIRE(calls.size() >= 2);
    REQUIRE(calls.size() <= revs.size());
    for (size_t k = 0; k < calls.size(); ++k) {
      const auto list = nlohmann::json::parse(read_text(calls[k]));
      REQUIRE(list.is_array());
      REQUIRE(list.size() == k + 1);
      for (size_t r = 0; r < list.size(); ++r) {
        CHECK(list[r]["uuid"] == revs[r].uuid);
        CHECK(list[r]["tags"] == nlohmann::json::array({"t"}));
        CHECK(list[r]["stats"]["bytes_read"] == revs[r].stats.bytes_read);
        CHECK(list[r]["timestamp"] == format_iso8601(revs[r].timestamp));
      }
    }
  }
  CHECK(count_of(log, "[ok] backup-completed-callback output: callback saw ok") >= 2);
  CHECK(count_of(log, "[fail] backup-completed-callback " + script.string() + " exited with 3") >=
        2);
  CHECK(count_of(log, "[hang] backup-completed-callback " + script.string() +
                          " killed after the timeout of 1.0 s") >= 2);
  CHECK(count_of(log, "backup failed") == 0);
}

TEST_CASE("daemon: the run-callback follows every run, a failed one with its error", "[daemon]") {
  TempDir dir(xfs_mount(), "daemon-runcb");
  const auto out = dir / "cb";
  std::filesystem::create_directories(out);
  const auto script = dir / "run-callback.sh";
  std::ofstream(script) << "#!/bin/sh\nf=" << out.string()
                        << "/$1-$(date +%s%N).json\ncat > \"$f.tmp\" && mv \"$f.tmp\" \"$f\"\n";
  ::chmod(script.c_str(), 0755);
  write_random(dir / "good.img", 0, 1 << 20, 3);
  const auto config = write_config(
      dir.path(), "global:\n  base-dir: " + (dir / "base").string() + "\n  socket: " +
                      (dir / "sock").string() + "\n  run-callback: " + script.string() +
                      "\nschedules:\n  daily:\n    daily: {interval: 1d, keep: 3}\njobs:\n"
                      "  good: {schedule: daily, source: {type: file, filename: " +
                      (dir / "good.img").string() +
                      "}}\n  bad: {schedule: daily, source: {type: file, filename: " +
                      (dir / "missing.img").string() + "}}\n");
  Daemon d(config, dir / "backyd.log");
  auto calls_of = [&](const std::string& job) {
    std::vector<nlohmann::json> calls;
    for (const auto& e : std::filesystem::directory_iterator(out))
      if (e.path().filename().string().starts_with(job + "-") && e.path().extension() == ".json")
        calls.push_back(nlohmann::json::parse(read_text(e.path())));
    return calls;
  };
  REQUIRE(eventually(20, [&] { return !calls_of("good").empty() && !calls_of("bad").empty(); }));
  REQUIRE(d.stop(20) == std::optional<int>(0));
  INFO(d.log());
  const auto good = calls_of("good").front();
  CHECK(good["job"] == "good");
  CHECK(good["ok"] == true);
  CHECK(good["uuid"] == revisions_of(dir / "base" / "good").front().uuid);
  CHECK(good["revisions"].size() == 1);
  const auto bad = calls_of("bad").front();
  CHECK(bad["ok"] == false);
  CHECK(bad["error"].get<std::string>().find("missing.img") != std::string::npos);
  CHECK(bad["revisions"].empty());
  CHECK_FALSE(bad.contains("uuid"));
}

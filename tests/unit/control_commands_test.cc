// The control socket's command handler and views (daemon/commands.*, daemon/control_views.*),
// against a FakeScheduler, with synchronous executors: no socket, no threads.
#include <fcntl.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "commands.h"
#include "control_views.h"
#include "fake_scheduler.h"
#include "job_table_view.h"
#include "metrics_view.h"
#include "render.h"
#include "repo/repository.h"
#include "test_revision.h"
#include "util/file_io.h"

using namespace backy;
using protocol::ErrorCode;
using protocol::Json;

namespace {

struct Recorder : Responder {
  std::vector<Json> progress_lines;
  std::optional<Json> result_body;
  std::optional<protocol::Error> error_body;
  UniqueFd passed_fd;
  std::function<void()> hangup;
  void progress(const Json& p) override { progress_lines.push_back(p); }
  void result(const Json& r) override {
    REQUIRE_FALSE(done());
    result_body = r;
  }
  void result_with_fd(Json r, UniqueFd fd) override {
    r[protocol::kFdField] = true;
    result(r);
    passed_fd = std::move(fd);
  }
  void on_hangup(std::function<void()> f) override { hangup = std::move(f); }
  void await_follow_up(std::function<void(std::optional<std::string>)> f) override {
    follow_up = std::move(f);
  }
  std::function<void(std::optional<std::string>)> follow_up;
  void error(const protocol::Error& e) override {
    REQUIRE_FALSE(done());
    error_body = e;
  }
  void encoded_result(std::string line) override {
    protocol::Reply r = protocol::parse_reply(line);
    REQUIRE(r.ok);
    result(r.body);
  }
  bool done() const { return result_body || error_body; }
};

struct Fixture {
  std::filesystem::path dir;
  test::FakeScheduler sched;
  std::shared_ptr<spdlog::logger> log =
      std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>());
  // Delayed tasks (run --wait's progress ticks) wait here until the test fires them.
  std::vector<std::function<void()>> timers;
  Executors sync{[](std::function<void()> f) { f(); }, [](std::function<void()> f) { f(); },
                 [this](std::chrono::milliseconds, std::function<void()> f) {
                   timers.push_back(std::move(f));
                 }};
  // Runs the delayed tasks due so far (not those they schedule in turn).
  void tick() {
    auto due = std::move(timers);
    timers.clear();
    for (auto& f : due) f();
  }
  CommandHandler handler{sched, *log, sync};

  Fixture() : dir(make_dir()), sched(dir) {
    sched.add_job("vm1");
    sched.add_job("vm2");
  }
  ~Fixture() { std::filesystem::remove_all(dir); }
  static std::filesystem::path make_dir() {
    auto d = std::filesystem::temp_directory_path() /
             ("backy-ctl-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(d);
    return d;
  }
  static int& counter() {
    static int n = 0;
    return n;
  }

  std::shared_ptr<Recorder> call(const std::string& cmd, Json args = Json::object(),
                                 Peer peer = Peer{1, 0, 0, {}}) {
    auto r = std::make_shared<Recorder>();
    handler.handle(protocol::Request{cmd, std::move(args)}, peer, r);
    return r;
  }

  // A complete revision of `job` with a 1 MiB image of byte `fill`.
  Revision add_revision(const std::string& job, const std::string& uuid, int age_hours, char fill) {
    Repository repo(dir / job);
    Revision r;
    r.uuid = uuid;
    r.timestamp = Clock::now() - std::chrono::hours(age_hours);
    r.tags = {"daily"};
    r.stats.bytes_written = 1 << 20;
    r.source = {{"type", "file"}};
    return backy::test::commit_test_revision(repo, r, std::string(1 << 20, fill));
  }
};

const Peer kNobody{1, 65534, 65534, {}};

}  // namespace

TEST_CASE_METHOD(Fixture, "version and status answer anyone", "[control]") {
  auto v = call("version", {}, kNobody);
  REQUIRE(v->result_body);
  CHECK((*v->result_body)["protocol"] == protocol::kVersion);

  sched.job("vm2").overdue = true;
  sched.orphans_ = {"old-vm"};
  auto s = call("status", {}, kNobody);
  REQUIRE(s->result_body);
  const Json& r = *s->result_body;
  REQUIRE(r["jobs"].size() == 2);
  CHECK(r["jobs"][0]["job"] == "vm1");
  CHECK(r["jobs"][0]["state"] == "waiting");
  CHECK(r["jobs"][1]["overdue"] == true);
  CHECK(r["summary"]["jobs"] == 2);
  CHECK(r["summary"]["overdue"] == 1);
  CHECK(r["summary"]["worker_limit"] == 2);
  CHECK(r["orphans"] == Json{"old-vm"});
}

TEST_CASE_METHOD(Fixture, "changing commands need root or the admin group", "[control]") {
  for (auto [cmd, args] : std::vector<std::pair<std::string, Json>>{
           {"run", {{"jobs", {"vm1"}}}},
           {"pause", {{"all", true}}},
           {"reload", Json::object()},
           {"restore", {{"job", "vm1"}, {"rev", "0"}, {"target", "-"}}},
           {"forget", {{"job", "vm1"}, {"rev", "0"}}}}) {
    auto r = call(cmd, args, kNobody);
    REQUIRE(r->error_body);
    CHECK(r->error_body->code == ErrorCode::permission_denied);
  }
  CHECK(sched.pending_runs.empty());
  CHECK(sched.job("vm1").state == JobState::waiting);
}

TEST_CASE("admin: root always, others by primary or supplementary group", "[control]") {
  CHECK(is_admin(Peer{1, 0, 0, {}}, ""));
  CHECK_FALSE(is_admin(Peer{1, 65534, 65534, {}}, ""));
  // "root" (gid 0) exists everywhere.
  CHECK(is_admin(Peer{1, 65534, 0, {}}, "root"));
  CHECK(is_admin(Peer{1, 65534, 65534, {100, 0}}, "root"));
  CHECK_FALSE(is_admin(Peer{1, 65534, 65534, {100}}, "root"));
  CHECK_FALSE(is_admin(Peer{1, 65534, 0, {0}}, "no-such-group-here"));
  // Only the groups taken from the socket count, never what /proc/PID says now: our own process
  // (root, gid 0) named by pid gives an outsider nothing.
  CHECK_FALSE(is_admin(Peer{::getpid(), 65534, 65534, {}}, "root"));
}

TEST_CASE("peer credentials come from the socket: uid, gid and supplementary groups", "[control]") {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  Peer p = peer_of_socket(fds[0]);
  ::close(fds[0]);
  ::close(fds[1]);
  CHECK(p.pid == ::getpid());
  CHECK(p.uid == ::getuid());
  CHECK(p.gid == ::getgid());
  std::vector<gid_t> mine(static_cast<size_t>(::getgroups(0, nullptr)));
  REQUIRE(::getgroups(static_cast<int>(mine.size()), mine.data()) == static_cast<int>(mine.size()));
  std::sort(mine.begin(), mine.end());
  std::sort(p.groups.begin(), p.groups.end());
  CHECK(p.groups == mine);

  // Not a socket: nobody.
  Peer none = peer_of_socket(-1);
  CHECK(none.uid == static_cast<uid_t>(-1));
  CHECK(none.groups.empty());
  CHECK_FALSE(is_admin(none, "root"));
}

TEST_CASE_METHOD(Fixture, "run: unknown jobs, conflicts, tags and --wait", "[control]") {
  auto unknown = call("run", {{"jobs", {"vm1", "nope"}}});
  REQUIRE(unknown->error_body);
  CHECK(unknown->error_body->code == ErrorCode::not_found);
  CHECK(sched.pending_runs.empty());  // all or nothing

  auto queued = call("run", {{"jobs", {"vm1"}}, {"tags", {"manual:x"}}});
  REQUIRE(queued->result_body);
  CHECK((*queued->result_body)["jobs"][0]["queued"] == true);
  CHECK(sched.run_tags["vm1"] == std::set<std::string>{"manual:x"});

  auto again = call("run", {{"jobs", {"vm1"}}});  // queued already: success, no second run
  REQUIRE(again->result_body);
  CHECK((*again->result_body)["jobs"][0]["already"] == "queued");
  auto other_tags = call("run", {{"jobs", {"vm1"}}, {"tags", {"manual:y"}}});
  REQUIRE(other_tags->error_body);
  CHECK(other_tags->error_body->code == ErrorCode::conflict);
  CHECK(other_tags->error_body->message.find("manual:y") != std::string::npos);
  sched.finish_run("vm1", true);

  auto wait = call("run", {{"jobs", {"vm1", "vm2"}}, {"wait", true}});
  CHECK_FALSE(wait->done());
  REQUIRE(wait->progress_lines.size() == 2);
  CHECK(wait->progress_lines[0]["event"] == "queued");
  sched.finish_run("vm2", false);
  CHECK_FALSE(wait->done());
  sched.finish_run("vm1", true);
  REQUIRE(wait->result_body);
  const Json& jobs = (*wait->result_body)["jobs"];
  CHECK(jobs[0]["ok"] == true);
  CHECK(jobs[0]["uuid"] == "uuid-vm1");
  CHECK(jobs[1]["ok"] == false);
  CHECK(jobs[1]["error"] == "source unreachable");
  CHECK(wait->progress_lines.size() == 4);
}

TEST_CASE_METHOD(Fixture, "run --wait on a running job follows that run, with progress",
                 "[control]") {
  sched.job("vm1").state = JobState::running;
  sched.job("vm1").running_since = Clock::now() - std::chrono::seconds(10);
  sched.job("vm1").progress = ProgressSample{256 << 20, 1024 << 20, 10};
  auto wait = call("run", {{"jobs", {"vm1"}}, {"wait", true}});
  CHECK_FALSE(wait->done());
  REQUIRE(wait->progress_lines.size() == 1);
  CHECK(wait->progress_lines[0]["event"] == "already");
  CHECK(wait->progress_lines[0]["state"] == "running");

  // Each tick: one progress line per running job, with the figures of status.
  REQUIRE(timers.size() == 1);
  tick();
  REQUIRE(wait->progress_lines.size() == 2);
  const Json& p = wait->progress_lines[1];
  CHECK(p["event"] == "progress");
  CHECK(p["job"] == "vm1");
  CHECK(p["done"] == 256 << 20);
  CHECK(p["total"] == 1024 << 20);
  CHECK(p["rate"].get<double>() == Approx(25.6 * 1024 * 1024));
  CHECK(p["eta"].get<double>() == Approx(30));
  CHECK(p.contains("running_since"));
  REQUIRE(timers.size() == 1);  // and the next tick is set

  // A second caller follows the same run; both get its revision.
  auto second = call("run", {{"jobs", {"vm1"}}, {"wait", true}});
  sched.finish_run("vm1", true);
  REQUIRE(wait->result_body);
  REQUIRE(second->result_body);
  CHECK((*wait->result_body)["jobs"][0]["uuid"] == "uuid-vm1");
  CHECK((*second->result_body)["jobs"][0]["uuid"] == "uuid-vm1");
  tick();  // after the answer: no more lines, no more ticks
  CHECK(wait->progress_lines.back()["event"] == "finished");
  CHECK(timers.empty());
}

TEST_CASE_METHOD(Fixture, "run --all runs every job, --wait follows them all", "[control]") {
  auto both = call("run", {{"all", true}, {"wait", true}});
  CHECK(sched.pending_runs.size() == 2);
  sched.finish_run("vm1", true);
  CHECK_FALSE(both->done());
  sched.finish_run("vm2", true);
  REQUIRE(both->result_body);
  const Json& jobs = (*both->result_body)["jobs"];
  REQUIRE(jobs.size() == 2);
  CHECK(jobs[0]["uuid"] == "uuid-vm1");
  CHECK(jobs[1]["uuid"] == "uuid-vm2");

  auto bad = call("run", {{"all", true}, {"jobs", {"vm1"}}});
  REQUIRE(bad->error_body);
  CHECK(bad->error_body->code == ErrorCode::bad_request);
}

TEST_CASE("status JSON: a running backup has its start and progress, and no next time",
          "[control]") {
  JobStatus s;
  s.name = "vm1";
  s.state = JobState::running;
  s.running_since = Clock::now();
  s.progress = ProgressSample{50, 200, 5};
  const Json j = job_json(s);
  CHECK(j["next_time"].is_null());
  CHECK(j["running_since"].is_string());
  CHECK(j["progress"]["done"] == 50);
  CHECK(j["progress"]["total"] == 200);
  CHECK(j["progress"]["rate"] == 10.0);
  CHECK(j["progress"]["eta"] == 15.0);
  s.progress = ProgressSample{50, 0, 5};  // total not known yet
  CHECK(job_json(s)["progress"]["eta"].is_null());
}

TEST_CASE("status table: the rows carry what the whole job objects print", "[control]") {
  const TimePoint t0 = TimePoint(std::chrono::seconds(1700000000));
  JobStatus done;  // a backup, a next run
  done.name = "vm1";
  done.last_backup = NewestRevision{};
  done.last_backup->timestamp = t0;
  done.last_backup->tags = {"daily", "weekly"};
  done.last_backup->duration = 12.5;
  done.next_time = t0 + std::chrono::hours(24);
  done.next_tags = {"daily"};
  done.lane = Lane::fast;
  JobStatus running;  // no backup yet, one running
  running.name = "vm2";
  running.state = JobState::running;
  running.overdue = true;
  running.running_since = t0;
  running.progress = ProgressSample{50, 200, 5};
  running.next_tags = {"daily"};
  JobStatus paused;
  paused.name = "vm3";
  paused.state = JobState::paused;
  paused.pause = PauseNote{"root (uid 0)", t0, "disk swap"};
  const std::vector<JobStatus> jobs{done, running, paused};

  auto answer = [&](bool as_table) {
    StatusAnswer a(as_table);
    for (const auto& s : jobs) a.add(JobStatus(s));
    const protocol::Reply reply = protocol::parse_reply(a.finish({{"old"}, 1, 0, 2}));
    REQUIRE(reply.ok);
    return reply.body;
  };
  const Json whole = answer(false);
  const Json table = answer(true);
  CHECK_FALSE(whole.contains("rows"));
  // A line per job, nine fields apart by tabs, empty where there is nothing.
  CHECK(table["rows"] == "vm1\twaiting\tfast\t0\t" + format_iso8601(t0) + "\tdaily,weekly\t12.5\t" +
                             format_iso8601(t0 + std::chrono::hours(24)) + "\tdaily\n" +
                             "vm2\trunning\tslow\t1\t\t\t\t\tdaily\n" +
                             "vm3\tpaused\tslow\t0\t\t\t\t\t\n");
  // Only the jobs the text says more of keep their whole object.
  REQUIRE(table["jobs"].size() == 2);
  CHECK(table["jobs"][0]["job"] == "vm2");
  CHECK(table["jobs"][1]["job"] == "vm3");
  CHECK(table["summary"] == whole["summary"]);

  std::ostringstream from_whole, from_table;
  ctl::render("status", whole, from_whole);
  ctl::render("status", table, from_table);
  CHECK(from_table.str() == from_whole.str());
  CHECK(from_table.str().find("vm2: running since ") != std::string::npos);
  CHECK(from_table.str().find("vm3: paused by root (uid 0) since ") != std::string::npos);
  CHECK(from_table.str().find("daily,weekly") != std::string::npos);
}

TEST_CASE("status table: a control byte in a tag cannot split a row, a bad row is an error",
          "[control]") {
  JobStatus s;
  s.name = "vm1";
  s.last_backup = NewestRevision{};
  s.last_backup->tags = {"da\tily", "we\nekly"};  // as a hostile revision file could have them
  std::string rows;
  append_status_row(rows, s);
  CHECK(std::count(rows.begin(), rows.end(), '\t') == 8);
  CHECK(rows.find("\tda?ily,we?ekly\t") != std::string::npos);
  CHECK(std::count(rows.begin(), rows.end(), '\n') == 1);

  StatusAnswer a(true);
  a.add(JobStatus(s));
  Json answer = protocol::parse_reply(a.finish({{}, 0, 0, 1})).body;
  CHECK(answer["rows"] == rows);
  std::ostringstream out;
  ctl::render("status", answer, out);
  CHECK(out.str().find("da?ily,we?ekly") != std::string::npos);
  for (const std::string bad : {"vm1\tidle\n", "a\tb\tc\td\te\tf\tg\th\ti\tj\n"}) {
    answer["rows"] = bad;
    CHECK_THROWS_WITH(ctl::render("status", answer, out), Catch::Contains("not 9 fields"));
  }
  answer["rows"] = Json::array();  // the form of a backyd from before the rows were text
  CHECK_THROWS_WITH(ctl::render("status", answer, out), Catch::Contains("not text"));
}

TEST_CASE_METHOD(Fixture, "pause and resume, one job or all", "[control]") {
  REQUIRE(call("pause", {{"all", true}})->result_body);
  CHECK(sched.job("vm1").state == JobState::paused);
  CHECK(sched.job("vm2").state == JobState::paused);
  REQUIRE(call("resume", {{"jobs", {"vm2"}}})->result_body);
  CHECK(sched.job("vm2").state == JobState::waiting);
  CHECK(call("resume", {{"jobs", {"ghost"}}})->error_body->code == ErrorCode::not_found);
}

TEST_CASE_METHOD(Fixture, "reload reports acceptance and errors", "[control]") {
  CHECK((*call("reload")->result_body)["accepted"] == true);
  sched.reload_accepts = false;
  auto r = call("reload");
  CHECK((*r->result_body)["accepted"] == false);
  CHECK((*r->result_body)["errors"][0] == "backy.yaml:3:4: bad");
}

TEST_CASE_METHOD(Fixture, "health shows a refused reload as WARNING until an accepted one",
                 "[control]") {
  sched.reload_accepts = false;
  call("reload");
  auto h = call("health");
  REQUIRE(h->result_body);
  CHECK((*h->result_body)["status"] == "WARNING");
  CHECK((*h->result_body)["problems"].dump().find("reload refused") != std::string::npos);
  CHECK((*h->result_body)["problems"].dump().find("backy.yaml:3:4: bad") != std::string::npos);

  sched.reload_accepts = true;
  call("reload");
  h = call("health");
  REQUIRE(h->result_body);
  CHECK((*h->result_body)["problems"].dump().find("reload refused") == std::string::npos);
}

TEST_CASE_METHOD(Fixture, "status JOB lists revisions newest last with the data total",
                 "[control]") {
  add_revision("vm1", "aaaaaaaa-0000-4000-8000-000000000001", 48, 'a');
  add_revision("vm1", "aaaaaaaa-0000-4000-8000-000000000002", 24, 'b');
  auto r = call("status", {{"job", "vm1"}}, kNobody);
  REQUIRE(r->result_body);
  const Json& body = *r->result_body;
  REQUIRE(body["revisions"].size() == 2);
  CHECK(body["revisions"][1]["uuid"] == "aaaaaaaa-0000-4000-8000-000000000002");
  CHECK(body["bytes_written"] == 2 << 20);
  CHECK(body["job"]["job"] == "vm1");
  CHECK(call("status", {{"job", "ghost"}})->error_body->code == ErrorCode::not_found);
}

TEST_CASE_METHOD(Fixture, "restore: the daemon passes the image read-only and writes no file",
                 "[control]") {
  add_revision("vm1", "aaaaaaaa-0000-4000-8000-000000000001", 2, 'x');
  for (const std::string& target :
       std::vector<std::string>{"-", "/var/tmp/backy-unit-never-written.img"}) {
    auto s = call("restore", {{"job", "vm1"}, {"rev", "latest"}, {"target", target}, {"fd", true}});
    REQUIRE(s->result_body);
    CHECK((*s->result_body)["fd"] == true);
    CHECK((*s->result_body)["uuid"] == "aaaaaaaa-0000-4000-8000-000000000001");
    CHECK((*s->result_body)["size"] == 1 << 20);
    CHECK((*s->result_body)["base_dir"] == dir.string());
    REQUIRE(s->passed_fd);
    const int flags = ::fcntl(s->passed_fd.get(), F_GETFL);
    CHECK((flags & O_ACCMODE) == O_RDONLY);
    CHECK((::fcntl(s->passed_fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
    std::string data(1 << 20, '\0');
    CHECK(::pread(s->passed_fd.get(), data.data(), data.size(), 0) == 1 << 20);
    CHECK(data == std::string(1 << 20, 'x'));
  }
  // The client writes the target.
  CHECK_FALSE(std::filesystem::exists("/var/tmp/backy-unit-never-written.img"));

  // Without "fd": true (a client that cannot take the image) the request is refused.
  auto no_fd = call("restore", {{"job", "vm1"}, {"rev", "0"}, {"target", "/var/tmp/x.img"}});
  REQUIRE(no_fd->error_body);
  CHECK(no_fd->error_body->code == ErrorCode::bad_request);
  CHECK(no_fd->error_body->message.find("\"fd\": true") != std::string::npos);
  auto relative =
      call("restore", {{"job", "vm1"}, {"rev", "0"}, {"target", "x.img"}, {"fd", true}});
  CHECK(relative->error_body->code == ErrorCode::bad_request);
  auto missing = call("restore", {{"job", "vm1"}, {"rev", "7"}, {"target", "-"}, {"fd", true}});
  CHECK(missing->error_body->code == ErrorCode::not_found);
  CHECK_FALSE(missing->passed_fd);
}

TEST_CASE_METHOD(Fixture, "restore: a target inside base-dir is refused before any fd is passed",
                 "[control]") {
  add_revision("vm1", "aaaaaaaa-0000-4000-8000-000000000001", 2, 'x');
  for (const std::string& target : std::vector<std::string>{
           (dir / "vm1" / "latest").string(), (dir / "vm1" / ".." / "vm2" / "new.img").string(),
           (dir / "x.img").string()}) {
    auto r = call("restore", {{"job", "vm1"}, {"rev", "0"}, {"target", target}, {"fd", true}});
    REQUIRE(r->error_body);
    CHECK(r->error_body->code == ErrorCode::bad_request);
    CHECK(r->error_body->message.find("inside base-dir") != std::string::npos);
    CHECK_FALSE(r->passed_fd);
  }
}

TEST_CASE_METHOD(Fixture, "restore: the image is never opened through a symlink", "[control]") {
  // A revision whose image name is a symlink to a file outside the repository.
  const std::string uuid = "aaaaaaaa-0000-4000-8000-000000000001";
  add_revision("vm1", uuid, 2, 'x');
  std::filesystem::remove(dir / "vm1" / uuid);
  std::ofstream(dir / "secret") << std::string(1 << 20, 's');
  std::filesystem::create_symlink(dir / "secret", dir / "vm1" / uuid);
  auto r = call("restore", {{"job", "vm1"}, {"rev", uuid}, {"target", "-"}, {"fd", true}});
  REQUIRE(r->error_body);
  // A revision whose image is no regular file is no complete revision at all.
  CHECK(r->error_body->code == ErrorCode::not_found);
  CHECK_FALSE(r->passed_fd);
}

TEST_CASE_METHOD(Fixture, "restore: rbd targets only in the pools restore-pools allows",
                 "[control]") {
  add_revision("vm1", "aaaaaaaa-0000-4000-8000-000000000001", 2, 'x');
  // vm1 is a file job: no pool unless configured.
  auto none = call("restore", {{"job", "vm1"}, {"rev", "0"}, {"target", "rbd:rbd/restored"}});
  REQUIRE(none->error_body);
  CHECK(none->error_body->code == ErrorCode::permission_denied);
  CHECK(none->error_body->message.find("\"rbd\"") != std::string::npos);
  CHECK(none->error_body->message.find("restore-pools") != std::string::npos);

  sched.mutable_config().global.restore_pools = std::vector<std::string>{"restore"};
  auto other = call("restore", {{"job", "vm1"}, {"rev", "0"}, {"target", "rbd:rbd/restored"}});
  REQUIRE(other->error_body);
  CHECK(other->error_body->code == ErrorCode::permission_denied);
  CHECK(other->error_body->message.find("only restore is") != std::string::npos);

  // An allowed pool gets through to the target factory (here one without Ceph).
  auto allowed =
      call("restore", {{"job", "vm1"}, {"rev", "0"}, {"target", "rbd:restore/restored"}});
  REQUIRE(allowed->error_body);
  CHECK(allowed->error_body->code == ErrorCode::failed);
  CHECK(allowed->error_body->message.find("not available here") != std::string::npos);

  // The job's own setting wins over the global one.
  sched.mutable_config().jobs["vm1"].restore_pools = std::vector<std::string>{};
  auto job_level =
      call("restore", {{"job", "vm1"}, {"rev", "0"}, {"target", "rbd:restore/restored"}});
  REQUIRE(job_level->error_body);
  CHECK(job_level->error_body->code == ErrorCode::permission_denied);
  CHECK(job_level->error_body->message.find("no pool is") != std::string::npos);

  auto bad = call("restore", {{"job", "vm1"}, {"rev", "0"}, {"target", "rbd:nopool"}});
  CHECK(bad->error_body->code == ErrorCode::bad_request);
}

TEST_CASE_METHOD(Fixture, "tags and forget change the revision files", "[control]") {
  add_revision("vm1", "aaaaaaaa-0000-4000-8000-000000000001", 2, 'x');
  auto t = call(
      "tags", {{"job", "vm1"}, {"rev", "latest"}, {"add", {"manual:keep"}}, {"remove", {"daily"}}});
  REQUIRE(t->result_body);
  auto revs = Repository(dir / "vm1").revisions();
  REQUIRE(revs.size() == 1);
  CHECK(revs[0].tags == std::set<std::string>{"manual:keep"});

  // The only revision is the newest: not without force.
  auto careful = call("forget", {{"job", "vm1"}, {"rev", "aaaaaaaa"}});
  REQUIRE(careful->error_body);
  CHECK(careful->error_body->message.find("give --force") != std::string::npos);
  CHECK(Repository(dir / "vm1").revisions().size() == 1);
  auto dry = call("forget", {{"job", "vm1"}, {"rev", "aaaaaa"}, {"dry_run", true}});
  REQUIRE(dry->result_body);
  CHECK((*dry->result_body)["forgotten"][0]["uuid"] == "aaaaaaaa-0000-4000-8000-000000000001");
  CHECK(Repository(dir / "vm1").revisions().size() == 1);
  auto f = call("forget", {{"job", "vm1"}, {"rev", "aaaaaaaa"}, {"force", true}});
  REQUIRE(f->result_body);
  CHECK(Repository(dir / "vm1").revisions().empty());
}

TEST_CASE("health: each state and its exit code", "[control]") {
  HealthFacts f;
  f.reflinks = true;
  f.base_dir = "/srv/backy";
  JobStatus a;
  a.name = "a";
  JobStatus b;
  b.name = "b";
  f.jobs = {a, b};
  Json ok = evaluate_health(f);
  CHECK(ok["status"] == "OK");
  CHECK(ok["exit_code"] == 0);
  CHECK(ok["summary"] == "2 jobs, all within SLA");

  HealthFacts failed = f;
  failed.jobs[1].last_run = RunOutcome{false, "boom", "", {}, 1, {}, {}};
  Json w = evaluate_health(failed);
  CHECK(w["status"] == "WARNING");
  CHECK(w["exit_code"] == 1);
  CHECK(w["problems"][0]["job"] == "b");

  // A committed run whose expiry failed: the revision is safe, but the admin must hear of it.
  HealthFacts expiry_failed = f;
  expiry_failed.jobs[0].last_run = RunOutcome{true, "", "u", {}, 1, {}, {"expiry failed: EIO"}};
  Json e = evaluate_health(expiry_failed);
  CHECK(e["status"] == "WARNING");
  CHECK(e["problems"][0]["job"] == "a");
  CHECK(e["problems"][0]["message"] == "last run: expiry failed: EIO");

  HealthFacts noreflink = f;
  noreflink.reflinks = false;
  CHECK(evaluate_health(noreflink)["exit_code"] == 1);

  HealthFacts distrusted = f;
  distrusted.jobs[0].findings.distrusted = {"u1"};
  CHECK(evaluate_health(distrusted)["exit_code"] == 1);

  HealthFacts bad = f;
  bad.jobs[0].findings.distrusted = {"u1"};
  bad.jobs[0].findings.bad_blocks["u1"] = 3;
  Json c = evaluate_health(bad);
  CHECK(c["exit_code"] == 2);
  CHECK(c["problems"].size() == 1);  // bad blocks, not counted again as distrusted

  HealthFacts overdue = failed;
  overdue.jobs[1].overdue = true;  // overdue wins over "failed within SLA"
  Json o = evaluate_health(overdue);
  CHECK(o["status"] == "CRITICAL");
  CHECK(o["problems"].size() == 1);
  CHECK(o["summary"] == "2 jobs, 1 overdue");

  // A paused job is a reminder with its reason, not an alarm, however overdue.
  HealthFacts paused = overdue;
  paused.jobs[1].pause =
      PauseNote{"alice (uid 1000)", TimePoint(std::chrono::seconds(1700000000)), "disk swap"};
  Json p = evaluate_health(paused);
  CHECK(p["status"] == "WARNING");
  CHECK(p["exit_code"] == 1);
  REQUIRE(p["problems"].size() == 1);
  const std::string m = p["problems"][0]["message"];
  CHECK(m.starts_with("paused by alice (uid 1000) since 2023-11-14T22:13:20"));
  CHECK(m.find(": disk swap (last backup never)") != std::string::npos);
  CHECK(p["summary"] == "2 jobs, 1 paused");
}

TEST_CASE("metrics: one sample per job and family, daemon gauges", "[control]") {
  JobStatus a;
  a.name = "vm\"1";
  a.overdue = true;
  a.total_failures = 3;
  a.revision_count = 7;
  Revision r;
  r.timestamp = TimePoint(std::chrono::seconds(1700000000));
  r.stats.duration = 12.5;
  a.last_backup = newest_of(r);
  const std::string text = metrics_text({a}, 1, 4, 2);
  CHECK(text.find("backy_job_last_success_timestamp_seconds{job=\"vm\\\"1\"} 1700000000\n") !=
        std::string::npos);
  CHECK(text.find("backy_job_last_duration_seconds{job=\"vm\\\"1\"} 12.5\n") != std::string::npos);
  CHECK(text.find("backy_job_failures_total{job=\"vm\\\"1\"} 3\n") != std::string::npos);
  CHECK(text.find("backy_job_overdue{job=\"vm\\\"1\"} 1\n") != std::string::npos);
  CHECK(text.find("backy_job_revisions{job=\"vm\\\"1\"} 7\n") != std::string::npos);
  CHECK(text.find("backy_jobs_running 1\n") != std::string::npos);
  CHECK(text.find("backy_jobs_queued 4\n") != std::string::npos);
  CHECK(text.find("backy_worker_limit 2\n") != std::string::npos);
  CHECK(text.find("# TYPE backy_job_failures_total counter\n") != std::string::npos);
}

TEST_CASE_METHOD(Fixture, "metrics: the rows are read at the request, the text made on a reader",
                 "[control]") {
  // The reader's tasks wait until the test runs them; the job table changes meanwhile.
  std::vector<std::function<void()>> reads;
  Executors deferred{[&](std::function<void()> f) { reads.push_back(std::move(f)); }, sync.loop,
                     sync.after};
  CommandHandler h{sched, *log, deferred};
  sched.job("vm1").total_failures = 3;
  sched.mutable_config().global.read_limit = 100 << 20;
  auto now = [&] {
    // What metrics_text() on the io thread made before: the jobs, the lanes, the read limit.
    return metrics_text(sched.status(), sched.running_count(), sched.queued_count(),
                        sched.config().global.worker_limit) +
           lane_metrics_text(sched.lane_loads()) +
           read_limit_metrics_text(sched.config().global.read_limit);
  };
  // Then base-dir's space, whose figures may move between two calls.
  auto expect_answer = [](const std::string& text, const std::string& expected) {
    REQUIRE(text.size() > expected.size());
    CHECK(text.substr(0, expected.size()) == expected);
    CHECK(text.substr(expected.size()).starts_with("# HELP backy_base_dir_free_bytes "));
  };

  const std::string at_request = now();
  auto r = std::make_shared<Recorder>();
  h.handle(protocol::Request{"metrics", Json::object()}, kNobody, r);
  REQUIRE(reads.size() == 1);
  CHECK_FALSE(r->done());
  sched.job("vm1").total_failures = 4;
  sched.add_job("vm3");
  sched.mutable_config().global.read_limit = 0;
  reads.back()();
  REQUIRE(r->result_body);
  expect_answer((*r->result_body)["text"], at_request);
  CHECK(at_request.find("backy_job_failures_total{job=\"vm1\"} 3\n") != std::string::npos);

  // The metrics-file: the same text, written by the reader.
  const auto file = dir / "backy.prom";
  sched.mutable_config().global.metrics_file = file.string();
  const std::string at_write = now();
  h.write_metrics_file();
  REQUIRE(reads.size() == 2);
  CHECK_FALSE(std::filesystem::exists(file));
  sched.job("vm1").total_failures = 5;
  reads.back()();
  expect_answer(read_file(file), at_write);
  CHECK(at_write.find("backy_job_failures_total{job=\"vm3\"} 0\n") != std::string::npos);
}

TEST_CASE_METHOD(Fixture, "status: the jobs are copied at the request, encoded on a reader",
                 "[control]") {
  std::vector<std::function<void()>> reads;
  Executors deferred{[&](std::function<void()> f) { reads.push_back(std::move(f)); }, sync.loop,
                     sync.after};
  CommandHandler h{sched, *log, deferred};
  for (const bool table : {false, true}) {
    sched.job("vm1").total_failures = 3;
    sched.job("vm2").state = JobState::paused;
    sched.job("vm2").pause = PauseNote{"root (uid 0)", Clock::now(), ""};
    // What the answer must say: the table as it is now.
    StatusAnswer now(table);
    sched.each_status([&](JobStatus&& s) { now.add(std::move(s)); });
    const Json expected = protocol::parse_reply(now.finish({})).body;

    auto r = std::make_shared<Recorder>();
    h.handle(protocol::Request{"status", {{"table", table}}}, kNobody, r);
    REQUIRE(reads.size() == 1);
    CHECK_FALSE(r->done());
    sched.job("vm1").total_failures = 4;
    sched.job("vm2").state = JobState::waiting;
    sched.job("vm2").pause.reset();
    reads.back()();
    reads.clear();
    REQUIRE(r->result_body);
    CHECK((*r->result_body)["jobs"] == expected["jobs"]);
    CHECK((*r->result_body)["summary"]["paused"] == 1);
    if (table) CHECK((*r->result_body)["rows"] == expected["rows"]);
  }
}

TEST_CASE("status JSON and metrics: a job's limits and the time throttled", "[control]") {
  JobStatus a;
  a.name = "vm1";
  a.read_limit = 20 << 20;
  a.io_priority = "idle";
  a.throttled = 4.5;
  a.throttled_total = 12.25;
  a.progress = ProgressSample{50, 200, 5, 4.5};
  JobStatus b;
  b.name = "vm2";
  const Json j = job_json(a);
  CHECK(j["read_limit"] == 20 << 20);
  CHECK(j["io_priority"] == "idle");
  CHECK(j["throttled"] == 4.5);
  CHECK(j["progress"]["throttled"] == 4.5);
  CHECK(job_json(b)["read_limit"].is_null());
  CHECK(job_json(b)["io_priority"].is_null());
  CHECK(job_json(b)["throttled"] == 0);
  RunOutcome run;
  run.throttled = 2;
  b.last_run = run;
  CHECK(job_json(b)["last_run"]["throttled"] == 2);

  const std::string text = metrics_text({a, b}, 1, 0, 2) + read_limit_metrics_text(100 << 20);
  CHECK(text.find("backy_job_read_limit_bytes{job=\"vm1\"} 20971520\n") != std::string::npos);
  CHECK(text.find("backy_job_read_limit_bytes{job=\"vm2\"} 0\n") != std::string::npos);
  CHECK(text.find("backy_job_throttled_seconds_total{job=\"vm1\"} 12.25\n") != std::string::npos);
  CHECK(text.find("# TYPE backy_job_throttled_seconds_total counter\n") != std::string::npos);
  CHECK(text.find("backy_read_limit_bytes 104857600\n") != std::string::npos);
}

TEST_CASE_METHOD(Fixture, "health answers from the scheduler's findings and reads no job directory",
                 "[control]") {
  // On disk: a revision a scrub found damaged. The scheduler has not read it (yet): health
  // must not scan for it (10,000 jobs: a scan per call is seconds).
  Revision r = add_revision("vm1", "aaaaaaaa-0000-4000-8000-000000000001", 2, 'x');
  {
    Repository repo(dir / "vm1");
    auto lock = repo.lock();
    r.trust = Trust::distrusted;
    r.bad_blocks = {0};
    r.scrubbed = format_iso8601(Clock::now());
    repo.update(lock, r);
  }
  auto first = call("health", {}, kNobody);
  REQUIRE(first->result_body);
  CHECK((*first->result_body)["exit_code"] != 2);
  // The scheduler's history says so (as after the scrub's job work): CRITICAL at once.
  sched.job("vm1").findings.distrusted = {r.uuid};
  sched.job("vm1").findings.bad_blocks[r.uuid] = 1;
  auto second = call("health", {}, kNobody);
  REQUIRE(second->result_body);
  CHECK((*second->result_body)["exit_code"] == 2);
  CHECK((*second->result_body)["problems"][0]["message"] ==
        "revision " + r.uuid + ": scrub found 1 bad block");
}

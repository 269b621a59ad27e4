// The control socket's large answers are encoded straight into the response line
// (protocol/json_writer.h, daemon/job_table_view.h, daemon/metrics_view.h). What they encode is
// pinned here against the bytes the nlohmann trees of the earlier implementation produced
// (captured before the change): the JSON shapes of docs/protocol.md, member order included.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "control_views.h"
#include "job_table_view.h"
#include "metrics_view.h"
#include "protocol/json_writer.h"

using namespace backy;
using protocol::Json;
using protocol::JsonWriter;

namespace {

const TimePoint t0 = TimePoint(std::chrono::seconds(1700000000));

// Three jobs that between them set every field a job's entry can have.
std::vector<JobStatus> sample_jobs() {
  JobStatus a;
  a.name = "vm\"1\\ \xc3\xa9\n";
  a.state = JobState::running;
  a.overdue = true;
  Revision r;
  r.uuid = "aaaaaaaa-0000-4000-8000-000000000001";
  r.timestamp = t0;
  r.tags = {"daily", "weekly"};
  r.stats.duration = 12.5;
  r.stats.bytes_written = 77;
  r.trust = Trust::verified;
  r.consistency = Consistency::frozen;
  a.last_backup = newest_of(r);
  a.last_run = RunOutcome{true, "", "u1", t0, 3.0, {"daily"}, {"expiry failed: EIO"}, 1.25};
  a.running_since = t0 + std::chrono::seconds(5);
  a.progress = ProgressSample{50, 200, 5, 0.5};
  a.next_tags = {"daily"};
  a.consecutive_failures = 2;
  a.total_failures = 5;
  a.revision_count = 7;
  a.bytes_written_total = 1ull << 40;
  a.pause = PauseNote{"alice (uid 1000)", t0, "disk \"swap\""};
  a.read_limit = 20 << 20;
  a.io_priority = "idle";
  a.throttled = 0.5;
  a.throttled_total = 12.25;
  a.lane = Lane::fast;
  JobStatus b;
  b.name = "vm2";
  b.next_time = t0 + std::chrono::hours(24);
  b.next_tags = {"daily", "monthly"};
  b.last_run = RunOutcome{false, "source \x01 unreachable", "", t0, 1.0, {}, {}, 0};
  JobStatus c;
  c.name = "vm3";
  c.state = JobState::paused;
  c.pause = PauseNote{"root (uid 0)", t0, ""};
  c.last_backup = newest_of(r);
  c.last_backup->duration = 1.0;
  return {a, b, c};
}

// What the earlier implementation (nlohmann trees, encode_result) answered for them.
const char* const kJobLines[] = {
    R"json({"ok":true,"result":{"bytes_written":1099511627776,"consecutive_failures":2,"io_priority":"idle","job":"vm\"1\\ é\n","lane":"fast","last_backup":{"consistency":"frozen","duration":12.5,"tags":["daily","weekly"],"time":"2023-11-14T22:13:20.000000+00:00","trust":"verified","uuid":"aaaaaaaa-0000-4000-8000-000000000001"},"last_run":{"duration":3.0,"ok":true,"started":"2023-11-14T22:13:20.000000+00:00","tags":["daily"],"throttled":1.25,"uuid":"u1","warnings":["expiry failed: EIO"]},"next_tags":["daily"],"next_time":null,"overdue":true,"pause":{"by":"alice (uid 1000)","reason":"disk \"swap\"","since":"2023-11-14T22:13:20.000000+00:00"},"progress":{"done":50,"elapsed":5.0,"eta":15.0,"rate":10.0,"throttled":0.5,"total":200},"read_limit":20971520,"revisions":7,"running_since":"2023-11-14T22:13:25.000000+00:00","state":"running","throttled":0.5,"total_failures":5},"type":"response","v":1}
)json",
    R"json({"ok":true,"result":{"bytes_written":0,"consecutive_failures":0,"io_priority":null,"job":"vm2","lane":"slow","last_backup":null,"last_run":{"duration":1.0,"error":"source \u0001 unreachable","ok":false,"started":"2023-11-14T22:13:20.000000+00:00","tags":[],"throttled":0.0},"next_tags":["daily","monthly"],"next_time":"2023-11-15T22:13:20.000000+00:00","overdue":false,"pause":null,"read_limit":null,"revisions":0,"state":"waiting","throttled":0.0,"total_failures":0},"type":"response","v":1}
)json",
    R"json({"ok":true,"result":{"bytes_written":0,"consecutive_failures":0,"io_priority":null,"job":"vm3","lane":"slow","last_backup":{"consistency":"frozen","duration":1.0,"tags":["daily","weekly"],"time":"2023-11-14T22:13:20.000000+00:00","trust":"verified","uuid":"aaaaaaaa-0000-4000-8000-000000000001"},"last_run":null,"next_tags":[],"next_time":null,"overdue":false,"pause":{"by":"root (uid 0)","reason":"","since":"2023-11-14T22:13:20.000000+00:00"},"read_limit":null,"revisions":0,"state":"paused","throttled":0.0,"total_failures":0},"type":"response","v":1}
)json"};
const char* const kStatusLine =
    R"json({"ok":true,"result":{"base_dir":null,"jobs":[{"bytes_written":1099511627776,"consecutive_failures":2,"io_priority":"idle","job":"vm\"1\\ é\n","lane":"fast","last_backup":{"consistency":"frozen","duration":12.5,"tags":["daily","weekly"],"time":"2023-11-14T22:13:20.000000+00:00","trust":"verified","uuid":"aaaaaaaa-0000-4000-8000-000000000001"},"last_run":{"duration":3.0,"ok":true,"started":"2023-11-14T22:13:20.000000+00:00","tags":["daily"],"throttled":1.25,"uuid":"u1","warnings":["expiry failed: EIO"]},"next_tags":["daily"],"next_time":null,"overdue":true,"pause":{"by":"alice (uid 1000)","reason":"disk \"swap\"","since":"2023-11-14T22:13:20.000000+00:00"},"progress":{"done":50,"elapsed":5.0,"eta":15.0,"rate":10.0,"throttled":0.5,"total":200},"read_limit":20971520,"revisions":7,"running_since":"2023-11-14T22:13:25.000000+00:00","state":"running","throttled":0.5,"total_failures":5},{"bytes_written":0,"consecutive_failures":0,"io_priority":null,"job":"vm2","lane":"slow","last_backup":null,"last_run":{"duration":1.0,"error":"source \u0001 unreachable","ok":false,"started":"2023-11-14T22:13:20.000000+00:00","tags":[],"throttled":0.0},"next_tags":["daily","monthly"],"next_time":"2023-11-15T22:13:20.000000+00:00","overdue":false,"pause":null,"read_limit":null,"revisions":0,"state":"waiting","throttled":0.0,"total_failures":0},{"bytes_written":0,"consecutive_failures":0,"io_priority":null,"job":"vm3","lane":"slow","last_backup":{"consistency":"frozen","duration":1.0,"tags":["daily","weekly"],"time":"2023-11-14T22:13:20.000000+00:00","trust":"verified","uuid":"aaaaaaaa-0000-4000-8000-000000000001"},"last_run":null,"next_tags":[],"next_time":null,"overdue":false,"pause":{"by":"root (uid 0)","reason":"","since":"2023-11-14T22:13:20.000000+00:00"},"read_limit":null,"revisions":0,"state":"paused","throttled":0.0,"total_failures":0}],"orphans":["old"],"summary":{"failed":0,"jobs":3,"overdue":1,"paused":1,"queued":2,"running":1,"worker_limit":3}},"type":"response","v":1}
)json";
const char* const kTableLine =
    R"json({"ok":true,"result":{"base_dir":null,"jobs":[{"bytes_written":1099511627776,"consecutive_failures":2,"io_priority":"idle","job":"vm\"1\\ é\n","lane":"fast","last_backup":{"consistency":"frozen","duration":12.5,"tags":["daily","weekly"],"time":"2023-11-14T22:13:20.000000+00:00","trust":"verified","uuid":"aaaaaaaa-0000-4000-8000-000000000001"},"last_run":{"duration":3.0,"ok":true,"started":"2023-11-14T22:13:20.000000+00:00","tags":["daily"],"throttled":1.25,"uuid":"u1","warnings":["expiry failed: EIO"]},"next_tags":["daily"],"next_time":null,"overdue":true,"pause":{"by":"alice (uid 1000)","reason":"disk \"swap\"","since":"2023-11-14T22:13:20.000000+00:00"},"progress":{"done":50,"elapsed":5.0,"eta":15.0,"rate":10.0,"throttled":0.5,"total":200},"read_limit":20971520,"revisions":7,"running_since":"2023-11-14T22:13:25.000000+00:00","state":"running","throttled":0.5,"total_failures":5},{"bytes_written":0,"consecutive_failures":0,"io_priority":null,"job":"vm3","lane":"slow","last_backup":{"consistency":"frozen","duration":1.0,"tags":["daily","weekly"],"time":"2023-11-14T22:13:20.000000+00:00","trust":"verified","uuid":"aaaaaaaa-0000-4000-8000-000000000001"},"last_run":null,"next_tags":[],"next_time":null,"overdue":false,"pause":{"by":"root (uid 0)","reason":"","since":"2023-11-14T22:13:20.000000+00:00"},"read_limit":null,"revisions":0,"state":"paused","throttled":0.0,"total_failures":0}],"orphans":["old"],"rows":"vm\"1\\ é?\trunning\tfast\t1\t2023-11-14T22:13:20.000000+00:00\tdaily,weekly\t12.5\t\tdaily\nvm2\twaiting\tslow\t0\t\t\t\t2023-11-15T22:13:20.000000+00:00\tdaily,monthly\nvm3\tpaused\tslow\t0\t2023-11-14T22:13:20.000000+00:00\tdaily,weekly\t1\t\t\n","summary":{"failed":0,"jobs":3,"overdue":1,"paused":1,"queued":2,"running":1,"worker_limit":3}},"type":"response","v":1}
)json";
const char* const kMetrics =
    R"metrics(# HELP backy_job_last_success_timestamp_seconds Start time of the newest complete revision (Unix seconds).
# TYPE backy_job_last_success_timestamp_seconds gauge
backy_job_last_success_timestamp_seconds{job="vm\"1\\ é\n"} 1700000000
backy_job_last_success_timestamp_seconds{job="vm2"} 0
backy_job_last_success_timestamp_seconds{job="vm3"} 1700000000
# HELP backy_job_never_succeeded 1 when the job has no complete revision at all.
# TYPE backy_job_never_succeeded gauge
backy_job_never_succeeded{job="vm\"1\\ é\n"} 0
backy_job_never_succeeded{job="vm2"} 1
backy_job_never_succeeded{job="vm3"} 0
# HELP backy_job_last_duration_seconds Duration of the newest complete revision.
# TYPE backy_job_last_duration_seconds gauge
backy_job_last_duration_seconds{job="vm\"1\\ é\n"} 12.5
backy_job_last_duration_seconds{job="vm3"} 1
# HELP backy_job_bytes_written Bytes written by the job's kept revisions.
# TYPE backy_job_bytes_written gauge
backy_job_bytes_written{job="vm\"1\\ é\n"} 1099511627776
backy_job_bytes_written{job="vm2"} 0
backy_job_bytes_written{job="vm3"} 0
# HELP backy_job_revisions Complete revisions kept.
# TYPE backy_job_revisions gauge
backy_job_revisions{job="vm\"1\\ é\n"} 7
backy_job_revisions{job="vm2"} 0
backy_job_revisions{job="vm3"} 0
# HELP backy_job_failures_total Failed runs since the daemon started.
# TYPE backy_job_failures_total counter
backy_job_failures_total{job="vm\"1\\ é\n"} 5
backy_job_failures_total{job="vm2"} 0
backy_job_failures_total{job="vm3"} 0
# HELP backy_job_consecutive_failures Failed runs since the last success.
# TYPE backy_job_consecutive_failures gauge
backy_job_consecutive_failures{job="vm\"1\\ é\n"} 2
backy_job_consecutive_failures{job="vm2"} 0
backy_job_consecutive_failures{job="vm3"} 0
# HELP backy_job_read_limit_bytes The job's own read-limit in bytes per second (0: none; the global one also applies).
# TYPE backy_job_read_limit_bytes gauge
backy_job_read_limit_bytes{job="vm\"1\\ é\n"} 20971520
backy_job_read_limit_bytes{job="vm2"} 0
backy_job_read_limit_bytes{job="vm3"} 0
# HELP backy_job_throttled_seconds_total Seconds the job's runs waited for their read limits since the daemon started.
# TYPE backy_job_throttled_seconds_total counter
backy_job_throttled_seconds_total{job="vm\"1\\ é\n"} 12.25
backy_job_throttled_seconds_total{job="vm2"} 0
backy_job_throttled_seconds_total{job="vm3"} 0
# HELP backy_job_overdue 1 when the job's newest revision is past its SLA.
# TYPE backy_job_overdue gauge
backy_job_overdue{job="vm\"1\\ é\n"} 1
backy_job_overdue{job="vm2"} 0
backy_job_overdue{job="vm3"} 0
# HELP backy_jobs Configured jobs.
# TYPE backy_jobs gauge
backy_jobs 3
# HELP backy_jobs_running Backups running now.
# TYPE backy_jobs_running gauge
backy_jobs_running 1
# HELP backy_jobs_queued Backups waiting for a worker.
# TYPE backy_jobs_queued gauge
backy_jobs_queued 2
# HELP backy_worker_limit Backups that may run at once.
# TYPE backy_worker_limit gauge
backy_worker_limit 3
)metrics";

std::string encoded(const std::function<void(JsonWriter&)>& f) {
  std::string out;
  JsonWriter w(out);
  f(w);
  return out;
}

std::string status_line(bool table) {
  StatusAnswer answer(table);
  for (JobStatus& s : sample_jobs()) answer.add(std::move(s));
  return answer.finish({{"old"}, 1, 2, 3});
}

}  // namespace

TEST_CASE("json writer: strings escape as nlohmann escapes them", "[control][json]") {
  for (const std::string& s : {std::string(""), std::string("plain"), std::string("q\"b\\s/"),
                               std::string("\b\f\n\r\t\x01\x1f\x7f"), std::string("\0", 1),
                               std::string("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")}) {
    std::string out;
    protocol::append_json_string(out, s);
    CHECK(out == Json(s).dump());
  }
}

TEST_CASE("json writer: bytes that are not UTF-8 become U+FFFD, the line stays JSON",
          "[control][json]") {
  std::string out;
  protocol::append_json_string(out, std::string("a\xff\xc3"
                                                "b\xe2\x82"));
  CHECK(out ==
        "\"a\xEF\xBF\xBD\xEF\xBF\xBD"
        "b\xEF\xBF\xBD\xEF\xBF\xBD\"");
  CHECK(Json::parse(out) == "a\uFFFD\uFFFDb\uFFFD\uFFFD");
}

TEST_CASE("json writer: numbers, literals, commas and the response line", "[control][json]") {
  const std::string text = encoded([](JsonWriter& w) {
    w.begin_object()
        .member("whole", 2.0)
        .member("half", 0.5)
        .member("tiny", 1e-300)
        .member("huge", 1e300)
        .member("nan", std::nan(""))
        .member("inf", std::numeric_limits<double>::infinity())
        .member("neg", int64_t{-7})
        .member("big", uint64_t{18446744073709551615ull})
        .member("yes", true)
        .key("none")
        .null()
        .key("list")
        .begin_array()
        .value(1)
        .begin_object()
        .end_object()
        .begin_array()
        .end_array()
        .value("x")
        .end_array()
        .key("tree")
        .value(Json{{"k", {1, 2}}})
        .end_object();
  });
  const Json expected = {{"whole", 2.0},
                         {"half", 0.5},
                         {"tiny", 1e-300},
                         {"huge", 1e300},
                         {"nan", nullptr},
                         {"inf", nullptr},
                         {"neg", -7},
                         {"big", 18446744073709551615ull},
                         {"yes", true},
                         {"none", nullptr},
                         {"list", Json::array({1, Json::object(), Json::array(), "x"})},
                         {"tree", {{"k", {1, 2}}}}};
  CHECK(Json::parse(text) == expected);
  CHECK(text.find("\"whole\":2.0,") != std::string::npos);
  CHECK(Json::parse(text)["whole"].is_number_float());

  const Json result = {{"a", 1}, {"b", "c"}};
  CHECK(std::string(protocol::result_line_open()) + result.dump() +
            std::string(protocol::result_line_close()) ==
        protocol::encode_result(result));
}

TEST_CASE("status: a job's entry is byte for byte what the tree encoded", "[control][json]") {
  const auto jobs = sample_jobs();
  for (size_t i = 0; i < jobs.size(); ++i) {
    const std::string line = std::string(protocol::result_line_open()) +
                             encoded([&](JsonWriter& w) { write_job(w, jobs[i]); }) +
                             std::string(protocol::result_line_close());
    CHECK(line == kJobLines[i]);
    CHECK(protocol::encode_result(job_json(jobs[i])) == kJobLines[i]);
  }
}

TEST_CASE("status: the whole answer, with and without table, is what the tree encoded",
          "[control][json]") {
  for (const bool table : {false, true}) {
    const protocol::Reply reply = protocol::parse_reply(status_line(table));
    REQUIRE(reply.ok);
    const protocol::Reply before = protocol::parse_reply(table ? kTableLine : kStatusLine);
    REQUIRE(before.ok);
    // What the handler added to the tree's answer, here empty.
    Json expected = before.body;
    expected["exports"] = Json::array();
    expected["read_limit"] = nullptr;
    expected["summary"]["lanes"] = Json::object();
    CHECK(reply.body == expected);
  }
}

TEST_CASE("metrics: the text is byte for byte what the earlier one wrote", "[control]") {
  CHECK(metrics_text(sample_jobs(), 1, 2, 3) == kMetrics);
}

TEST_CASE("a job's history summary: newest, counts, bytes and findings", "[control]") {
  Revision old_one, damaged, newest;
  old_one.uuid = "u1";
  old_one.stats.bytes_written = 10;
  old_one.trust = Trust::distrusted;
  damaged.uuid = "u2";
  damaged.stats.bytes_written = 20;
  damaged.trust = Trust::distrusted;
  damaged.bad_blocks = {4, 9};
  newest.uuid = "u3";
  newest.timestamp = t0;
  newest.tags = {"daily"};
  newest.stats.bytes_written = 30;
  newest.stats.duration = 4.5;
  newest.consistency = Consistency::frozen;
  const HistorySummary s = summarize_history({old_one, damaged, newest}, {"x.rev: unreadable"});
  REQUIRE(s.newest);
  CHECK(s.newest->uuid == "u3");
  CHECK(s.newest->timestamp == t0);
  CHECK(s.newest->tags == std::set<std::string>{"daily"});
  CHECK(s.newest->duration == 4.5);
  CHECK(s.newest->consistency == Consistency::frozen);
  CHECK(s.revisions == 3);
  CHECK(s.bytes_written == 60);
  CHECK(s.findings.distrusted == std::vector<std::string>{"u1", "u2"});
  CHECK(s.findings.bad_blocks == std::map<std::string, size_t>{{"u2", 2}});
  CHECK(s.findings.problems == std::vector<std::string>{"x.rev: unreadable"});

  const HistorySummary none = summarize_history({}, {});
  CHECK_FALSE(none.newest);
  CHECK(none.revisions == 0);
  CHECK(none.bytes_written == 0);
}

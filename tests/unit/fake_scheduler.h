// A JobScheduler stand-in for the control socket's unit tests: a fixed job table in memory.
// run_now() keeps the `done` callbacks so the test decides when and how a run ends;
// post_job_work() runs the work at once on the calling thread and posts `done` via `post`.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <thread>

#include "job_scheduler.h"

namespace backy::test {

class FakeScheduler : public JobScheduler {
 public:
  explicit FakeScheduler(std::filesystem::path base_dir) {
    config_.global.base_dir = std::move(base_dir);
    config_.global.worker_limit = 2;
    config_.schedules["default"] = Schedule{{"daily", {Seconds(24 * 3600), 7}}};
  }

  void add_job(const std::string& name, JobState state = JobState::waiting, bool overdue = false) {
    JobStatus s;
    s.name = name;
    s.state = state;
    s.overdue = overdue;
    s.next_time = Clock::now() + std::chrono::hours(1);
    s.next_tags = {"daily"};
    jobs_[name] = s;
    JobConfig job;  // field by field: a new JobConfig member must not break this
    job.name = name;
    job.schedule = "default";
    config_.jobs[name] = job;
  }
  JobStatus& job(const std::string& name) { return jobs_.at(name); }

  const Config& config() const override { return config_; }
  Config& mutable_config() { return config_; }
  std::vector<JobStatus> status() const override {
    std::vector<JobStatus> out;
    for (const auto& [n, s] : jobs_) out.push_back(s);
    return out;
  }
  std::optional<JobStatus> status(const std::string& job) const override {
    auto it = jobs_.find(job);
    if (it == jobs_.end()) return std::nullopt;
    return it->second;
  }
  std::vector<std::string> orphans() const override { return orphans_; }
  int running_count() const override { return 0; }
  int queued_count() const override { return static_cast<int>(pending_runs.size()); }
  std::vector<LaneLoad> lane_loads() const override {
    return {{Lane::fast, 1, 0, 0}, {Lane::slow, 1, 0, queued_count()}, {Lane::work, 1, 0, 0}};
  }

  std::optional<std::string> run_now(const std::string& job, std::set<std::string> tags,
                                     std::function<void(const RunOutcome&)> done) override {
    if (!jobs_.count(job)) return "no job " + job;
    if (jobs_[job].state == JobState::running || jobs_[job].state == JobState::queued) {
      // As the Scheduler: no second run; `done` follows the one that is coming.
      if (!tags.empty() && tags != run_tags[job])
        return job + " is already running without " + *tags.begin();
      auto before = std::move(pending_runs[job]);
      pending_runs[job] = [before = std::move(before),
                           done = std::move(done)](const RunOutcome& r) {
        if (before) before(r);
        if (done) done(r);
      };
      return std::nullopt;
    }
    jobs_[job].state = JobState::queued;
    run_tags[job] = tags;
    pending_runs[job] = std::move(done);
    return std::nullopt;
  }
  // Ends a run started by run_now.
  void finish_run(const std::string& job, bool ok) {
    RunOutcome r;
    r.ok = ok;
    r.uuid = ok ? "uuid-" + job : "";
    r.error = ok ? "" : "source unreachable";
    r.duration = 1.5;
    jobs_[job].state = ok ? JobState::waiting : JobState::failed;
    jobs_[job].last_run = r;
    auto done = std::move(pending_runs.at(job));
    pending_runs.erase(job);
    done(r);
  }
  std::optional<std::string> pause(const std::string& job, PauseNote note) override {
    jobs_.at(job).state = JobState::paused;
    jobs_.at(job).pause = std::move(note);
    return std::nullopt;
  }
  std::optional<std::string> resume(const std::string& job) override {
    jobs_.at(job).state = JobState::waiting;
    jobs_.at(job).pause.reset();
    return std::nullopt;
  }
  ReloadResult reload() override {
    ReloadResult r;
    r.accepted = reload_accepts;
    if (!reload_accepts) r.errors = {"backy.yaml:3:4: bad"};
    refused_ = reload_accepts ? std::nullopt : std::optional<std::string>(r.errors[0]);
    return r;
  }
  std::optional<std::string> refused_reload() const override { return refused_; }
  void post_job_work(const std::string&, std::function<void(std::stop_token)> work,
                     std::function<void(std::optional<std::string>)> done) override {
    work(std::stop_token{});
    post([done] { done(std::nullopt); });
  }

  std::function<void(std::function<void()>)> post = [](std::function<void()> f) { f(); };
  std::map<std::string, std::function<void(const RunOutcome&)>> pending_runs;
  std::map<std::string, std::set<std::string>> run_tags;
  std::optional<std::string> refused_;
  std::vector<std::string> orphans_;
  bool reload_accepts = true;

 private:
  Config config_;
  std::map<std::string, JobStatus> jobs_;
};

// Polls `pred` on the io_context's thread (where the fake's state lives) for up to 10 s.
inline bool eventually_on(boost::asio::io_context& io, const std::function<bool()>& pred) {
  for (int i = 0; i < 1000; ++i) {
    std::promise<bool> p;
    boost::asio::post(io, [&] { p.set_value(pred()); });
    if (p.get_future().get()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace backy::test

// SourceCleaner (backup/source_cleaner.h): a committed run's source clean-up runs on the
// cleaner's thread; the job's records are forgotten only while no run of the job is active; a
// run waits for no removal; drain() returns once everything submitted is done.
#include "backup/source_cleaner.h"

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <future>

#include "repo/repository.h"
#include "scratch_dir.h"
#include "util/error.h"
#include "util/uuid.h"

namespace backy::test {

namespace {

spdlog::logger& quiet() {
  static spdlog::logger log("test", std::make_shared<spdlog::sinks::null_sink_mt>());
  return log;
}

// A source whose committed() drops every owned uuid but the committed one, after waiting for
// `release` when one is given (a slow snapshot removal).
class FakeSource : public Source {
 public:
  std::map<std::string, std::string> describe(const std::string&) const override { return {}; }
  bool can_diff_from(const std::string&) override { return true; }
  std::unique_ptr<SourceSnapshot> open(const std::string&,
                                       const std::optional<std::string>&) override {
    throw Error("not used");
  }
  std::set<std::string> committed(const std::string& uuid,
                                  const std::set<std::string>& owned) override {
    if (release) release->wait();
    if (fail) throw Error("cluster gone");
    std::set<std::string> gone = owned;
    gone.erase(uuid);
    calls++;
    return gone;
  }
  bool abandon(const std::string&) noexcept override { return true; }

  std::shared_future<void> const* release = nullptr;
  bool fail = false;
  std::atomic<int> calls = 0;
};

struct Job {
  ScratchDir scratch;
  Repository repo{scratch.dir / "job"};
  std::string old_run = new_uuid(), new_run = new_uuid();

  Job() {
    auto lock = repo.lock();
    repo.note_source_state(lock, old_run);
    repo.note_source_state(lock, new_run);
  }
  void note(const std::string& uuid) {
    auto lock = repo.lock();
    repo.note_source_state(lock, uuid);
  }
  std::set<std::string> records() {
    auto lock = repo.lock();
    return repo.source_states(lock);
  }
  SourceCleaner::Task task(std::shared_ptr<Source> source) {
    return {"job", repo.dir(), new_run, {old_run, new_run}, std::move(source), std::nullopt};
  }
};

}  // namespace

TEST_CASE("source cleaner: removes on its own thread, then forgets the records of what is gone") {
  Job job;
  auto source = std::make_shared<FakeSource>();
  SourceCleaner cleaner(quiet());
  cleaner.submit(job.task(source));
  cleaner.drain();
  CHECK(source->calls.load() == 1);
  // The committed run's record stays while its state does.
  CHECK(job.records() == std::set<std::string>{job.new_run});
}

TEST_CASE(
    "source cleaner: leaves the records alone while a run of the job is active, forgets them "
    "after it") {
  Job job;
  auto source = std::make_shared<FakeSource>();
  SourceCleaner cleaner(quiet());
  {
    // The run that committed is still active when its removal is done (backup_job's guard).
    SourceCleaner::RunGuard run(cleaner, "job");
    auto lock = job.repo.lock();  // the run holds the job's lock: the cleaner never asks for it
    cleaner.submit(job.task(source));
    cleaner.drain();
    CHECK(source->calls.load() == 1);
    CHECK(job.repo.source_states(lock) == std::set<std::string>{job.old_run, job.new_run});
  }
  cleaner.drain();  // the run has ended: what is gone is forgotten now
  CHECK(job.records() == std::set<std::string>{job.new_run});
  // Another job's run does not hold this one back.
  job.note(job.old_run);
  SourceCleaner::RunGuard other(cleaner, "other");
  cleaner.submit(job.task(source));
  cleaner.drain();
  CHECK(job.records() == std::set<std::string>{job.new_run});
}

TEST_CASE(
    "source cleaner: a run starts while a removal is under way, and a failure keeps records") {
  Job job;
  std::promise<void> go;
  std::shared_future<void> release = go.get_future().share();
  auto slow = std::make_shared<FakeSource>();
  slow->release = &release;
  SourceCleaner cleaner(quiet());
  cleaner.submit(job.task(slow));
  {
    // The removal is blocked: a new run of the job takes its guard and the lock at once.
    SourceCleaner::RunGuard run(cleaner, "job");
    auto lock = job.repo.lock();
    go.set_value();
    cleaner.drain();
    CHECK(job.repo.source_states(lock) == std::set<std::string>{job.old_run, job.new_run});
  }
  CHECK(slow->calls.load() == 1);
  cleaner.drain();
  CHECK(job.records() == std::set<std::string>{job.new_run});

  job.note(job.old_run);
  auto failing = std::make_shared<FakeSource>();
  failing->fail = true;
  cleaner.submit(job.task(failing));
  cleaner.drain();
  CHECK(job.records() == std::set<std::string>{job.old_run, job.new_run});
}

}  // namespace backy::test

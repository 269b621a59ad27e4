#include "backup/backup.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>

#include "backup/run_clock.h"
#include "backup/snapshot_hooks.h"
#include "backup/verify.h"
#include "repo/pending_revision.h"
#include "store/block_sums.h"
#include "store/image_writer.h"
#include "util/error.h"
#include "util/file_io.h"
#include "util/text.h"
#include "util/uuid.h"

namespace backy {

namespace {

// One run: its state, and its steps in the order run() takes them (backup.h lists them).
class BackupRun {
 public:
  BackupRun(Repository& repo, const Repository::Lock& lock, Source& source,
            const BackupOptions& options, spdlog::logger& log, std::stop_token stop,
            RunClock& clock)
      : repo_(repo),
        lock_(lock),
        source_(source),
        options_(options),
        log_(log),
        stop_(std::move(stop)),
        clock_(clock),
        // The wall time of the clock's start: [timestamp, timestamp + duration] is the run.
        started_(options.now() - std::chrono::duration_cast<Clock::duration>(
                                     RunClock::Steady::now() - clock.began())),
        pending_(repo.begin(lock, new_uuid())) {}

  BackupResult run() {
    // Recorded before the source is touched, so that a crash right after cannot leave a
    // snapshot that no run of this job knows to be its own.
    repo_.note_source_state(lock_, uuid());
    try {
      // The snapshot first: the monitors take a while to create it (their propose interval),
      // and the local preparation below overlaps that wait. With snapshot hooks it is taken
      // inside their freeze window, in open().
      if (!options_.hooks.any())
        early_snapshot_ = std::async(std::launch::async, [this] { source_.snapshot(uuid()); });
      prepare();
      start_clone();
      open();
      read_changes(plan_reads());
      if (options_.progress) options_.progress(done_, total_);
      clock_.enter(Phase::flush);
      const std::vector<uint64_t> sample = pick_verify_sample();
      // Declared in the try: on any failure its destructor waits for it before abandon().
      std::future<std::optional<SourceSums>> from_source = reread_source(sample);
      image().finish();
      pending_.save_sums(sums_);
      clock_.enter(Phase::verify);
      const uint64_t verified = verify(sample, from_source.get());
      if (stop_.stop_requested()) throw Cancelled();
      clock_.enter(Phase::commit);
      for (auto& w : pending_.commit(describe(verified), history_))
        result_.warnings.push_back(std::move(w));
    } catch (...) {
      abandon();  // and `pending_` removes the run's files as it goes out of scope
      throw;
    }
    // The revision exists from here on; nothing below may fail the run.
    clock_.enter(Phase::cleanup);
    snap_.reset();
    clean_up_source();
    record_whole_run();
    return std::move(result_);
  }

  const std::string& uuid() const { return pending_.uuid(); }

 private:
  // Local work before the source is read: the repository repaired (leftovers of interrupted
  // runs removed, `latest` repointed), the history read, the parent chosen.
  void prepare() {
    Repository::Repair& repaired = result_.repaired;
    repaired = repo_.repair(lock_);
    for (const auto& name : repaired.removed)
      log_.info("removed leftover of an interrupted run: {}", name);
    result_.warnings = repaired.warnings;
    // The one read of the job's history in a run: the lock keeps it true until the end.
    history_ = repo_.revisions();
    if (!options_.full_always) choose_parent();
  }

  // The newest revision that can serve as the base of an incremental, with its checksums.
  void choose_parent() {
    for (auto it = history_.rbegin(); it != history_.rend(); ++it) {
      if (it->trust == Trust::distrusted) continue;
      if (!source_.can_diff_from(it->uuid)) {
        log_.info("revision {} cannot be a parent: its source snapshot is gone", it->uuid);
        continue;
      }
      try {
        sums_ = repo_.load_sums(it->uuid);
        parent_ = *it;
        return;
      } catch (const Error& e) {
        log_.warn("revision {} cannot be a parent: {}", it->uuid, e.what());
      }
    }
  }

  std::optional<std::string> parent_uuid() const {
    return parent_ ? std::optional(parent_->uuid) : std::nullopt;
  }

  // The source frozen (RBD: snapshot backy-<uuid>, inside the hooks' freeze window), the image
  // cloned from the parent's.
  void open() {
    {
      clock_.enter(Phase::snapshot);
      std::optional<FreezeWindow> freeze;
      if (options_.hooks.any())
        freeze.emplace(options_.hooks, repo_, lock_, options_.job, uuid(), source_.describe(uuid()),
                       log_, stop_);
      if (early_snapshot_.valid()) early_snapshot_.get();  // its failure is the run's
      snap_ = source_.open(uuid(), parent_uuid());
      snap_->set_throttle(options_.throttle);
      if (freeze) {
        consistency_ = freeze->close();  // the guest thaws now, not after the read
        if (!freeze->warning().empty()) result_.warnings.push_back(freeze->warning());
      }
    }
    size_ = snap_->size();
    if (!parent_) sums_ = BlockSums(size_);
    sums_.resize(size_);
    log_.info("backup {} started: {} from {}", uuid(), parent_ ? "incremental" : "full",
              parent_ ? parent_->uuid : std::string("nothing"));
  }

  // An incremental's image starts as a reflink clone of its parent's image file, at that file's
  // size (not the .rev's `size`, which could misstate it and cut away data the checksums still
  // promise). The clone's cost grows with the parent's extents (every incremental's scattered
  // pages add some: 0.1-0.25 s for a 1 GiB image a few incrementals in, on the test XFS), and it
  // needs nothing from the source: so it is made on a thread of its own while the snapshot is
  // finished, opened and diffed, until image() first wants it.
  void start_clone() {
    if (!parent_) return;
    clone_ = std::async(std::launch::async, [this, parent = parent_->uuid] {
      return pending_.create_image(parent, std::nullopt, options_.block_budget);
    });
  }

  // The new revision's image: the parent's clone, once made (a wait for it is `prepare`), cut
  // or grown to the snapshot's size; or, for a full run, an empty sparse file made now.
  ImageWriter& image() {
    if (image_) return *image_;
    RunClock::Scope waiting(clock_, Phase::prepare);
    if (clone_.valid()) {
      image_.emplace(clone_.get());
      if (image_->size() != size_) image_->resize(size_);
    } else {
      image_.emplace(pending_.create_image(std::nullopt, size_, options_.block_budget));
    }
    result_.reflinked = !parent_ || image_->reflinked();
    if (!result_.reflinked)
      log_.warn("{} does not support reflinks: revision {} is a full copy of its parent",
                repo_.dir().string(), uuid());
    return *image_;
  }

  // Blocks known to be zero become holes now; returns the others, which must be read.
  std::vector<uint64_t> plan_reads() {
    clock_.enter(Phase::snapshot);  // RBD: the diff from the parent's snapshot
    const std::vector<BlockChange> changes = snap_->changed_blocks();
    clock_.enter(Phase::write);
    std::vector<uint64_t> to_read;
    for (const BlockChange& c : changes) {
      if (c.data) {
        to_read.push_back(c.block);
      } else if (sums_.at(c.block).data) {
        image().punch(c.block * kBlockSize, sums_.block_length(c.block));
        sums_.set(c.block, kHole);
      }
    }
    // A block whose length changed with a resize has a stale sum: read it even if unreported.
    for (uint64_t b = 0; b < sums_.block_count(); ++b)
      if (sums_.at(b) == kStale && !std::binary_search(to_read.begin(), to_read.end(), b))
        to_read.insert(std::upper_bound(to_read.begin(), to_read.end(), b), b);
    return to_read;
  }

  void read_changes(const std::vector<uint64_t>& to_read) {
    // The blocks to read are the progress' whole: an incremental's changed extents and a full
    // run's allocated data, rounded out to blocks. Known from here on, and published at once.
    for (uint64_t b : to_read) total_ += sums_.block_length(b);
    if (options_.progress) options_.progress(0, total_);
    // The source calls the sinks on this thread: outside them the run waits for its data.
    clock_.enter(Phase::read);
    const BlockSink blocks = [this](uint64_t b, std::span<const char> data) {
      RunClock::Scope applying(clock_, Phase::write);
      apply_block(b, data);
    };
    if (!parent_) return snap_->read_blocks(to_read, blocks, stop_);
    // Blocks whose length changed (a resize) have no valid sum to update: read them whole.
    std::vector<uint64_t> whole, by_page;
    for (uint64_t b : to_read) (sums_.at(b) == kStale ? whole : by_page).push_back(b);
    const PageRunSink pages = [this](uint64_t b, std::span<const PageRun> runs) {
      RunClock::Scope applying(clock_, Phase::write);
      apply_page_runs(b, runs);
    };
    if (snap_->read_changed_pages(by_page, pages, stop_))
      snap_->read_blocks(whole, blocks, stop_);
    else
      snap_->read_blocks(to_read, blocks, stop_);
  }

  // A whole block read: skipped when its checksum matches, a hole when all zero, else only the
  // pages that differ are written.
  void apply_block(uint64_t b, std::span<const char> data) {
    if (stop_.stop_requested()) throw Cancelled();
    const BlockSum old = sums_.at(b);
    if (is_all_zero(data)) {
      if (old.data) {
        image().punch(b * kBlockSize, data.size());
        changed_.push_back(b);
      }
      sums_.set(b, kHole);
    } else {
      const BlockSum now = checksum(data);
      if (now != old) {
        written_ += image().write(b * kBlockSize, data, old.data);
        sums_.set(b, now);
        changed_.push_back(b);
      }
    }
    progress(sums_.block_length(b));
  }

  // The changed pages of one block (an incremental that knows them): their old content is read
  // from the clone (all runs' reads in flight at once), the checksum updated by the difference
  // (replace_pages), the pages written.
  void apply_page_runs(uint64_t b, std::span<const PageRun> runs) {
    if (stop_.stop_requested()) throw Cancelled();
    BlockSum sum = sums_.at(b);
    old_pages_.resize(kBlockSize);
    old_ranges_.clear();
    size_t at = 0;
    for (const PageRun& run : runs) {
      old_ranges_.push_back(
          {b * kBlockSize + run.offset, std::span<char>(old_pages_.data() + at, run.data.size())});
      at += run.data.size();
    }
    image().read_ranges(old_ranges_);
    for (size_t i = 0; i < runs.size(); ++i) {
      const PageRun& run = runs[i];
      const uint64_t offset = old_ranges_[i].offset;
      std::span<const char> old = old_ranges_[i].into;
      sum = replace_pages(sum, run.offset / kPageSize, old, run.data);
      written_ += image().write_over(offset, run.data, old.data());
    }
    progress(sums_.block_length(b));  // the block is done, however few of its pages changed
    if (sum != sums_.at(b)) {
      sums_.set(b, sum);
      changed_.push_back(b);
    }
  }

  void progress(uint64_t bytes) {
    done_ += bytes;
    const auto now = std::chrono::steady_clock::now();
    if (options_.progress && now - last_progress_ > std::chrono::milliseconds(250)) {
      options_.progress(done_, total_);
      last_progress_ = now;
    }
  }

  // The blocks the verification rereads (verify.h), once every block is applied.
  std::vector<uint64_t> pick_verify_sample() {
    bytes_read_ = snap_->bytes_read();  // what the backup itself read, without the sample
    std::sort(changed_.begin(), changed_.end());
    return pick_sample(sums_, changed_, options_.verify, std::hash<std::string>{}(uuid()));
  }

  // The sample's reread from a stable source, on a thread of its own while this one flushes
  // the image: the snapshot cannot change, so when it is read proves nothing either way, and
  // the network's time overlaps the disk's. The image's half of the comparison waits for the
  // flush (verify()), so it is the durable image that is compared. Nothing else uses snap_
  // meanwhile. An unstable source has nothing to reread: its future holds nullopt.
  std::future<std::optional<SourceSums>> reread_source(const std::vector<uint64_t>& sample) {
    if (!snap_->stable()) {
      std::promise<std::optional<SourceSums>> none;
      none.set_value(std::nullopt);
      return none.get_future();
    }
    return std::async(std::launch::async, [this, sample]() -> std::optional<SourceSums> {
      return read_source_sample(*snap_, sample, options_.verify, stop_);
    });
  }

  // The image's blocks of the sample compared with the source's reread, or with the checksums
  // (verify.h); a mismatch fails the run. Returns the number of blocks checked.
  uint64_t verify(const std::vector<uint64_t>& sample, const std::optional<SourceSums>& source) {
    VerifyResult v = verify_sample(image(), sums_, sample, source, options_.verify, stop_);
    if (!v.mismatches.empty()) {
      for (const auto& m : v.mismatches) log_.error("verification of {}: {}", uuid(), m);
      throw Error("verification failed: " + std::to_string(v.mismatches.size()) + " of " +
                  std::to_string(v.blocks_checked) +
                  " sampled blocks differ (first: " + v.mismatches.front() + ")");
    }
    return v.blocks_checked;
  }

  const Revision& describe(uint64_t verified_blocks) {
    Revision& rev = result_.revision;
    rev.uuid = uuid();
    rev.timestamp = started_;
    rev.parent = parent_ ? parent_->uuid : "";
    rev.tags = options_.tags;
    rev.source = source_.describe(uuid());
    rev.consistency = consistency_;
    rev.size = size_;
    rev.stats.bytes_read = bytes_read_;
    rev.stats.bytes_written = written_;
    rev.stats.verified_blocks = verified_blocks;
    rev.stats.duration = clock_.elapsed();  // so far: record_whole_run() has the rest
    rev.stats.phases = clock_.split();
    return rev;
  }

  // The .rev of the commit has the figures of its moment; the run is over now, and its .rev
  // gets the whole run's. What runs after this (expiry; in the daemon, callbacks) is not the
  // run's. Best effort: the revision is committed, and the commit's figures are true as far as
  // they go.
  void record_whole_run() {
    Revision& rev = result_.revision;
    rev.stats.duration = clock_.elapsed();
    rev.stats.phases = clock_.split();
    try {
      repo_.update(lock_, rev);
    } catch (const std::exception& e) {
      result_.warnings.push_back(
          std::string("the run's duration was not recorded, its .rev keeps the commit's: ") +
          e.what());
    }
  }

  // Not committed: drop the source's snapshot, and its record once it is gone.
  void abandon() noexcept {
    snap_.reset();
    if (clone_.valid()) clone_.wait();  // its file is removed with the run's (pending_)
    if (early_snapshot_.valid()) early_snapshot_.wait();  // created or failed: then it is undone
    if (!source_.abandon(uuid())) return;  // the record stays; a later clean-up finds it
    try {
      repo_.forget_source_state(lock_, uuid());
    } catch (const Error&) {
      // The record stays; the next commit's clean-up finds the snapshot gone and drops it.
    }
  }

  // After the commit: the source drops what this job's older runs left on it (RBD: snapshots),
  // and the job forgets the records of what is gone. A failure is a warning: the revision is
  // safe whatever happens here, and the next run tries again.
  void clean_up_source() {
    try {
      std::set<std::string> left = repo_.source_states(lock_);
      std::set<std::string> owned = left;
      for (const Revision& r : history_) owned.insert(r.uuid);
      owned.insert(uuid());
      if (options_.defer_source_cleanup) return options_.defer_source_cleanup(uuid(), owned);
      for (const std::string& gone : source_.committed(uuid(), owned)) {
        repo_.forget_source_state(lock_, gone);
        left.erase(gone);
      }
      left.erase(uuid());
      if (!left.empty())
        result_.warnings.push_back("the source still holds state of " +
                                   std::to_string(left.size()) +
                                   " earlier run(s) of this job (e.g. the snapshot of " +
                                   *left.begin() + "); the next run retries");
    } catch (const std::exception& e) {
      result_.warnings.push_back("cleaning up the source failed (the next run retries): " +
                                 std::string(e.what()));
    }
  }

  Repository& repo_;
  const Repository::Lock& lock_;
  Source& source_;
  const BackupOptions& options_;
  spdlog::logger& log_;
  std::stop_token stop_;
  RunClock& clock_;
  const TimePoint started_;
  PendingRevision pending_;
  BackupResult result_;

  std::vector<Revision> history_;  // the job's complete revisions when the run began
  std::optional<Revision> parent_;
  BlockSums sums_;  // the parent's, updated block by block into the new revision's
  std::future<void> early_snapshot_;  // Source::snapshot() on its own thread, until open()
  std::unique_ptr<SourceSnapshot> snap_;
  std::future<ImageWriter> clone_;  // start_clone() on its own thread, until image()
  std::optional<ImageWriter> image_;
  uint64_t size_ = 0;
  Consistency consistency_ = Consistency::crash;

  std::vector<uint64_t> changed_;  // blocks whose content changed, for the verify sample
  std::vector<char> old_pages_;    // apply_page_runs' buffer, one block, reused
  std::vector<ImageWriter::Range> old_ranges_;  // apply_page_runs' reads, reused
  uint64_t written_ = 0, bytes_read_ = 0;
  uint64_t done_ = 0, total_ = 0;  // progress
  std::chrono::steady_clock::time_point last_progress_{};
};

}  // namespace

BackupResult run_backup(Repository& repo, const Repository::Lock& lock, Source& source,
                        const BackupOptions& options, spdlog::logger& log, std::stop_token stop) {
  RunClock clock(options.began.value_or(RunClock::Steady::now()));
  BackupRun run(repo, lock, source, options, log, std::move(stop), clock);
  BackupResult result = run.run();
  for (const auto& w : result.warnings) log.warn("backup {}: {}", run.uuid(), w);
  const RevisionStats& st = result.revision.stats;
  log.info("backup {} done: {} read ({} B) at {}/s, {} written, {} blocks verified, in {} ({})",
           run.uuid(), human_bytes(double(st.bytes_read)), st.bytes_read,
           human_bytes(st.duration > 0 ? double(st.bytes_read) / st.duration : 0),
           human_bytes(double(st.bytes_written)), st.verified_blocks, phase_duration(st.duration),
           largest_phases(st.phases, 3));
  return result;
}

}  // namespace backy

#include "backup/backup.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "backup/verify.h"
#include "repo/pending_revision.h"
#include "store/block_sums.h"
#include "store/image_writer.h"
#include "util/error.h"
#include "util/file_io.h"
#include "util/uuid.h"

namespace backy {

namespace {

// The newest revision that can serve as the base of an incremental, with its checksums.
std::optional<std::pair<Revision, BlockSums>> choose_parent(Repository& repo, Source& source,
                                                            spdlog::logger& log) {
  std::vector<Revision> revs = repo.revisions();
  for (auto it = revs.rbegin(); it != revs.rend(); ++it) {
    if (it->trust == Trust::distrusted) continue;
    if (!source.can_diff_from(it->uuid)) {
      log.info("revision {} cannot be a parent: its source snapshot is gone", it->uuid);
      continue;
    }
    try {
      return std::make_pair(*it, repo.load_sums(it->uuid));
    } catch (const Error& e) {
      log.warn("revision {} cannot be a parent: {}", it->uuid, e.what());
    }
  }
  return std::nullopt;
}

// After a commit: the source drops what this job's older runs left on it (RBD: snapshots), and
// the job forgets the records of what is gone. Never throws: the revision is safe whatever
// happens here, and the next run tries again.
void clean_up_source(Repository& repo, const Repository::Lock& lock, Source& source,
                     const std::string& uuid, std::vector<std::string>& warnings) {
  try {
    std::set<std::string> owned = repo.source_states(lock);
    for (const Revision& r : repo.revisions()) owned.insert(r.uuid);
    for (const std::string& gone : source.committed(uuid, owned))
      repo.forget_source_state(lock, gone);
    std::set<std::string> left = repo.source_states(lock);
    left.erase(uuid);
    if (!left.empty())
      warnings.push_back("the source still holds state of " + std::to_string(left.size()) +
                         " earlier run(s) of this job (e.g. snapshot of " + *left.begin() +
                         "); the next run retries");
  } catch (const std::exception& e) {
    warnings.push_back("cleaning up the source failed (the next run retries): " +
                       std::string(e.what()));
  }
}

}  // namespace

BackupResult run_backup(Repository& repo, const Repository::Lock& lock, Source& source,
                        const BackupOptions& options, spdlog::logger& log, std::stop_token stop) {
  BackupResult result;
  result.repaired = repo.repair(lock);
  for (const auto& name : result.repaired.removed)
    log.info("removed leftover of an interrupted run: {}", name);
  for (const auto& w : result.repaired.warnings) log.warn("{}", w);
  result.warnings = result.repaired.warnings;

  const TimePoint started = options.now();
  const auto t0 = std::chrono::steady_clock::now();
  PendingRevision pending = repo.begin(lock, new_uuid());
  const std::string& uuid = pending.uuid();

  std::optional<std::pair<Revision, BlockSums>> parent;
  if (!options.full_always) parent = choose_parent(repo, source, log);

  // Recorded before the source is touched, so that a crash right after cannot leave a snapshot
  // that no run of this job knows to be its own.
  repo.note_source_state(lock, uuid);
  std::unique_ptr<SourceSnapshot> snap;
  try {
    snap = source.open(uuid, parent ? std::optional(parent->first.uuid) : std::nullopt);
    const uint64_t size = snap->size();
    BlockSums sums = parent ? std::move(parent->second) : BlockSums(size);
    sums.resize(size);
    ImageWriter image =
        pending.create_image(parent ? std::optional(parent->first.uuid) : std::nullopt, size);
    result.reflinked = !parent || image.reflinked();
    if (!result.reflinked)
      log.warn("{} does not support reflinks: revision {} is a full copy of its parent",
               repo.dir().string(), uuid);
    log.info("backup {} started: {} from {}", uuid, parent ? "incremental" : "full",
             parent ? parent->first.uuid : std::string("nothing"));

    // Blocks known to be zero become holes now; the others are read.
    std::vector<uint64_t> to_read;
    for (const BlockChange& c : snap->changed_blocks()) {
      if (c.data) {
        to_read.push_back(c.block);
      } else if (sums.at(c.block).data) {
        image.punch(c.block * kBlockSize, sums.block_length(c.block));
        sums.set(c.block, kHole);
      }
    }
    // A block whose length changed with a resize has a stale sum: read it even if unreported.
    for (uint64_t b = 0; b < sums.block_count(); ++b)
      if (sums.at(b) == kStale && !std::binary_search(to_read.begin(), to_read.end(), b))
        to_read.insert(std::upper_bound(to_read.begin(), to_read.end(), b), b);

    uint64_t written = 0, done = 0;
    std::vector<uint64_t> changed;
    auto last_progress = std::chrono::steady_clock::now();
    auto report_progress = [&](uint64_t bytes) {
      done += bytes;
      if (options.progress &&
          std::chrono::steady_clock::now() - last_progress > std::chrono::milliseconds(250)) {
        options.progress(done, to_read.size() * kBlockSize);
        last_progress = std::chrono::steady_clock::now();
      }
    };
    const BlockSink sink = [&](uint64_t b, std::span<const char> data) {
      if (stop.stop_requested()) throw Cancelled();
      const BlockSum old = sums.at(b);
      if (is_all_zero(data)) {
        if (old.data) {
          image.punch(b * kBlockSize, data.size());
          changed.push_back(b);
        }
        sums.set(b, kHole);
      } else {
        BlockSum now = checksum(data);
        if (now != old) {
          written += image.write(b * kBlockSize, data, old.data);
          sums.set(b, now);
          changed.push_back(b);
        }
      }
      report_progress(data.size());
    };
    // Incremental with page-exact changes: only the changed pages are read (from the source and,
    // for their old content, from the clone); the block's checksum is updated by the difference.
    std::vector<char> old_pages(kBlockSize);
    const PageRunSink page_sink = [&](uint64_t b, std::span<const PageRun> runs) {
      if (stop.stop_requested()) throw Cancelled();
      BlockSum sum = sums.at(b);
      for (const PageRun& run : runs) {
        const uint64_t offset = b * kBlockSize + run.offset;
        std::span<char> old(old_pages.data(), run.data.size());
        image.read(offset, old);
        for (size_t pos = 0; pos < run.data.size(); pos += kPageSize) {
          const size_t len = std::min<size_t>(kPageSize, run.data.size() - pos);
          if (std::memcmp(old.data() + pos, run.data.data() + pos, len) == 0) continue;
          const uint64_t page = (run.offset + pos) / kPageSize;
          sum = add_page_sum(sum, page_sum(page, old.subspan(pos, len)), -1);
          sum = add_page_sum(sum, page_sum(page, run.data.subspan(pos, len)), +1);
        }
        written += image.write_over(offset, run.data, old.data());
        report_progress(run.data.size());
      }
      if (sum != sums.at(b)) {
        sums.set(b, sum);
        changed.push_back(b);
      }
    };
    if (parent) {
      // Blocks whose length changed (a resize) have no valid sum to update: read them whole.
      std::vector<uint64_t> whole, by_page;
      for (uint64_t b : to_read) (sums.at(b) == kStale ? whole : by_page).push_back(b);
      if (snap->read_changed_pages(by_page, page_sink, stop))
        snap->read_blocks(whole, sink, stop);
      else
        snap->read_blocks(to_read, sink, stop);
    } else {
      snap->read_blocks(to_read, sink, stop);
    }

    image.finish();
    pending.save_sums(sums);

    // What the backup itself read; the verification below reads more.
    const uint64_t bytes_read = snap->bytes_read();
    std::sort(changed.begin(), changed.end());
    const auto sample = pick_sample(sums, changed, options.verify, std::hash<std::string>{}(uuid));
    VerifyResult verified = verify_sample(*snap, image, sums, sample, options.verify, stop);
    if (!verified.mismatches.empty()) {
      for (const auto& m : verified.mismatches) log.error("verification of {}: {}", uuid, m);
      throw Error("verification failed: " + std::to_string(verified.mismatches.size()) + " of " +
                  std::to_string(verified.blocks_checked) +
                  " sampled blocks differ (first: " + verified.mismatches.front() + ")");
    }

    Revision& rev = result.revision;
    rev.uuid = uuid;
    rev.timestamp = started;
    rev.parent = parent ? parent->first.uuid : "";
    rev.tags = options.tags;
    rev.source = source.describe(uuid);
    rev.size = size;
    rev.stats.bytes_read = bytes_read;
    rev.stats.bytes_written = written;
    rev.stats.verified_blocks = verified.blocks_checked;
    rev.stats.duration =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (stop.stop_requested()) throw Cancelled();
    for (auto& w : pending.commit(rev)) result.warnings.push_back(std::move(w));
  } catch (...) {
    // Not committed: `pending` removes the run's files when it goes out of scope.
    snap.reset();
    if (source.abandon(uuid)) {
      try {
        repo.forget_source_state(lock, uuid);
      } catch (const Error&) {
        // The record stays; the next commit's clean-up finds the snapshot gone and drops it.
      }
    }
    throw;
  }
  // The revision exists from here on; nothing below may fail the run.
  snap.reset();
  clean_up_source(repo, lock, source, uuid, result.warnings);
  for (const auto& w : result.warnings) log.warn("backup {}: {}", uuid, w);
  const RevisionStats& st = result.revision.stats;
  log.info("backup {} done: {} bytes read, {} written, {} blocks verified, {:.2f} s", uuid,
           st.bytes_read, st.bytes_written, st.verified_blocks, st.duration);
  return result;
}

}  // namespace backy

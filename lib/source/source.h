// Source: where a job's data comes from (an RBD image, an image file, a block device).
//
// A backup run asks its Source for a SourceSnapshot: a frozen, readable view of the data for one
// revision. The snapshot says which 4 MiB blocks may differ from the parent revision and reads
// them; the backup run (lib/backup) decides what to write. Sources know nothing of the store.
//
// Adding a source (LVM, qcow2) is one class implementing these two interfaces, plus a line in
// the factory (source/source_factory.h).
//
// Threading: one run uses a Source and its snapshot from one thread (but Source::snapshot(),
// below); read_blocks() may use threads or aio internally but calls the sink on the caller's
// thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "util/rate_limit.h"

namespace backy {

struct BlockChange {
  uint64_t block = 0;  // index of a kBlockSize block
  bool data = true;    // false: the source knows the block is all zero (a hole or discarded)
};

// Receives one block's bytes; the span is valid only during the call. The last block of an image
// whose size is not a multiple of kBlockSize is shorter.
using BlockSink = std::function<void(uint64_t block, std::span<const char> data)>;

// Changed pages of one block: runs of whole pages (the last page of the image may be short),
// each at its byte offset within the block, sorted, not overlapping. Valid only during the call.
struct PageRun {
  uint64_t offset = 0;  // within the block, a multiple of kPageSize
  std::span<const char> data;
};
using PageRunSink = std::function<void(uint64_t block, std::span<const PageRun> runs)>;

class SourceSnapshot {
 public:
  virtual ~SourceSnapshot() = default;

  virtual uint64_t size() const = 0;
  // Incremental (opened with a parent): the blocks that may differ from the parent's snapshot;
  // unlisted blocks are unchanged. Full: every block that may hold data; unlisted blocks are
  // zero. Sorted by block.
  virtual std::vector<BlockChange> changed_blocks() = 0;
  // Reads `blocks` (each < block count) and hands each to `sink`, in any order. Throws
  // backy::Cancelled when `stop` is requested, backy::Error on a read failure.
  virtual void read_blocks(std::span<const uint64_t> blocks, const BlockSink& sink,
                           std::stop_token stop) = 0;
  // Incremental only: reads just the pages of `blocks` that changed since the parent's snapshot
  // and hands them to `sink`, in any order. Returns false, having read nothing, when the source
  // cannot tell changes at page granularity (the caller then reads whole blocks).
  virtual bool read_changed_pages(std::span<const uint64_t> blocks, const PageRunSink& sink,
                                  std::stop_token stop) {
    (void)blocks, (void)sink, (void)stop;
    return false;
  }
  // True when the data stays exactly as it was when the snapshot was taken (an RBD snapshot),
  // so the verification after a run can compare the written image with the source itself.
  virtual bool stable() const = 0;
  virtual uint64_t bytes_read() const = 0;

  // Every read of the source, the verification's re-read included, waits for `throttle` (the
  // job's and the global read-limit, util/rate_limit.h) before it is issued; null: none. Set
  // before the first read; the throttle must outlive the reads.
  void set_throttle(ReadThrottle* throttle) { throttle_ = throttle; }

 protected:
  // What an implementation calls before it issues a read of `bytes`: waits for the throttle.
  // Throws backy::Cancelled when `stop` is requested meanwhile.
  void throttle(uint64_t bytes, std::stop_token stop) {
    if (throttle_) throttle_->take(bytes, stop);
  }
  // Whether reads may have to wait: an implementation with reads in flight then hands over
  // what has arrived before it waits to issue the next.
  bool throttled() const { return throttle_ != nullptr && throttle_->limited(); }

 private:
  ReadThrottle* throttle_ = nullptr;
};

class Source {
 public:
  virtual ~Source() = default;

  // What the .rev records about where the data came from: "type", and "filename" or
  // "pool"/"image"/"snapshot".
  virtual std::map<std::string, std::string> describe(const std::string& uuid) const = 0;
  // Whether an incremental backup from revision `parent_uuid` is possible (for RBD: its
  // snapshot backy-<parent_uuid> still exists).
  virtual bool can_diff_from(const std::string& parent_uuid) = 0;
  // Freezes the source for revision `uuid` ahead of open() (RBD: creates snapshot
  // backy-<uuid>), so a run can start it first and prepare meanwhile. May run on another thread
  // while the run's thread calls can_diff_from(); nothing else meanwhile. Default: nothing
  // (open() freezes). Throws backy::Error; abandon(uuid) undoes it.
  virtual void snapshot(const std::string& uuid) { (void)uuid; }
  // Freezes the source for revision `uuid` unless snapshot(uuid) did (RBD: creates snapshot
  // backy-<uuid>) and opens it, as an incremental from `parent_uuid` when given, else full.
  virtual std::unique_ptr<SourceSnapshot> open(const std::string& uuid,
                                               const std::optional<std::string>& parent_uuid) = 0;
  // Called after revision `uuid` is committed, with `owned`: every uuid whose state this job
  // may have left on the source (its revisions, and its runs that failed or crashed: the
  // repository's source records). Drops what the next incremental no longer needs (RBD:
  // snapshot backy-<u> for every u in `owned` but `uuid`); never touches what `owned` does not
  // name, so the snapshots of another job or backup host on the same image, and foreign ones,
  // stay. Returns the uuids of `owned` of which the source now holds nothing (one it failed to
  // remove is not among them). Throws backy::Error when it cannot even look.
  virtual std::set<std::string> committed(const std::string& uuid,
                                          const std::set<std::string>& owned) = 0;
  // Called after a failed run of `uuid`: undo open() (RBD: remove backy-<uuid>). Never throws;
  // returns true when the source holds nothing of `uuid` any more.
  virtual bool abandon(const std::string& uuid) noexcept = 0;
};

}  // namespace backy

// BlockBudget: the block buffers that all of a process's running backups may hold between them,
// beyond the one buffer each run needs to move at all.
//
// A run needs one buffer of a kind to make progress (one block read from the source, one block
// on its way to the disk); more only let it overlap (the next block hashed while the last one is
// written). Those extra buffers are taken from one budget shared by every run, so the memory of
// N runs is N minimal sets plus the budget, not N times a run's best case: a run alone still gets
// its whole queue, several running at once share it. Nobody waits for the budget: a run that
// cannot take a share goes on with the buffers it has (its writes then wait for the disk more
// often), so a run can never block another.
//
// Threading: any thread. try_take() and a Share's release are each one atomic operation. The
// budget must outlive its shares. Neither copyable nor movable.
#pragma once

#include <atomic>
#include <cstddef>

namespace backy {

class BlockBudget {
 public:
  // What a run holds of the budget; gives it back when destroyed. Movable, not copyable.
  class Share {
   public:
    Share() = default;
    Share(Share&& other) noexcept;
    Share& operator=(Share&& other) noexcept;
    ~Share() { release(); }
    Share(const Share&) = delete;
    Share& operator=(const Share&) = delete;

    // 0: an empty share (the budget had not enough left).
    size_t bytes() const { return bytes_; }
    explicit operator bool() const { return bytes_ != 0; }

   private:
    friend class BlockBudget;
    Share(BlockBudget* budget, size_t bytes) : budget_(budget), bytes_(bytes) {}
    void release();

    BlockBudget* budget_ = nullptr;
    size_t bytes_ = 0;
  };

  explicit BlockBudget(size_t bytes) : capacity_(bytes), left_(bytes) {}
  BlockBudget(const BlockBudget&) = delete;
  BlockBudget& operator=(const BlockBudget&) = delete;

  // A share of `bytes` when that much is left, else an empty one. Never waits.
  // REQUIRES: bytes > 0.
  Share try_take(size_t bytes);

  size_t capacity() const { return capacity_; }
  // What is not taken now (a moment's figure: other threads take and give meanwhile).
  size_t available() const { return left_.load(std::memory_order_relaxed); }

 private:
  const size_t capacity_;
  std::atomic<size_t> left_;
};

}  // namespace backy

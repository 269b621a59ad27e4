// The block buffers all running backups share (store/block_budget.h), and the direct write
// queue's use of them (store/direct_write_queue.h): beyond its own first buffer a queue holds
// only what the shared budget grants, gives it back when it goes, and never waits for it.
#include <fcntl.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "queue_file.h"
#include "store/block_budget.h"
#include "store/direct_write_queue.h"
#include "util/file_io.h"

using namespace backy;

TEST_CASE("a block budget grants shares while bytes are left and takes them back", "[store]") {
  BlockBudget budget(10);
  CHECK(budget.capacity() == 10);
  BlockBudget::Share a = budget.try_take(4);
  BlockBudget::Share b = budget.try_take(4);
  CHECK(a.bytes() == 4);
  CHECK(b.bytes() == 4);
  CHECK(budget.available() == 2);
  // Not enough left: an empty share, and nothing taken.
  BlockBudget::Share c = budget.try_take(4);
  CHECK_FALSE(c);
  CHECK(c.bytes() == 0);
  CHECK(budget.available() == 2);
  // A moved share is given back once, by its last owner.
  BlockBudget::Share moved = std::move(a);
  CHECK(budget.available() == 2);
  moved = BlockBudget::Share();
  CHECK(budget.available() == 6);
  {
    BlockBudget::Share d = budget.try_take(6);
    CHECK(budget.available() == 0);
  }
  CHECK(budget.available() == 6);
}

TEST_CASE("a block budget taken from many threads never grants more than it holds", "[store]") {
  BlockBudget budget(64);
  std::atomic<size_t> held{0}, most{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        BlockBudget::Share s = budget.try_take(8);
        if (!s) continue;
        const size_t now = held += s.bytes();
        size_t seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        held -= s.bytes();
      }
    });
  for (auto& t : threads) t.join();
  CHECK(most.load() <= 64);
  CHECK(most.load() > 0);
  CHECK(budget.available() == 64);
}

namespace {

// The kernel, except that every write waits until the test opens the gate: the queue's writer
// is then stuck on its first write, and what the caller gets meanwhile shows what the queue may
// hold.
class GatedFileSystem : public FileSystem {
 public:
  void open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  ssize_t pwrite(int fd, const void* buf, size_t len, off_t offset) override {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return open_; });
    lock.unlock();
    return FileSystem::pwrite(fd, buf, len, offset);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Queues the write of block `i`, every byte i + 1.
void queue_block(DirectWriteQueue& q, size_t i) {
  const std::vector<char> block(q.buffer_size(), static_cast<char>(i + 1));
  test::queue_copy(q, block, i * q.buffer_size());
}

}  // namespace

TEST_CASE("direct write queues hold their first buffer and only what the budget grants",
          "[store]") {
  test::QueueFile f;
  const size_t kBuf = 64 * 1024;
  GatedFileSystem gated;
  BlockBudget budget(2 * kBuf);

  // With its writer stuck, a queue that may hold four buffers gets its own and the two the
  // budget has: three writes queue without waiting.
  auto first = std::make_unique<DirectWriteQueue>(gated, f.direct.get(), f.buffered.get(), "f", 4,
                                                  kBuf, 1, &budget);
  for (size_t i = 0; i < 3; ++i) queue_block(*first, i);
  CHECK(first->buffers() == 3);
  CHECK(budget.available() == 0);

  // A second queue meanwhile: its own buffer, nothing from the spent budget.
  DirectWriteQueue second(gated, f.direct.get(), f.buffered.get(), "f", 4, kBuf, 1, &budget);
  queue_block(second, 3);
  CHECK(second.buffers() == 1);
  CHECK(budget.available() == 0);

  // Written once the disk moves; the second queue goes on with its one buffer.
  gated.open();
  first->drain();
  for (size_t i = 4; i < 8; ++i) queue_block(second, i);
  second.drain();
  CHECK(second.buffers() == 1);
  const std::string data = read_file(f.path);
  REQUIRE(data.size() == 8 * kBuf);
  for (size_t i = 0; i < 8; ++i) CHECK(data[i * kBuf] == static_cast<char>(i + 1));

  // The first queue gone, its shares are back for the next.
  first.reset();
  CHECK(budget.available() == 2 * kBuf);
}

TEST_CASE("a direct write queue without a budget makes only the buffers it waits for", "[store]") {
  test::QueueFile f;
  const size_t kBuf = 64 * 1024;
  GatedFileSystem gated;
  DirectWriteQueue q(gated, f.direct.get(), f.buffered.get(), "f", 4, kBuf);
  CHECK(q.buffers() == 0);  // none before the first write
  for (size_t i = 0; i < 4; ++i) queue_block(q, i);
  CHECK(q.buffers() == 4);  // no budget: all it may hold
  gated.open();
  q.drain();
  for (size_t i = 4; i < 12; ++i) queue_block(q, i);
  q.drain();
  CHECK(q.buffers() == 4);  // never more
  CHECK(read_file(f.path).size() == 12 * kBuf);
}

#include "store/direct_reads.h"

#include <linux/aio_abi.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "util/error.h"

namespace backy {

namespace {

long io_setup(unsigned nr, aio_context_t* ctx) {
  return ::syscall(SYS_io_setup, nr, ctx);
}
long io_destroy(aio_context_t ctx) {
  return ::syscall(SYS_io_destroy, ctx);
}
long io_submit(aio_context_t ctx, long n, iocb** cbs) {
  return ::syscall(SYS_io_submit, ctx, n, cbs);
}
long io_getevents(aio_context_t ctx, long min, long max, io_event* events) {
  return ::syscall(SYS_io_getevents, ctx, min, max, events, nullptr);
}

}  // namespace

std::optional<DirectReads> DirectReads::open(unsigned depth) {
  aio_context_t ctx = 0;
  if (depth == 0 || io_setup(depth, &ctx) != 0) return std::nullopt;
  return DirectReads(ctx, depth);
}

DirectReads::DirectReads(DirectReads&& other) noexcept : ctx_(other.ctx_), depth_(other.depth_) {
  other.ctx_ = 0;
}

DirectReads::~DirectReads() {
  if (ctx_ != 0) io_destroy(ctx_);
}

void DirectReads::run(std::span<Read> reads) {
  std::vector<iocb> cbs(reads.size());
  std::vector<iocb*> queue(reads.size());
  for (size_t i = 0; i < reads.size(); ++i) {
    iocb& cb = cbs[i];
    cb = iocb{};
    cb.aio_data = i;
    cb.aio_lio_opcode = IOCB_CMD_PREAD;
    cb.aio_fildes = static_cast<uint32_t>(reads[i].fd);
    cb.aio_buf = reinterpret_cast<uint64_t>(reads[i].buf);
    cb.aio_nbytes = reads[i].len;
    cb.aio_offset = static_cast<int64_t>(reads[i].offset);
    queue[i] = &cb;
  }
  std::vector<io_event> events(depth_);
  size_t submitted = 0, in_flight = 0;
  int refused = 0;
  // Every submitted read is waited for, whatever happens to later submissions: the kernel
  // writes into the buffers until the read ends.
  while (in_flight > 0 || (submitted < reads.size() && refused == 0)) {
    if (submitted < reads.size() && refused == 0 && in_flight < depth_) {
      const long want =
          static_cast<long>(std::min<size_t>(reads.size() - submitted, depth_ - in_flight));
      const long n = io_submit(ctx_, want, queue.data() + submitted);
      if (n > 0) {
        submitted += static_cast<size_t>(n);
        in_flight += static_cast<size_t>(n);
        continue;
      }
      // EAGAIN with reads in flight: their ends make room. Anything else, or nothing to wait
      // for, ends the submissions.
      if (n == 0 || errno != EAGAIN || in_flight == 0) refused = n == 0 ? EAGAIN : errno;
      if (in_flight == 0) break;
    }
    const long n = io_getevents(ctx_, 1, static_cast<long>(depth_), events.data());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw sys_error("waiting for reads in flight");
    }
    for (long e = 0; e < n; ++e) {
      reads[events[e].data].result = static_cast<ssize_t>(events[e].res);
      --in_flight;
    }
  }
  for (size_t i = submitted; i < reads.size(); ++i) reads[i].result = -refused;
}

}  // namespace backy

#include "restore/restore.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "restore/image_reader.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/file_io.h"

namespace backy {

void restore_image(const std::filesystem::path& image, uint64_t size, RestoreTarget& target,
                   const RestoreProgress& progress, std::stop_token stop) {
  // O_DIRECT where the filesystem has it: the revision is read once, and the page cache's copy
  // and bookkeeping would only cost CPU that the writes need (ImageReader reads whole pages).
  UniqueFd fd(::open(image.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC));
  if (!fd) fd = open_file(image, O_RDONLY);
  restore_image(fd.get(), image.string(), size, target, progress, std::move(stop));
}

namespace {

constexpr size_t kPage = 4096;

// Writes the runs of non-zero pages of `chunk`: into a target that reads as zeros,
// a zero page is left unwritten, which keeps it a hole in a file and an absent object in RBD.
void write_nonzero(RestoreTarget& target, const ImageReader::Chunk& chunk) {
  const uint64_t offset = chunk.offset;
  const std::span<const char> data = chunk.data;
  auto write = [&](size_t from, size_t to) {
    target.write_chunk(offset + from, data.subspan(from, to - from), chunk.memory);
  };
  size_t run = 0;  // start of the current run of non-zero pages
  size_t pos = 0;
  while (pos < data.size()) {
    const size_t len = std::min(kPage, data.size() - pos);
    if (is_all_zero(data.subspan(pos, len))) {
      if (run < pos) write(run, pos);
      run = pos + len;
    }
    pos += len;
  }
  if (run < pos) write(run, pos);
}

}  // namespace

void restore_image(int fd, const std::string& name, uint64_t size, RestoreTarget& target,
                   const RestoreProgress& progress, std::stop_token stop) {
  if (target.clone_from(fd, size)) {
    if (progress) progress(size, size);
    target.finish();
    return;
  }
  const std::vector<char> zeros(target.zero_filled() ? 0 : ImageReader::kChunkSize, 0);
  ImageReader reader(fd, name, size, kRestoreReadAhead, target.chunk_allocator());
  while (std::optional<ImageReader::Chunk> chunk = reader.next()) {
    if (stop.stop_requested()) throw Cancelled();
    if (!chunk->hole) {
      if (target.zero_filled())
        write_nonzero(target, *chunk);
      else
        target.write_chunk(chunk->offset, chunk->data, chunk->memory);
    } else if (!target.zero_filled()) {
      // A device may hold old data and a pipe has no holes: write the zeros out.
      for (uint64_t off = chunk->offset; off < chunk->offset + chunk->length;) {
        if (stop.stop_requested()) throw Cancelled();
        const size_t len = static_cast<size_t>(
            std::min<uint64_t>(zeros.size(), chunk->offset + chunk->length - off));
        target.write(off, std::span<const char>(zeros.data(), len));
        off += len;
      }
    }
    if (progress) progress(chunk->offset + chunk->length, size);
  }
  if (progress) progress(size, size);
  target.finish();
}

}  // namespace backy

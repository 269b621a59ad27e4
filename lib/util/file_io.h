// Small, checked wrappers around POSIX file I/O. Each throws backy::Error naming the path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "util/fd.h"
#include "util/file_system.h"

namespace backy {

UniqueFd open_file(const std::filesystem::path& path, int flags, mode_t mode = 0644);

// Reads exactly buf.size() bytes at offset, or fewer only at end of file; returns bytes read.
size_t pread_full(int fd, std::span<char> buf, uint64_t offset, const std::string& what);
// The writing calls go through `fs` (file_system.h); the overloads without it use the kernel.
void pwrite_full(FileSystem& fs, int fd, std::span<const char> buf, uint64_t offset,
                 const std::string& what);
void pwrite_full(int fd, std::span<const char> buf, uint64_t offset, const std::string& what);
// Deallocates [offset, offset+len) keeping the file size: reads return zeros afterwards.
void punch_hole(FileSystem& fs, int fd, uint64_t offset, uint64_t len, const std::string& what);
void fdatasync_or_throw(FileSystem& fs, int fd, const std::string& what);
void fsync_dir(const std::filesystem::path& dir);
// Size of a regular file or a block device.
uint64_t file_or_device_size(int fd, const std::string& what);

// Writes `content` to `path` durably: temp file in the same directory, fsync, rename, fsync dir.
void write_file_atomic(const std::filesystem::path& path, const std::string& content,
                       mode_t mode = 0644);
std::string read_file(const std::filesystem::path& path);

bool is_all_zero(std::span<const char> buf);

}  // namespace backy

#include "fsutil.h"
#include "model_files.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace catdog::fs {
namespace stdfs = std::filesystem;

Status ReadFile(const std::string& path, std::vector<uint8_t>* out, uint64_t max_bytes) {
  std::error_code ec;
  if (stdfs::is_directory(path, ec)) return Status::Error(path + ": is a directory, expected a file");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return Status::Error(path + ": cannot open: " + std::strerror(errno));
  out->clear();
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    if (out->size() + n > max_bytes) {
      std::fclose(f);
      return Status::Error(path + ": larger than the limit of " + std::to_string(max_bytes) + " bytes");
    }
    out->insert(out->end(), buf, buf + n);
  }
  bool err = std::ferror(f);
  std::fclose(f);
  if (err) return Status::Error(path + ": read error");
  return Status::Ok();
}

Status ReadTextFile(const std::string& path, std::string* out, uint64_t max_bytes) {
  std::vector<uint8_t> bytes;
  Status s = ReadFile(path, &bytes, max_bytes);
  if (!s) return s;
  out->assign(bytes.begin(), bytes.end());
  return Status::Ok();
}

Status WriteFileAtomic(const std::string& path, const void* data, size_t size) {
  stdfs::path p(path);
  std::error_code ec;
  if (p.has_parent_path()) stdfs::create_directories(p.parent_path(), ec);
  std::random_device rd;
  std::string tmp = path + ".tmp" + std::to_string(rd() % 1000000);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::Error(path + ": cannot create: " + std::strerror(errno));
  const char* c = static_cast<const char*>(data);
  size_t left = size;
  while (left > 0) {
    ssize_t w = ::write(fd, c, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return Status::Error(path + ": write failed: " + why);
    }
    c += w;
    left -= static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return Status::Error(path + ": fsync/close failed: " + std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return Status::Error(path + ": rename failed: " + why);
  }
  // Make the rename itself durable (a power cut could otherwise undo it); failure to open the
  // directory (odd filesystems) is not an error: the data is already safe from a process crash.
  const std::string parent = p.has_parent_path() ? p.parent_path().string() : std::string(".");
  int dfd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

Status WriteFileAtomic(const std::string& path, const std::string& text) {
  return WriteFileAtomic(path, text.data(), text.size());
}

bool IsStaleTempName(const std::string& name) {
  for (const char* marker : {".tmp-export-", ".old-export-", ".tmp"}) {
    const size_t at = name.rfind(marker);
    if (at == std::string::npos || at == 0) continue;
    const size_t digits = at + std::strlen(marker);
    if (digits == name.size()) continue;
    bool all = true;
    for (size_t i = digits; i < name.size(); ++i) all = all && name[i] >= '0' && name[i] <= '9';
    if (all) return true;
  }
  return false;
}

Status RemoveStaleTemps(const std::string& dir, size_t* removed, const std::string& prefix) {
  *removed = 0;
  std::error_code ec;
  if (!stdfs::is_directory(dir, ec)) return Status::Ok();
  std::vector<stdfs::path> doomed;
  for (const auto& e : stdfs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && IsStaleTempName(name) && !e.is_symlink(ec)) doomed.push_back(e.path());
  }
  if (ec) return Status::Error(dir + ": cannot list: " + ec.message());
  for (const stdfs::path& p : doomed) {
    stdfs::remove_all(p, ec);
    if (ec) return Status::Error(p.string() + ": cannot remove a stale temporary: " + ec.message());
    ++*removed;
  }
  return Status::Ok();
}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);  // closing drops the flock
}

Status DirLock::Lock(const std::string& dir, const std::string& what) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_ < 0) return Status::Error(dir + ": cannot open to lock: " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK) return Status::Error(dir + ": " + what);
    return Status::Error(dir + ": cannot lock: " + std::strerror(err));
  }
  return Status::Ok();
}

Status LoadModelDir(const std::string& dir_or_json, const LoadOptions& options,
                    std::unique_ptr<Model>* out) {
  ModelFiles files;
  Status s = ReadModelFiles(dir_or_json, options, &files);
  if (!s) return s;
  if (!(s = files.model->LoadWeights(files.Views()))) return s;
  *out = std::move(files.model);
  return Status::Ok();
}

}  // namespace catdog::fs

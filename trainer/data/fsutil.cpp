#include "fsutil.h"
#include "model_files.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <unistd.h>

namespace catdog::fs {
namespace stdfs = std::filesystem;

const char* FileTypeName(mode_t m) {
  if (S_ISREG(m)) return "a regular file";
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO (named pipe)";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISLNK(m)) return "a symbolic link";
  return "not a regular file";
}

Status OpenRegular(const std::string& path, int* fd, struct stat* st) {
  *fd = -1;
  if (::stat(path.c_str(), st) != 0) return Status::Error(path + ": cannot open: " + std::strerror(errno));
  if (!S_ISREG(st->st_mode)) return Status::Error(path + ": is " + FileTypeName(st->st_mode) + ", expected a regular file");
  const int f = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (f < 0) return Status::Error(path + ": cannot open: " + std::strerror(errno));
  if (::fstat(f, st) != 0 || !S_ISREG(st->st_mode)) {
    ::close(f);
    return Status::Error(path + ": is " + FileTypeName(st->st_mode) + ", expected a regular file");
  }
  *fd = f;
  return Status::Ok();
}

Status ReadExactly(int fd, const std::string& path, uint8_t* dst, uint64_t size) {
  uint64_t got = 0;
  while (got < size) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(size - got, 1u << 30));
    ssize_t n = ::read(fd, dst + got, want);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = n < 0 ? std::strerror(errno) : "the file shrank while being read";
      ::close(fd);
      return Status::Error(path + ": read error: " + why);
    }
    got += static_cast<uint64_t>(n);
  }
  char extra;
  ssize_t more;
  do more = ::read(fd, &extra, 1);
  while (more < 0 && errno == EINTR);
  ::close(fd);
  if (more > 0) return Status::Error(path + ": the file grew while being read");
  return Status::Ok();
}

Status ReadExactly(int fd, const std::string& path, uint64_t size, std::vector<uint8_t>* out) {
  out->resize(static_cast<size_t>(size));
  return ReadExactly(fd, path, out->data(), size);
}

Status ReadFile(const std::string& path, std::vector<uint8_t>* out, uint64_t max_bytes) {
  out->clear();
  int fd = -1;
  struct stat st {};
  Status s = OpenRegular(path, &fd, &st);
  if (!s) return s;
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return Status::Error(path + ": " + std::to_string(st.st_size) + " bytes, larger than the limit of " +
                         std::to_string(max_bytes) + " bytes (nothing was read)");
  }
  s = ReadExactly(fd, path, static_cast<uint64_t>(st.st_size), out);
  if (!s) out->clear();
  return s;
}

Status ReadTextFile(const std::string& path, std::string* out, uint64_t max_bytes) {
  std::vector<uint8_t> bytes;
  Status s = ReadFile(path, &bytes, max_bytes);
  if (!s) return s;
  out->assign(bytes.begin(), bytes.end());
  return Status::Ok();
}

namespace {

// The marker's first line; a file without it is not ours.
constexpr char kMarkerSignature[] = "catdog staging folder: safe to delete once process";

bool ProcessAlive(long pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

// The folder `p` belongs to, for messages and for creating it ("." for a bare name).
stdfs::path ParentOf(const stdfs::path& p) { return p.has_parent_path() ? p.parent_path() : stdfs::path("."); }

Status MakeParent(const std::string& path) {
  const stdfs::path parent = ParentOf(stdfs::path(path));
  std::error_code ec;
  if (stdfs::is_directory(parent, ec)) return Status::Ok();
  if (stdfs::exists(parent, ec)) return Status::Error(path + ": " + parent.string() + " is not a folder");
  stdfs::create_directories(parent, ec);
  if (ec) return Status::Error(path + ": cannot create the folder " + parent.string() + ": " + ec.message());
  return Status::Ok();
}

}  // namespace

namespace {
thread_local size_t tree_removed = 0;
thread_local int tree_errno = 0;
int RemoveEntry(const char* path, const struct stat*, int type, struct FTW*) {
  const int rc = type == FTW_DP ? ::rmdir(path) : ::unlink(path);
  if (rc == 0) {
    ++tree_removed;
  } else if (errno != ENOENT && tree_errno == 0) {
    tree_errno = errno;
  }
  return 0;  // go on: remove as much as possible, report the first error
}
}  // namespace

size_t RemoveTree(const std::string& path, std::error_code& ec) {
  ec.clear();
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) ec.assign(errno, std::generic_category());
    return 0;
  }
  tree_removed = 0;
  tree_errno = 0;
  // Depth-first (children before their folder), physical (a symlink is removed, not followed).
  if (::nftw(path.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS) != 0 && tree_errno == 0) tree_errno = errno;
  if (tree_errno) ec.assign(tree_errno, std::generic_category());
  return tree_removed;
}

// The marker goes last: a process killed while removing its staging folder leaves either the
// marker (RemoveStaleTemps knows the folder by it) or an empty folder (known by its name's pid),
// never a half-emptied folder without its marker that nothing would dare remove.
StagingDir::~StagingDir() {
  if (path_.empty()) return;
  std::error_code ec;
  if (DIR* d = ::opendir(path_.c_str())) {
    std::vector<std::string> names;
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != ".." && name != kStagingMarker) names.push_back(name);
    }
    ::closedir(d);
    for (const std::string& name : names) RemoveTree(path_ + "/" + name, ec);
  }
  ::unlink((path_ + "/" + kStagingMarker).c_str());
  ::rmdir(path_.c_str());
}

Status StagingDir::Create(const std::string& dir, const std::string& for_name) {
  std::random_device rd;
  const std::string base = (stdfs::path(dir) / kStagingPrefix).string() + std::to_string(::getpid()) + "-";
  for (int attempt = 0;; ++attempt) {
    const std::string p = base + std::to_string(rd() % 1000000000);
    if (::mkdir(p.c_str(), 0755) == 0) {
      path_ = p;
      break;
    }
    if (errno != EEXIST || attempt > 20)
      return Status::Error((stdfs::path(dir) / for_name).string() + ": cannot create a staging folder in " + dir +
                           ": " + std::strerror(errno));
  }
  const std::string marker = kMarkerSignature + std::string(" ") + std::to_string(::getpid()) +
                             " has ended\npid " + std::to_string(::getpid()) + "\nfor " + for_name + "\n";
  // Written under another name and renamed: a marker is either complete or absent (a kill while
  // writing leaves the .part, which RemoveStaleTemps treats like an empty folder).
  const std::string mpath = path_ + "/" + kStagingMarker, part = mpath + ".part";
  int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && ::write(fd, marker.data(), marker.size()) == ssize_t(marker.size());
  int err = errno;
  if (fd >= 0) ::close(fd);
  if (ok && ::rename(part.c_str(), mpath.c_str()) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) return Status::Error(mpath + ": cannot write: " + std::strerror(err));
  return Status::Ok();
}

bool IsStagingDir(const std::string& entry, std::string* for_name, long* pid) {
  const stdfs::path p(entry);
  if (p.filename().string().rfind(kStagingPrefix, 0) != 0) return false;
  std::error_code ec;
  if (!stdfs::is_directory(stdfs::symlink_status(p, ec))) return false;
  const stdfs::path marker = p / kStagingMarker;
  if (!stdfs::is_regular_file(stdfs::symlink_status(marker, ec))) return false;
  std::string text;
  if (!ReadTextFile(marker.string(), &text, 4096)) return false;
  if (text.rfind(kMarkerSignature, 0) != 0) return false;
  long n = -1;
  std::string name;
  const size_t at_pid = text.find("\npid "), at_for = text.find("\nfor ");
  if (at_pid == std::string::npos || at_for == std::string::npos) return false;
  n = std::strtol(text.c_str() + at_pid + 5, nullptr, 10);
  name = text.substr(at_for + 5);
  if (!name.empty() && name.back() == '\n') name.pop_back();
  if (for_name) *for_name = name;
  if (pid) *pid = n;
  return true;
}

Status WriteFileAtomic(const std::string& path, const void* data, size_t size) {
  stdfs::path p(path);
  if (path.empty()) return Status::Error("cannot write a file with an empty name");
  Status s = MakeParent(path);
  if (!s) return s;
  // What an earlier write of this file killed mid-way left beside it (in-place
  // rewrites of model.json by ood-fit, calibrate, seal); marker-checked, best effort.
  size_t stale = 0;
  RemoveStaleTemps(ParentOf(p).string(), &stale, p.filename().string());
  StagingDir staging;
  s = staging.Create(ParentOf(p).string(), p.filename().string());
  if (!s) return Status::Error(path + ": cannot write: " + s.message());
  const std::string tmp = staging.path() + "/" + p.filename().string();
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
      return Status::Error(path + ": write failed: " + why);
    }
    c += w;
    left -= static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return Status::Error(path + ": fsync/close failed: " + std::strerror(errno));
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Status::Error(path + ": rename failed: " + std::strerror(errno));
  // Make the rename itself durable (a power cut could otherwise undo it); failure to open the
  // directory (odd filesystems) is not an error: the data is already safe from a process crash.
  int dfd = ::open(ParentOf(p).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

Status WriteFileAtomic(const std::string& path, const std::string& text) {
  return WriteFileAtomic(path, text.data(), text.size());
}

Status RemoveStaleTemps(const std::string& dir, size_t* removed, const std::string& for_name,
                        std::vector<std::string>* recovered) {
  *removed = 0;
  std::error_code ec;
  if (!stdfs::is_directory(dir, ec)) return Status::Ok();
  std::vector<stdfs::path> doomed;
  for (const auto& e : stdfs::directory_iterator(dir, ec)) {
    const std::string path = e.path().string();
    if (e.path().filename().string().rfind(kStagingPrefix, 0) != 0) continue;
    std::error_code e2;
    // Empty, or holding only a marker that was being written: killed between mkdir and a complete
    // marker; the name carries the pid (".catdog-tmp-<pid>-<n>").
    const long name_pid = std::strtol(e.path().filename().c_str() + std::strlen(kStagingPrefix), nullptr, 10);
    if (stdfs::is_directory(stdfs::symlink_status(e.path(), e2)) && !e2) {
      bool only_marker = true, has_full_marker = false;
      for (const auto& f : stdfs::directory_iterator(e.path(), e2)) {
        const std::string n = f.path().filename().string();
        if (n == kStagingMarker) has_full_marker = true;
        else if (n != std::string(kStagingMarker) + ".part") only_marker = false;
      }
      if (!e2 && only_marker && !has_full_marker) {
        if (!ProcessAlive(name_pid)) doomed.push_back(e.path());
        continue;
      }
    }
    std::string name;
    long pid = -1;
    if (!IsStagingDir(path, &name, &pid) || ProcessAlive(pid)) continue;
    if (!for_name.empty() && name != for_name) continue;
    doomed.push_back(e.path());
  }
  if (ec) return Status::Error(dir + ": cannot list: " + ec.message());
  for (const stdfs::path& p : doomed) {
    // A folder replace killed between its renames: the old folder waits here; put it back.
    const stdfs::path previous = p / kPreviousName;
    std::string name;
    if (stdfs::is_directory(stdfs::symlink_status(previous, ec)) && IsStagingDir(p.string(), &name) && !name.empty() &&
        name.find('/') == std::string::npos) {
      const stdfs::path target = stdfs::path(dir) / name;
      if (!stdfs::exists(stdfs::symlink_status(target, ec))) {
        if (::rename(previous.c_str(), target.c_str()) != 0)
          return Status::Error(target.string() + ": an interrupted replace left the previous folder in " +
                               previous.string() + " and it cannot be moved back: " + std::strerror(errno) +
                               " (move it back by hand; nothing was deleted)");
        if (recovered) recovered->push_back(target.string());
      }
    }
    ec.clear();
    RemoveTree(p.string(), ec);
    if (ec) return Status::Error(p.string() + ": cannot remove a stale staging folder: " + ec.message());
    ++*removed;
  }
  return Status::Ok();
}

Status ReplaceDir(const std::string& staged, const std::string& dest, const std::string& aside) {
  std::error_code ec;
  bool moved = false;
  if (stdfs::exists(stdfs::symlink_status(dest, ec))) {
    stdfs::rename(dest, aside, ec);
    if (ec) return Status::Error(dest + ": cannot move the previous folder aside: " + ec.message());
    moved = true;
  }
  stdfs::rename(staged, dest, ec);
  if (ec) {
    std::error_code e2;
    if (moved) stdfs::rename(aside, dest, e2);
    return Status::Error(dest + ": cannot rename the new folder into place: " + ec.message());
  }
  return Status::Ok();
}

namespace {

// `p` absolute, with symlinks resolved as far as the path exists and '.'/'..' removed.
stdfs::path Canonical(const std::string& p) {
  std::error_code ec;
  stdfs::path a = stdfs::absolute(p, ec);
  if (ec) a = stdfs::path(p);
  stdfs::path c = stdfs::weakly_canonical(a, ec);
  if (ec) c = a.lexically_normal();
  if (c.filename().empty() && c.has_parent_path() && c != c.root_path()) c = c.parent_path();  // "dir/" -> "dir"
  return c;
}

// True when `inner` is `outer` or lies below it (whole components compared).
bool Within(const stdfs::path& inner, const stdfs::path& outer) {
  auto i = inner.begin(), o = outer.begin();
  for (; o != outer.end(); ++o, ++i) {
    if (o->empty()) continue;
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

}  // namespace

Status CheckNotAnInput(const std::string& out, const std::vector<std::string>& inputs, const std::string& flag) {
  if (out.empty()) return Status::Ok();  // the caller says "--out is empty" in its own words
  const stdfs::path o = Canonical(out);
  for (const std::string& in : inputs) {
    if (in.empty()) continue;
    const stdfs::path i = Canonical(in);
    if (o == i)
      return Status::Error(flag + " " + out + ": is the input " + in + " (" + o.string() +
                           "); writing there would destroy what is read: choose another path");
    if (Within(i, o))
      return Status::Error(flag + " " + out + ": contains the input " + in + " (" + i.string() +
                           "); replacing it would destroy what is read: choose another path");
    if (Within(o, i))
      return Status::Error(flag + " " + out + ": is inside the input " + in + " (" + i.string() +
                           "); write outputs beside an input, never into it");
  }
  return Status::Ok();
}

Status CheckOutputFile(const std::string& path, const std::string& flag, bool force,
                       const std::vector<std::string>& inputs) {
  if (path.empty()) return Status::Error(flag + " is empty: give a file to write");
  Status s = CheckNotAnInput(path, inputs, flag);
  if (!s) return s;
  const stdfs::path c = Canonical(path);
  const stdfs::path parent = c.parent_path();
  std::error_code ec;
  for (const char* own : {"pack.json", "model.json", kOutputMarker})
    if (stdfs::exists(stdfs::symlink_status(parent / own, ec)))
      return Status::Error(flag + " " + path + ": " + parent.string() + " is a " +
                           (std::string(own) == "pack.json" ? "pack" : "model") + " folder (it holds " + own +
                           "); write this file outside it");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode))
      return Status::Error(flag + " " + path + ": exists and is " + FileTypeName(st.st_mode) + ", expected a file name to write");
    if (!force) return Status::Error(flag + " " + path + ": exists; refusing to replace it (pass --force to replace it)");
  } else if (::lstat(path.c_str(), &st) == 0) {
    return Status::Error(flag + " " + path + ": is a symbolic link to nothing; refusing to write through it");
  }
  return Status::Ok();
}

Status LinkTree(const std::string& src, const std::string& dst) {
  struct stat st {};
  if (::lstat(src.c_str(), &st) != 0) return Status::Error(src + ": cannot read: " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) {
    if (::mkdir(dst.c_str(), st.st_mode & 07777) != 0) return Status::Error(dst + ": cannot create: " + std::strerror(errno));
    std::vector<std::string> names;
    if (DIR* d = ::opendir(src.c_str())) {
      while (const dirent* e = ::readdir(d)) {
        const std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(n);
      }
      ::closedir(d);
    } else {
      return Status::Error(src + ": cannot list: " + std::strerror(errno));
    }
    for (const std::string& n : names) {
      Status s = LinkTree(src + "/" + n, dst + "/" + n);
      if (!s) return s;
    }
    return Status::Ok();
  }
  if (S_ISLNK(st.st_mode)) {
    std::vector<char> buf(static_cast<size_t>(st.st_size > 0 ? st.st_size : 255) + 1);
    const ssize_t n = ::readlink(src.c_str(), buf.data(), buf.size() - 1);
    if (n < 0) return Status::Error(src + ": cannot read the link: " + std::strerror(errno));
    if (::symlink(std::string(buf.data(), size_t(n)).c_str(), dst.c_str()) != 0)
      return Status::Error(dst + ": cannot create a link: " + std::strerror(errno));
    return Status::Ok();
  }
  if (!S_ISREG(st.st_mode))
    return Status::Error(src + ": is " + std::string(FileTypeName(st.st_mode)) +
                         "; catdog keeps only files, folders and links of yours in an output folder: move it away");
  if (::link(src.c_str(), dst.c_str()) == 0) return Status::Ok();
  // No hard link here (another owner's file under protected_hardlinks, a filesystem without
  // links): a copy with the same mode.
  std::vector<uint8_t> bytes;
  Status s = ReadFile(src, &bytes, ~0ull);
  if (!s) return s;
  const int fd = ::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 07777);
  if (fd < 0) return Status::Error(dst + ": cannot create: " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      return Status::Error(dst + ": write failed: " + why);
    }
    done += size_t(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return Status::Error(dst + ": fsync/close failed: " + std::strerror(errno));
  return Status::Ok();
}

Status MakeOutputDir(const std::string& dir, const std::string& flag) {
  if (dir.empty()) return Status::Error(flag + " is empty: give a folder to write into");
  std::error_code ec;
  const auto st = stdfs::status(dir, ec);
  if (stdfs::exists(st) && !stdfs::is_directory(st))
    return Status::Error(flag + " " + dir + ": exists and is not a folder");
  if (!stdfs::exists(st)) {
    stdfs::create_directories(dir, ec);
    if (ec) return Status::Error(flag + " " + dir + ": cannot create the folder: " + ec.message());
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    return Status::Error(flag + " " + dir + ": cannot write into the folder: " + std::strerror(errno));
  return Status::Ok();
}

std::string JsonSafeName(const std::string& name, bool* escaped) {
  // Finds the length of the valid UTF-8 sequence at i (0 if none): no overlongs, no surrogates.
  auto seq = [&](size_t i) -> size_t {
    const auto b = [&](size_t k) { return k < name.size() ? static_cast<unsigned char>(name[k]) : 0u; };
    const unsigned c = b(i);
    if (c < 0x80) return 1;
    const auto cont = [&](size_t k) { return (b(k) & 0xC0u) == 0x80u; };
    if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
      const unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
      return b(i + 1) >= lo && b(i + 1) <= hi && cont(i + 2) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
      const unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
      return b(i + 1) >= lo && b(i + 1) <= hi && cont(i + 2) && cont(i + 3) ? 4 : 0;
    }
    return 0;
  };
  bool valid = true;
  for (size_t i = 0, n; i < name.size() && valid; i += n) valid = (n = seq(i)) > 0;
  if (escaped) *escaped = !valid;
  if (valid) return name;
  std::string out;
  for (size_t i = 0; i < name.size();) {
    const size_t n = seq(i);
    if (n == 0) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned char>(name[i]));
      out += buf;
      ++i;
    } else if (name[i] == '\\') {
      out += "\\\\";
      ++i;
    } else {
      out.append(name, i, n);
      i += n;
    }
  }
  return out;
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
  OpenOptions o;
  o.load = options;
  Status s = OpenModel(dir_or_json, o, &files);
  if (!s) return s;
  *out = std::move(files.model);
  return Status::Ok();
}

}  // namespace catdog::fs

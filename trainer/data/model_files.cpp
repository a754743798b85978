#include "model_files.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace catdog::fs {
namespace stdfs = std::filesystem;

namespace {

const char* TypeName(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO (named pipe)";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  return "not a regular file";
}

// Opens `path` for reading only if it is a regular file: the type is checked with stat before the
// open (opening a device can have effects, opening a FIFO blocks) and again on the descriptor,
// which is opened non-blocking so a file swapped for a FIFO in between cannot hang us either.
Status OpenRegular(const std::string& path, int* fd, struct stat* st) {
  if (::stat(path.c_str(), st) != 0) return Status::Error(path + ": cannot open: " + std::strerror(errno));
  if (!S_ISREG(st->st_mode)) return Status::Error(path + ": is " + TypeName(st->st_mode) + ", expected a regular file");
  *fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (*fd < 0) return Status::Error(path + ": cannot open: " + std::strerror(errno));
  if (::fstat(*fd, st) != 0 || !S_ISREG(st->st_mode)) {
    ::close(*fd);
    return Status::Error(path + ": is " + TypeName(st->st_mode) + ", expected a regular file");
  }
  return Status::Ok();
}

// Reads exactly `size` bytes (the size fstat gave) from `fd` and closes it; a file that changed
// size meanwhile is an error rather than a longer read.
Status ReadExactly(int fd, const std::string& path, uint64_t size, std::vector<uint8_t>* out) {
  out->resize(static_cast<size_t>(size));
  size_t got = 0;
  while (got < out->size()) {
    ssize_t n = ::read(fd, out->data() + got, out->size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = n < 0 ? std::strerror(errno) : "the file shrank while being read";
      ::close(fd);
      return Status::Error(path + ": read error: " + why);
    }
    got += static_cast<size_t>(n);
  }
  char extra;
  ssize_t more = ::read(fd, &extra, 1);
  ::close(fd);
  if (more > 0) return Status::Error(path + ": the file grew while being read");
  return Status::Ok();
}

std::string RealPath(const std::string& path, std::string* why) {
  char buf[PATH_MAX];
  if (!::realpath(path.c_str(), buf)) {
    *why = std::strerror(errno);
    return "";
  }
  return buf;
}

}  // namespace

std::vector<ShardBytes> ModelFiles::Views() const {
  std::vector<ShardBytes> v;
  v.reserve(blobs.size());
  for (const auto& b : blobs) v.push_back({b.data(), b.size()});
  return v;
}

Status ReadModelShards(const std::string& json_path, const std::vector<std::string>& rel_paths,
                       uint64_t max_total_bytes, std::vector<std::vector<uint8_t>>* blobs) {
  blobs->clear();
  const stdfs::path parent = stdfs::path(json_path).parent_path();
  const std::string folder = parent.empty() ? std::string(".") : parent.string();
  std::string why;
  const std::string root = RealPath(folder, &why);
  if (root.empty()) return Status::Error(folder + ": cannot resolve the model's folder: " + why);
  const std::string prefix = root == "/" ? root : root + "/";
  auto fail = [&](const std::string& rel, const std::string& msg) {
    return Status::Error(json_path + ": weight file '" + rel + "' named in weightsManifest: " + msg);
  };

  // First every check that needs no data: where each path leads, its type, duplicates, sizes
  // (stat only: nothing is opened, so thousands of shards need no descriptors).
  struct Found {
    std::string real;
    struct stat st;
  };
  std::vector<Found> found;
  std::map<std::pair<dev_t, ino_t>, std::string> seen;
  uint64_t total = 0;
  for (const std::string& rel : rel_paths) {
    if (stdfs::path(rel).is_absolute()) return fail(rel, "is an absolute path; weight files must be inside " + folder);
    const std::string named = (parent / rel).string();
    Found f{RealPath(named, &why), {}};
    if (f.real.empty()) return fail(rel, named + ": cannot open: " + why);
    if (f.real.compare(0, prefix.size(), prefix) != 0)
      return fail(rel, "resolves to " + f.real + ", outside the model's folder " + root +
                           " (through '..' or a symlink); weight files must be inside it");
    if (::stat(f.real.c_str(), &f.st) != 0) return fail(rel, f.real + ": cannot open: " + std::strerror(errno));
    if (!S_ISREG(f.st.st_mode)) return fail(rel, "is " + std::string(TypeName(f.st.st_mode)) + ", expected a regular file");
    auto [it, fresh] = seen.emplace(std::make_pair(f.st.st_dev, f.st.st_ino), rel);
    if (!fresh) return fail(rel, "is the same file as '" + it->second + "' (each weight file may be read once)");
    total += static_cast<uint64_t>(f.st.st_size);
    if (total > max_total_bytes)
      return Status::Error(json_path + ": the weight files hold more bytes than the weights need (" +
                           std::to_string(max_total_bytes) + "); reached " + std::to_string(total) + " at '" + rel +
                           "', nothing was read");
    found.push_back(std::move(f));
  }
  // Then the data, one file at a time, each once; the descriptor must be the file checked above.
  blobs->resize(found.size());
  for (size_t i = 0; i < found.size(); ++i) {
    int fd = -1;
    struct stat st {};
    Status s = OpenRegular(found[i].real, &fd, &st);
    if (s && (st.st_dev != found[i].st.st_dev || st.st_ino != found[i].st.st_ino || st.st_size != found[i].st.st_size)) {
      ::close(fd);
      s = Status::Error(found[i].real + ": changed while the model was being read");
    }
    if (s) s = ReadExactly(fd, found[i].real, static_cast<uint64_t>(st.st_size), &(*blobs)[i]);
    if (!s) {
      blobs->clear();
      return fail(rel_paths[i], s.message());
    }
  }
  return Status::Ok();
}

Status ReadModelJson(const std::string& dir_or_json, std::string* json_path, std::string* text) {
  stdfs::path p(dir_or_json);
  std::error_code ec;
  if (stdfs::is_directory(p, ec)) p /= "model.json";
  *json_path = p.string();
  int fd = -1;
  struct stat st {};
  Status s = OpenRegular(*json_path, &fd, &st);
  if (!s) return s;
  if (static_cast<uint64_t>(st.st_size) > kMaxModelJsonBytes) {
    ::close(fd);
    return Status::Error(*json_path + ": " + std::to_string(st.st_size) + " bytes, larger than the limit of " +
                         std::to_string(kMaxModelJsonBytes) + " for a model.json");
  }
  std::vector<uint8_t> bytes;
  if (!(s = ReadExactly(fd, *json_path, static_cast<uint64_t>(st.st_size), &bytes))) return s;
  text->assign(bytes.begin(), bytes.end());
  return Status::Ok();
}

Status ReadModelFiles(const std::string& dir_or_json, const LoadOptions& options, ModelFiles* out) {
  Status s = ReadModelJson(dir_or_json, &out->json_path, &out->text);
  if (!s) return s;
  if (!(s = Model::Parse(out->text, &out->model, options, out->json_path))) return s;
  return ReadModelShards(out->json_path, out->model->shard_paths(), out->model->info().weight_bytes, &out->blobs);
}

}  // namespace catdog::fs

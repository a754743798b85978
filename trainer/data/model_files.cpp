#include "model_files.h"

#include "fsutil.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "catdog/json_bounded.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

namespace catdog::fs {
namespace stdfs = std::filesystem;

namespace {

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
    if (!S_ISREG(f.st.st_mode)) return fail(rel, "is " + std::string(FileTypeName(f.st.st_mode)) + ", expected a regular file");
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

Status OpenModel(const std::string& dir_or_json, const OpenOptions& options, ModelFiles* out) {
  Status s = ReadModelFiles(dir_or_json, options.load, out);
  if (!s || !options.weights) return s;
  const std::vector<ShardBytes> shards = out->Views();
  if (!(s = out->model->LoadWeights(shards))) return s;
  if (options.selfcheck_report && !(s = RunSelfCheck(*out->model, shards, options.selfcheck_report)))
    return Status::Error(out->json_path + ": " + s.message());
  return Status::Ok();
}

Status ReadModelFiles(const std::string& dir_or_json, const LoadOptions& options, ModelFiles* out) {
  Status s = ReadModelJson(dir_or_json, &out->json_path, &out->text);
  if (!s) return s;
  if (!(s = Model::Parse(out->text, &out->model, options, out->json_path))) return s;
  return ReadModelShards(out->json_path, out->model->shard_paths(), out->model->info().weight_bytes, &out->blobs);
}

namespace {

// Names a model folder's files may have: relative, normalised, inside the folder.
bool SafeRelative(const std::string& rel, std::string* norm) {
  const stdfs::path p = stdfs::path(rel).lexically_normal();
  if (rel.empty() || p.is_absolute() || p.empty()) return false;
  const std::string n = p.generic_string();
  if (n == "." || n == ".." || n.rfind("../", 0) == 0) return false;
  *norm = n;
  return true;
}

// The files an existing model folder's model.json names (itself and its manifest's shards); any
// problem reading it just means fewer names are catdog's.
void ManifestNames(const stdfs::path& dir, std::set<std::string>* names) {
  names->insert("model.json");
  std::string path, text;
  if (!ReadModelJson(dir.string(), &path, &text)) return;
  nlohmann::json doc;
  if (!jsonb::Parse(text, &doc, nullptr, path) || !doc.is_object()) return;
  auto it = doc.find("weightsManifest");
  if (it == doc.end() || !it->is_array()) return;
  for (const auto& group : *it) {
    if (!group.is_object() || !group.contains("paths") || !group["paths"].is_array()) continue;
    for (const auto& p : group["paths"]) {
      std::string n;
      if (p.is_string() && SafeRelative(p.get<std::string>(), &n)) names->insert(n);
    }
  }
}

void MarkerNames(const stdfs::path& dir, std::set<std::string>* names, bool* valid) {
  *valid = false;
  std::string text;
  if (!ReadTextFile((dir / kOutputMarker).string(), &text, 1 << 20)) return;
  nlohmann::json doc;
  if (!jsonb::Parse(text, &doc, nullptr, kOutputMarker) || !doc.is_object() || !doc.contains("files") ||
      !doc["files"].is_array() || doc.value("written_by", "") != "catdog")
    return;
  for (const auto& f : doc["files"]) {
    std::string n;
    if (f.is_string() && SafeRelative(f.get<std::string>(), &n)) names->insert(n);
  }
  *valid = true;
}

// Walks `dir`/`rel`: entries named in `owned` (or folders on the way to one) are catdog's, the rest
// the user's.
void Classify(const stdfs::path& dir, const std::string& rel, const std::set<std::string>& owned,
              std::vector<std::string>* foreign) {
  std::error_code ec;
  for (const auto& e : stdfs::directory_iterator(rel.empty() ? dir : dir / rel, ec)) {
    const std::string name = e.path().filename().string();
    const std::string r = rel.empty() ? name : rel + "/" + name;
    const auto st = e.symlink_status(ec);
    if (rel.empty() && name == kOutputMarker && stdfs::is_regular_file(st)) continue;
    if (name.rfind(kStagingPrefix, 0) == 0 && stdfs::is_directory(st)) {
      long pid = -1;
      // A staging folder a killed catdog left: catdog's, dropped by the replace.
      if (IsStagingDir(e.path().string(), nullptr, &pid) && !(pid > 0 && (::kill(pid_t(pid), 0) == 0 || errno == EPERM)))
        continue;
    }
    if (stdfs::is_directory(st)) {
      const std::string prefix = r + "/";
      const auto it = owned.lower_bound(prefix);
      if (it != owned.end() && it->compare(0, prefix.size(), prefix) == 0) {
        Classify(dir, r, owned, foreign);
      } else {
        foreign->push_back(prefix);
      }
      continue;
    }
    if (!owned.count(r)) foreign->push_back(r);
  }
}

std::string ListSome(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < 8; ++i) out += (i ? ", " : "") + JsonSafeName(names[i]);
  if (names.size() > 8) out += ", ... (" + std::to_string(names.size()) + " in all)";
  return out;
}

stdfs::path Trimmed(const std::string& out_dir) {
  stdfs::path out(out_dir);
  if (out.filename().empty() && out.has_parent_path()) out = out.parent_path();  // "dir/" -> "dir"
  return out;
}

}  // namespace

std::string ModelFolderOf(const std::string& dir_or_json) {
  std::error_code ec;
  const stdfs::path p(dir_or_json);
  if (stdfs::is_directory(p, ec) || !stdfs::exists(p, ec)) return dir_or_json;
  return p.has_parent_path() ? p.parent_path().string() : std::string(".");
}

Status InspectModelOut(const std::string& out_dir, ModelOutState* state) {
  *state = ModelOutState();
  const stdfs::path out = Trimmed(out_dir);
  std::error_code ec;
  const auto st = stdfs::status(out, ec);
  if (!stdfs::exists(st)) return Status::Ok();
  state->exists = true;
  if (!stdfs::is_directory(st)) return Status::Error(out.string() + ": exists and is not a folder");
  std::set<std::string> owned;
  MarkerNames(out, &owned, &state->has_marker);
  ManifestNames(out, &owned);
  Classify(out, "", owned, &state->foreign);
  std::sort(state->foreign.begin(), state->foreign.end());
  return Status::Ok();
}

Status CheckModelOutDir(const std::string& out_dir, const ModelOutOptions& o) {
  if (out_dir.empty()) return Status::Error(o.flag + " is empty: give a folder for the model");
  Status s = CheckNotAnInput(out_dir, o.inputs, o.flag);
  if (!s) return s;
  // A replace of this folder killed between its renames: its previous folder goes back first, so
  // what is checked is what the user had (fsutil.h RemoveStaleTemps).
  const stdfs::path out = Trimmed(out_dir);
  const stdfs::path parent = out.has_parent_path() ? out.parent_path() : stdfs::path(".");
  size_t stale = 0;
  if (!(s = RemoveStaleTemps(parent.string(), &stale, out.filename().string()))) return s;
  ModelOutState st;
  if (!(s = InspectModelOut(out_dir, &st))) return Status::Error(o.flag + " " + s.message());
  if (!st.exists || o.force) return Status::Ok();
  if (!st.has_marker) {
    std::vector<std::string> all;
    std::error_code ec;
    for (const auto& e : stdfs::directory_iterator(Trimmed(out_dir), ec)) all.push_back(e.path().filename().string());
    if (all.empty()) return Status::Ok();
    std::sort(all.begin(), all.end());
    return Status::Error(o.flag + " " + out_dir + ": exists and is not a folder catdog wrote (no " + kOutputMarker +
                         " marker); it holds " + ListSome(all) +
                         ". Refusing to replace it: choose a new folder, or pass --force to write the model's files "
                         "there and keep every other entry");
  }
  if (!st.foreign.empty())
    return Status::Error(o.flag + " " + out_dir + ": holds entries catdog did not write: " + ListSome(st.foreign) +
                         ". Refusing to replace the folder: move them away, or pass --force to replace only the "
                         "model's files and keep them");
  return Status::Ok();
}

// The one writer of model folders (export, quantize, calibrate --out, train --export): every file
// into a private staging folder beside `out_dir` (fsutil.h StagingDir, marker checked), fsynced,
// the user's other entries linked in (--force), then the folders swapped.
Status WriteModelDir(const std::string& out_dir, const std::string& model_json,
                     const std::vector<std::string>& shard_names, const std::vector<std::vector<uint8_t>>& shards,
                     const ModelOutOptions& o) {
  if (shard_names.size() != shards.size())
    return Status::Error(out_dir + ": " + std::to_string(shard_names.size()) + " shard names for " +
                         std::to_string(shards.size()) + " shards");
  const stdfs::path out = Trimmed(out_dir);
  Status s = CheckModelOutDir(out.string(), o);
  if (!s) return s;
  std::set<std::string> mine = {"model.json", kOutputMarker};
  for (const std::string& n : shard_names) {
    std::string norm;
    if (!SafeRelative(n, &norm) || norm == kOutputMarker || !mine.insert(norm).second)
      return Status::Error(out.string() + ": shard name '" + n + "' is not a new file name inside the folder");
  }
  ModelOutState st;
  if (!(s = InspectModelOut(out.string(), &st))) return s;
  for (const std::string& f : st.foreign) {
    const std::string top = f.back() == '/' ? f.substr(0, f.size() - 1) : f;
    for (const std::string& m : mine)
      if (m == top || m.rfind(top + "/", 0) == 0 || top.rfind(m + "/", 0) == 0)
        return Status::Error(o.flag + " " + (out / top).string() +
                             ": an entry catdog did not write has the name of a file the new model needs (" + m +
                             "); move it away first (nothing was written)");
  }
  std::error_code ec;
  const stdfs::path parent = out.has_parent_path() ? out.parent_path() : stdfs::path(".");
  stdfs::create_directories(parent, ec);
  if (ec) return Status::Error(out.string() + ": cannot create the folder " + parent.string() + ": " + ec.message());
  // The staging folder a write killed mid-way left (marker checked: fsutil.h) goes first; a
  // previous folder it had moved aside goes back into place.
  size_t stale = 0;
  std::vector<std::string> recovered;
  Status cleaned = fs::RemoveStaleTemps(parent.string(), &stale, out.filename().string(), &recovered);
  if (!cleaned) return cleaned;
  if (!recovered.empty())
    return Status::Error(recovered[0] + ": an interrupted earlier write had moved this folder aside; it was put back. "
                                        "Run again");
  fs::StagingDir staging;  // removed, with whatever is left in it, on every return
  s = staging.Create(parent.string(), out.filename().string());
  if (!s) return s;
  const stdfs::path tmp = stdfs::path(staging.path()) / "model";
  if (::mkdir(tmp.c_str(), 0755) != 0) return Status::Error(tmp.string() + ": cannot create: " + std::strerror(errno));
  for (size_t i = 0; i < shards.size(); ++i) {
    s = fs::WriteFileAtomic((tmp / shard_names[i]).string(), shards[i].data(), shards[i].size());
    if (!s) return s;
  }
  nlohmann::json marker = {{"written_by", "catdog"},
                           {"note", "catdog wrote the files listed here; it replaces only them (DESIGN contract 4)"},
                           {"files", std::vector<std::string>(mine.begin(), mine.end())}};
  marker["files"].erase(std::remove(marker["files"].begin(), marker["files"].end(), kOutputMarker), marker["files"].end());
  if (!(s = fs::WriteFileAtomic((tmp / kOutputMarker).string(), marker.dump(1) + "\n"))) return s;
  s = fs::WriteFileAtomic((tmp / "model.json").string(), model_json);
  if (!s) return s;
  // --force: the user's entries come along as hard links; the originals stay where they are until
  // the swap, and in the old folder (then removed: links only) after it.
  for (const std::string& f : st.foreign) {
    const std::string top = f.back() == '/' ? f.substr(0, f.size() - 1) : f;
    const stdfs::path dst = tmp / top;
    stdfs::create_directories(dst.parent_path(), ec);
    if (!(s = fs::LinkTree((out / top).string(), dst.string())))
      return Status::Error(o.flag + " " + out.string() + ": keeping your entry " + top + ": " + s.message() +
                           " (nothing was replaced)");
  }
  s = fs::ReplaceDir(tmp.string(), out.string(), (stdfs::path(staging.path()) / kPreviousName).string());
  if (!s) return s;
  return Status::Ok();
}

}  // namespace catdog::fs

// The library behind `catdog prepare` (prepare.h describes the pipeline).
#include "prepare.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include <sys/stat.h>
#include <unistd.h>

#include "catdog/classify.h"
#include "fsutil.h"


namespace catdog::prepare {
namespace stdfs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr char kOutsideClassFolder[] = "outside-class-folder";
// A symlinked folder inside a class folder that leads out of it (`ln -s .. Cat/up` would
// otherwise read Dog/ as cats): refused and named, never followed.
constexpr char kSymlinkEscape[] = "symlink-outside-class-folder";
// The same file (one inode, or the same bytes) under both a cat and a dog folder: its label is
// unknown, so every copy is left out and named.
constexpr char kInBothClasses[] = "in-both-classes";

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
// The classes of the running Scan (Options::classes, checked); cat and dog by default.
thread_local std::vector<std::string> g_classes = {"cat", "dog"};

int ClassOf(const std::string& name) {
  const std::string n = Lower(name);
  for (size_t k = 0; k < g_classes.size(); ++k) {
    const std::string c = Lower(g_classes[k]);
    if (n == c || n == c + "s") return int(k);
  }
  return -1;
}

std::string ClassList() {
  std::string s;
  for (const std::string& c : g_classes) s += (s.empty() ? "" : ", ") + c + "/" + c + "s";
  return s;
}
int SplitOf(const std::string& name) {
  std::string n = Lower(name);
  if (n == "train" || n == "training") return pack::kTrain;
  if (n == "validation" || n == "val" || n == "valid") return pack::kVal;
  if (n == "test" || n == "testing") return pack::kTest;
  return -1;
}
bool Hidden(const std::string& name) { return !name.empty() && name[0] == '.'; }

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

bool Within(const stdfs::path& p, const stdfs::path& root) {
  const std::string a = p.string(), b = root.string();
  return a == b || (a.size() > b.size() && a.compare(0, b.size(), b) == 0 && (b.back() == '/' || a[b.size()] == '/'));
}

struct Walker {
  std::vector<SourceFile>* files;
  std::vector<Skipped>* skipped;
  std::set<std::pair<dev_t, ino_t>> visited;
  stdfs::path class_root;  // canonical path of the class folder being read

  // Reads a class folder recursively. Symlinks are followed while they stay inside the class
  // folder; a symlinked folder leading out of it is refused (kSymlinkEscape); a folder reached
  // twice (a symlink cycle, or a second link to it) is reported as a symlink loop and not read again.
  void WalkClass(const stdfs::path& dir, const std::string& rel, uint8_t label, int split) {
    std::error_code ec;
    class_root = stdfs::canonical(dir, ec);
    if (ec) {
      skipped->push_back({dir.string(), imaging::ProblemName(imaging::Problem::kUnreadable),
                          "cannot resolve the class folder: " + ec.message()});
      return;
    }
    Walk(dir, rel, label, split);
  }

  void Walk(const stdfs::path& dir, const std::string& rel, uint8_t label, int split) {
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0) {
      if (!visited.insert({st.st_dev, st.st_ino}).second) {
        skipped->push_back({dir.string(), imaging::ProblemName(imaging::Problem::kSymlinkLoop),
                            "folder already read (a symlink cycle or a second link to it)"});
        return;
      }
    }
    std::error_code ec;
    stdfs::directory_iterator it(dir, ec), end;
    if (ec) {
      skipped->push_back({dir.string(), imaging::ProblemName(imaging::Problem::kUnreadable),
                          "cannot list the folder: " + ec.message()});
      return;
    }
    for (; it != end; it.increment(ec)) {
      if (ec) {
        skipped->push_back({dir.string(), imaging::ProblemName(imaging::Problem::kUnreadable),
                            "error while listing the folder: " + ec.message()});
        break;
      }
      const stdfs::path p = it->path();
      const std::string name = p.filename().string();
      const std::string r = rel.empty() ? name : rel + "/" + name;
      struct stat lst;
      if (::lstat(p.c_str(), &lst) != 0) {
        skipped->push_back({p.string(), imaging::ProblemName(imaging::Problem::kUnreadable), std::strerror(errno)});
        continue;
      }
      struct stat tst = lst;
      if (S_ISLNK(lst.st_mode) && ::stat(p.c_str(), &tst) != 0) {
        int err = errno;
        if (err == ELOOP)
          skipped->push_back({p.string(), imaging::ProblemName(imaging::Problem::kSymlinkLoop),
                              "too many levels of symbolic links"});
        else
          skipped->push_back({p.string(), imaging::ProblemName(imaging::Problem::kUnreadable),
                              std::string(err == ENOENT ? "broken symlink: " : "") + std::strerror(err)});
        continue;
      }
      if (S_ISDIR(tst.st_mode)) {
        if (S_ISLNK(lst.st_mode)) {
          std::error_code ec2;
          const stdfs::path target = stdfs::canonical(p, ec2);
          if (ec2 || !Within(target, class_root)) {
            skipped->push_back({p.string(), kSymlinkEscape,
                                "symlinked folder leads to " + (ec2 ? ec2.message() : target.string()) +
                                    ", outside the class folder " + class_root.string()});
            continue;
          }
        }
        Walk(p, r, label, split);
      } else if (S_ISREG(tst.st_mode)) {
        SourceFile f{p.string(), r, label, split};
        f.dev = tst.st_dev;
        f.ino = tst.st_ino;
        files->push_back(std::move(f));
      } else {
        skipped->push_back({p.string(), imaging::ProblemName(imaging::Problem::kUnreadable),
                            "not a regular file (FIFO, socket or device)"});
      }
    }
  }
};

// A class or split name that is not a folder that can be read (a dangling symlink, a file named
// "Dog", ...) is counted as unreadable rather than as a stray file.
void SkipNonFolder(const stdfs::directory_entry& e, std::vector<Skipped>* skipped) {
  const std::string name = e.path().filename().string();
  std::error_code ec;
  const bool is_dir = e.is_directory(ec);
  if (!is_dir && (ClassOf(name) >= 0 || SplitOf(name) >= 0))
    skipped->push_back({e.path().string(), imaging::ProblemName(imaging::Problem::kUnreadable),
                        "named like a class or split folder but not a readable folder" +
                            (ec ? ": " + ec.message() : std::string())});
  else
    skipped->push_back({e.path().string(), kOutsideClassFolder, is_dir ? "hidden folder" : "not inside a class folder"});
}

std::string FolderName(const stdfs::path& root) {
  stdfs::path p = root.lexically_normal();
  std::string name = p.filename().string();
  if (name.empty()) name = p.parent_path().filename().string();
  return name;
}

uint64_t UniformBelow(std::mt19937_64& rng, uint64_t bound) {
  // Rejection sampling: the same result on every platform (std::uniform_int_distribution is not).
  const uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    uint64_t r = rng();
    if (r >= threshold) return r % bound;
  }
}

}  // namespace

Status ClassNames(const std::vector<std::string>& classes, std::vector<std::string>* out) {
  *out = classes.empty() ? std::vector<std::string>{"cat", "dog"} : classes;
  if (out->size() < 2 || out->size() > size_t(kMaxClasses))
    return Status::Error("--classes: " + std::to_string(out->size()) + " class" + (out->size() == 1 ? "" : "es") +
                         " given; a classifier needs 2 to " + std::to_string(kMaxClasses));
  for (size_t i = 0; i < out->size(); ++i) {
    const std::string& c = (*out)[i];
    if (std::string why = LabelProblem(c); !why.empty())
      return Status::Error("--classes: class " + std::to_string(i + 1) + " '" + fs::JsonSafeName(c) + "' " + why);
    for (size_t j = 0; j < i; ++j) {
      const std::string a = Lower(c), b = Lower((*out)[j]);
      if (a == b || a == b + "s" || b == a + "s")
        return Status::Error("--classes: '" + c + "' and '" + (*out)[j] + "' would read the same folders (names match "
                             "in any case, with or without a final s)");
    }
    if (SplitOf(c) >= 0) return Status::Error("--classes: '" + c + "' is the name of a split folder (train, val, test)");
  }
  return Status::Ok();
}

Status Scan(const std::vector<std::string>& roots, std::vector<SourceFile>* files, std::vector<Skipped>* skipped,
            const std::vector<std::string>& classes) {
  files->clear();
  if (Status cs = ClassNames(classes, &g_classes); !cs) {
    g_classes = {"cat", "dog"};
    return cs;
  }
  if (roots.empty()) return Status::Error("no --images folder given");
  Walker walker{nullptr, skipped, {}};
  std::vector<std::string> unknown;
  for (const std::string& root : roots) {
    std::error_code ec;
    if (!stdfs::is_directory(root, ec))
      return Status::Error(root + ": " + (stdfs::exists(root, ec) ? "not a folder" : "no such folder") +
                           " (--images wants a folder of class folders: " + ClassList() + ")");
    std::vector<SourceFile> found;
    walker.files = &found;
    size_t class_folders = 0;
    const std::string root_name = FolderName(root);
    if (ClassOf(root_name) >= 0) {
      walker.WalkClass(root, root_name, static_cast<uint8_t>(ClassOf(root_name)), -1);
      ++class_folders;
    } else {
      std::vector<stdfs::directory_entry> children;
      for (const auto& e : stdfs::directory_iterator(root, ec)) children.push_back(e);
      if (ec) return Status::Error(root + ": cannot list the folder: " + ec.message());
      std::sort(children.begin(), children.end());
      for (const auto& child : children) {
        const std::string name = child.path().filename().string();
        std::error_code ec2;
        const bool is_dir = child.is_directory(ec2);
        if (!is_dir || Hidden(name)) {
          SkipNonFolder(child, skipped);
          continue;
        }
        if (ClassOf(name) >= 0) {
          walker.WalkClass(child.path(), name, static_cast<uint8_t>(ClassOf(name)), -1);
          ++class_folders;
          continue;
        }
        int split = SplitOf(name);
        if (split < 0) {
          unknown.push_back(child.path().string());
          continue;
        }
        std::vector<stdfs::directory_entry> grand;
        stdfs::directory_iterator git(child.path(), ec2);
        for (; !ec2 && git != stdfs::directory_iterator(); git.increment(ec2)) grand.push_back(*git);
        if (ec2) {  // an unreadable split folder is named, never silently empty
          skipped->push_back({child.path().string(), imaging::ProblemName(imaging::Problem::kUnreadable),
                              "cannot list the split folder: " + ec2.message()});
          ++class_folders;
        }
        std::sort(grand.begin(), grand.end());
        for (const auto& g : grand) {
          const std::string gname = g.path().filename().string();
          std::error_code ec3;
          const bool gdir = g.is_directory(ec3);
          if (!gdir || Hidden(gname)) {
            SkipNonFolder(g, skipped);
          } else if (ClassOf(gname) >= 0) {
            walker.WalkClass(g.path(), name + "/" + gname, static_cast<uint8_t>(ClassOf(gname)), split);
            ++class_folders;
          } else {
            unknown.push_back(g.path().string());
          }
        }
      }
    }
    if (class_folders == 0 && unknown.empty())
      return Status::Error(root + ": no class folders found (" + ClassList() + ", any case; e.g. " + root + "/" +
                           g_classes[0] + " and " + root + "/" + g_classes[1] + ")");
    std::sort(found.begin(), found.end(), [](const SourceFile& a, const SourceFile& b) { return a.rel < b.rel; });
    files->insert(files->end(), found.begin(), found.end());
  }
  // One file (same inode: a hard link or a symlink) under both classes: no copy is kept.
  std::map<std::pair<dev_t, ino_t>, std::vector<size_t>> by_inode;
  for (size_t i = 0; i < files->size(); ++i) by_inode[{(*files)[i].dev, (*files)[i].ino}].push_back(i);
  std::vector<bool> drop(files->size(), false);
  for (const auto& [key, idx] : by_inode) {
    bool both = false;
    for (size_t i : idx) both = both || (*files)[i].label != (*files)[idx[0]].label;
    if (!both) continue;
    for (size_t i : idx) {
      const size_t other = i == idx[0] ? idx[1] : idx[0];
      drop[i] = true;
      skipped->push_back({(*files)[i].path, kInBothClasses, "the same file is also " + (*files)[other].path});
    }
  }
  size_t kept = 0;
  for (size_t i = 0; i < files->size(); ++i)
    if (!drop[i]) {
      if (kept != i) (*files)[kept] = std::move((*files)[i]);  // never a self-move: it empties strings
      ++kept;
    }
  files->resize(kept);
  if (!unknown.empty()) {
    std::string list;
    for (size_t i = 0; i < unknown.size(); ++i) list += (i ? ", " : "") + unknown[i];
    return Status::Error("folders that are not a class (" + ClassList() + " — any case) or a split (train, "
                         "validation, val, test) holding classes: " + list +
                         ". Other classes: name them all with --classes (e.g. --classes cat,dog,neither)");
  }
  std::sort(skipped->begin(), skipped->end(), [](const Skipped& a, const Skipped& b) { return a.path < b.path; });
  return Status::Ok();
}

void AssignSplits(const std::vector<uint8_t>& labels, std::vector<int>* splits, double val_fraction,
                  double test_fraction, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int classes = labels.empty() ? 0 : *std::max_element(labels.begin(), labels.end()) + 1;
  for (int cls = 0; cls < classes; ++cls) {
    std::vector<size_t> idx;
    for (size_t i = 0; i < labels.size(); ++i)
      if (labels[i] == cls && (*splits)[i] < 0) idx.push_back(i);
    const size_t n = idx.size();
    size_t n_test = std::min(n, static_cast<size_t>(std::llround(test_fraction * double(n))));
    size_t n_val = std::min(n - n_test, static_cast<size_t>(std::llround(val_fraction * double(n))));
    for (size_t k = n; k > 1; --k) std::swap(idx[k - 1], idx[UniformBelow(rng, k)]);
    for (size_t k = 0; k < n; ++k)
      (*splits)[idx[k]] = k < n_test ? pack::kTest : k < n_test + n_val ? pack::kVal : pack::kTrain;
  }
}

Status Run(const Options& o, Result* result) {
  *result = Result();
  const auto t0 = Clock::now();
  if (o.size < 8 || o.size > 1024) return Status::Error("--size " + std::to_string(o.size) + " is outside 8..1024");
  if (!(o.val_fraction >= 0 && o.val_fraction < 1) || !(o.test_fraction >= 0 && o.test_fraction < 1) ||
      !(o.val_fraction + o.test_fraction < 1))
    return Status::Error("--val-fraction " + std::to_string(o.val_fraction) + " and --test-fraction " +
                         std::to_string(o.test_fraction) + " must each be in [0, 1) and sum to less than 1");
  if (o.decode.max_pixels < 1) return Status::Error("--max-pixels must be at least 1");
  const int threads = o.threads > 0 ? o.threads : std::max(1u, std::thread::hardware_concurrency());
  result->threads = threads;

  std::vector<SourceFile> files;
  Status s = Scan(o.image_dirs, &files, &result->skipped, o.classes);
  if (!s) return s;
  result->files_found = files.size();
  const auto t1 = Clock::now();
  result->scan_s = Seconds(t0, t1);

  // Decode on all threads into per-file slots; the order of the output never depends on timing.
  // The slots live in blocks of about 64 MiB allocated when a file of that block first decodes,
  // and never zero-filled: memory follows the images that decode, not the files found (6,000 empty
  // files at --size 1024 once took 6 GB here).
  const size_t img = size_t(o.size) * o.size;
  const size_t per_block = std::max<size_t>(1, (size_t(64) << 20) / img);
  struct Item {
    imaging::Problem problem = imaging::Problem::kNone;
    std::string message;
    std::array<uint8_t, 32> hash{};
    uint32_t conversions = 0;
  };
  std::vector<Item> items(files.size());
  std::vector<std::unique_ptr<uint8_t[]>> blocks((files.size() + per_block - 1) / per_block);
  std::mutex blocks_mu;
  auto slot = [&](size_t i) {
    std::lock_guard<std::mutex> lock(blocks_mu);
    std::unique_ptr<uint8_t[]>& b = blocks[i / per_block];
    if (!b) b.reset(new uint8_t[per_block * img]);  // default-initialised: pages are touched on write
    return b.get() + (i % per_block) * img;
  };
  std::atomic<size_t> next{0}, done{0};
  auto worker = [&] {
    std::vector<uint8_t> bytes;
    imaging::Image image;
    for (size_t i; (i = next.fetch_add(1)) < files.size(); done.fetch_add(1)) {
      Item& item = items[i];
      Status st = imaging::ReadImageFile(files[i].path, o.decode, &bytes, &item.problem);
      if (st) {
        pack::Sha256 h;
        h.Update(bytes.data(), bytes.size());
        item.hash = h.Final();
        st = imaging::DecodeImage(bytes.data(), bytes.size(), o.decode, &image, &item.problem, files[i].path);
      }
      if (st) {
        st = preprocess_u8(image.view(), o.fit, o.size, slot(i));
        if (!st) {
          item.problem = imaging::Problem::kCorrupt;
          st = Status::Error(files[i].path + ": " + st.message());
        }
      }
      if (!st) {
        item.message = st.message();
        continue;
      }
      item.conversions = image.conversions;
      if (!image.note.empty()) item.message = image.note;
    }
  };
  {
    std::vector<std::thread> pool;
    for (int k = 0; k < threads; ++k) pool.emplace_back(worker);
    if (o.progress) {
      while (done.load() < files.size()) {
        o.progress(done.load(), files.size());
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      o.progress(files.size(), files.size());
    }
    for (auto& t : pool) t.join();
  }
  const auto t2 = Clock::now();
  result->decode_s = Seconds(t1, t2);

  // Collect: skips, duplicates (first in sorted order wins), conversions. The same bytes under
  // both classes cannot be labelled: every copy is skipped as in-both-classes.
  std::unordered_map<std::string, size_t> first_by_hash;
  std::unordered_map<std::string, uint64_t> labels_by_hash;  // bit 1 << label
  for (size_t i = 0; i < files.size(); ++i)
    if (items[i].problem == imaging::Problem::kNone)
      labels_by_hash[std::string(items[i].hash.begin(), items[i].hash.end())] |= uint64_t(1) << files[i].label;
  std::vector<size_t> used;
  for (size_t i = 0; i < files.size(); ++i) {
    const Item& item = items[i];
    if (item.problem != imaging::Problem::kNone) {
      result->skipped.push_back({files[i].path, imaging::ProblemName(item.problem), item.message});
      continue;
    }
    std::string key(item.hash.begin(), item.hash.end());
    auto [it, inserted] = first_by_hash.emplace(key, i);
    if (const uint64_t bits = labels_by_hash[key]; bits & (bits - 1)) {  // two or more classes
      result->skipped.push_back({files[i].path, kInBothClasses,
                                 inserted ? "the same bytes are also under the other class folder"
                                          : "the same bytes as " + files[it->second].path + " (other class or a copy)"});
      continue;
    }
    if (!inserted) {
      result->duplicates.push_back({files[i].path, files[it->second].path});
      continue;
    }
    for (const std::string& name : imaging::ConversionNames(item.conversions)) result->converted[name]++;
    if (item.conversions) result->converted_files.push_back({files[i].path, imaging::ConversionNames(item.conversions)});
    used.push_back(i);
  }
  std::stable_sort(result->skipped.begin(), result->skipped.end(),
                   [](const Skipped& a, const Skipped& b) { return a.path < b.path; });

  pack::Pack& p = result->pack;
  p.size = o.size;
  p.fit = FitName(o.fit);
  p.gray = "bt601";
  p.seed = o.seed;
  p.val_fraction = o.val_fraction;
  p.test_fraction = o.test_fraction;
  p.sources = o.image_dirs;
  ClassNames(o.classes, &p.class_names);  // checked by Scan
  std::vector<int> splits(used.size());
  p.labels.resize(used.size());
  p.paths.resize(used.size());
  // reserve() only maps the memory; each block is freed once its last used image is copied.
  p.pixels.reserve(used.size() * img);
  for (size_t k = 0; k < used.size(); ++k) {
    const SourceFile& f = files[used[k]];
    p.labels[k] = f.label;
    p.paths[k] = f.rel;
    splits[k] = f.split;
    const uint8_t* src = blocks[used[k] / per_block].get() + (used[k] % per_block) * img;
    p.pixels.insert(p.pixels.end(), src, src + img);
    if (k + 1 == used.size() || used[k + 1] / per_block != used[k] / per_block) blocks[used[k] / per_block].reset();
  }
  blocks.clear();
  AssignSplits(p.labels, &splits, o.val_fraction, o.test_fraction, o.seed);
  p.splits.assign(splits.begin(), splits.end());

  if (used.empty()) {
    result->total_s = Seconds(t0, Clock::now());
    return Status::Error("no usable image found in " + std::to_string(files.size()) + " files (see the skipped list)");
  }
  std::string empty;
  for (size_t k = 0; k < p.class_names.size(); ++k)
    if (p.ClassCounts()[k] == 0) empty += (empty.empty() ? "" : ", ") + p.class_names[k];
  if (!empty.empty() && !o.allow_one_class) {
    result->total_s = Seconds(t0, Clock::now());
    return Status::Error("no usable image of class " + empty + " was found (" + std::to_string(used.size()) +
                         " images of the others); a classifier needs every class. Add its folder's photos, leave the "
                         "class out of --classes, or pass --allow-one-class (say, for a pack of corrections to fine-tune on)");
  }
  if (!o.out.empty()) {
    pack::WriteOptions w = o.write;
    if (w.threads <= 0) w.threads = threads;
    s = pack::WritePack(o.out, p, w);
    if (!s) {
      result->write_failed = true;
      return s;
    }
  } else {
    p.content_hash = pack::ContentHash(p);
  }
  const auto t3 = Clock::now();
  result->write_s = Seconds(t2, t3);
  result->total_s = Seconds(t0, t3);
  return Status::Ok();
}

json Report(const Options& o, const Result& r) {
  const pack::Pack& p = r.pack;
  json per_class = json::object();
  json per_split = json::object();
  const std::vector<size_t> all = p.ClassCounts();
  for (size_t k = 0; k < all.size(); ++k) per_class[p.class_names[k]] = all[k];
  for (pack::Split sp : {pack::kTrain, pack::kVal, pack::kTest}) {
    const std::vector<size_t> c = p.ClassCounts(sp);
    json& row = per_split[pack::SplitName(sp)] = json::object();
    for (size_t k = 0; k < c.size(); ++k) row[p.class_names[k]] = c[k];
  }
  json skipped = json::object();
  for (int k = 1; k < imaging::kNumProblems; ++k) skipped[imaging::ProblemName(imaging::Problem(k))] = 0;
  for (const char* reason : {kOutsideClassFolder, kSymlinkEscape, kInBothClasses}) skipped[reason] = 0;
  // Names go through fs::JsonSafeName: a file name that is not UTF-8 is stored escaped (and
  // flagged), never a json type_error after the pack was written.
  auto entry = [](json j, const std::string& path) {
    bool escaped = false;
    j["path"] = fs::JsonSafeName(path, &escaped);
    if (escaped) j["path_escaped"] = true;
    return j;
  };
  json skipped_files = json::array();
  for (const Skipped& s : r.skipped) {
    skipped[s.reason] = skipped.value(s.reason, 0) + 1;
    skipped_files.push_back(entry({{"reason", s.reason}, {"detail", fs::JsonSafeName(s.detail)}}, s.path));
  }
  json dups = json::array();
  for (const Duplicate& d : r.duplicates) dups.push_back(entry({{"same_as", fs::JsonSafeName(d.same_as)}}, d.path));
  json converted = json::object();
  for (int b = 0; b < imaging::kNumConversions; ++b) converted[imaging::ConversionName(b)] = 0;
  for (const auto& [name, n] : r.converted) converted[name] = n;
  json converted_files = json::array();
  for (const auto& [path, names] : r.converted_files) converted_files.push_back(entry({{"conversions", names}}, path));
  json images = json::array();
  for (const std::string& dir : o.image_dirs) images.push_back(fs::JsonSafeName(dir));
  json shards = json::array();
  uint64_t pack_bytes = 0;
  for (const auto& sh : p.shards) {
    shards.push_back({{"file", sh.file}, {"records", sh.records}, {"bytes", sh.bytes}});
    pack_bytes += sh.bytes;
  }
  return {
      {"images_found", r.files_found},
      {"images_used", p.count()},
      {"per_class", per_class},
      {"per_split", per_split},
      {"skipped", skipped},
      {"skipped_total", r.skipped.size()},
      {"skipped_files", skipped_files},
      {"duplicates", r.duplicates.size()},
      {"duplicate_files", dups},
      {"converted", converted},
      {"converted_files", converted_files},
      {"settings",
       {{"images", images}, {"size", o.size}, {"fit", p.fit}, {"gray", p.gray}, {"seed", o.seed},
        {"val_fraction", o.val_fraction}, {"test_fraction", o.test_fraction}, {"max_pixels", o.decode.max_pixels},
        {"max_shard_bytes", o.write.max_shard_bytes}, {"zstd_level", o.write.zstd_level}, {"threads", r.threads}}},
      {"pack", {{"dir", fs::JsonSafeName(o.out)}, {"content_hash", p.content_hash}, {"shards", shards}, {"bytes", pack_bytes}}},
      {"timing_s",
       {{"scan", r.scan_s}, {"decode", r.decode_s}, {"write", r.write_s}, {"total", r.total_s},
        {"images_per_s", r.total_s > 0 ? double(r.files_found) / r.total_s : 0.0}}},
  };
}

std::string SummaryLine(const Options& o, const Result& r) {
  const pack::Pack& p = r.pack;
  size_t sp[3] = {0, 0, 0};
  for (size_t i = 0; i < p.count(); ++i) sp[p.splits[i] <= 2 ? p.splits[i] : 0]++;
  std::string per_class;
  const std::vector<size_t> cls = p.ClassCounts();
  for (size_t k = 0; k < cls.size(); ++k) per_class += (k ? ", " : "") + p.class_names[k] + " " + std::to_string(cls[k]);
  std::map<std::string, size_t> reasons;
  for (const Skipped& s : r.skipped) reasons[s.reason]++;
  std::string why;
  for (const auto& [reason, n] : reasons) why += (why.empty() ? " (" : ", ") + reason + " " + std::to_string(n);
  if (!why.empty()) why += ")";
  uint64_t bytes = 0;
  for (const auto& sh : p.shards) bytes += sh.bytes;
  char buf[8192];
  std::snprintf(buf, sizeof buf,
                "prepare: %zu images used (%s; train %zu, val %zu, test %zu), %zu skipped%s, %zu duplicates"
                " -> %s (%zu shard%s, %.1f MB) in %.1f s (%.0f images/s, %d threads)",
                p.count(), per_class.c_str(), sp[0], sp[1], sp[2], r.skipped.size(), why.c_str(), r.duplicates.size(),
                o.out.empty() ? "(not written)" : o.out.c_str(), p.shards.size(), p.shards.size() == 1 ? "" : "s",
                double(bytes) / 1e6, r.total_s,
                r.total_s > 0 ? double(r.files_found) / r.total_s : 0.0, r.threads);
  return buf;
}

}  // namespace catdog::prepare


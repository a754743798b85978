// Dataset packs: writer and verifying reader. Format: docs/PACK_FORMAT.md.
// Needs only the C++ standard library, nlohmann_json and zstd (builds on the GPU machine).
#include "pack.h"

#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <new>
#include <memory>
#include <mutex>
#include <set>
#include <nlohmann/json.hpp>
#include "catdog/json_bounded.h"
#include <thread>
#include <type_traits>

#include "catdog/classify.h"
#include "fsutil.h"

#include <sys/stat.h>
#include <unistd.h>

namespace catdog::pack {
namespace stdfs = std::filesystem;
using json = nlohmann::json;

namespace {

// 2 to 64 class names, each a valid label (catdog/classify.h LabelProblem), no two alike.
Status CheckClassNames(const std::vector<std::string>& names, const std::string& what) {
  if (names.size() < 2 || names.size() > size_t(kMaxClasses))
    return Status::Error(what + ": " + std::to_string(names.size()) + " classes (a pack holds 2 to " +
                         std::to_string(kMaxClasses) + ")");
  for (size_t i = 0; i < names.size(); ++i) {
    if (std::string why = LabelProblem(names[i]); !why.empty())
      return Status::Error(what + ": class " + std::to_string(i) + " '" + fs::JsonSafeName(names[i]) + "' " + why);
    for (size_t j = 0; j < i; ++j)
      if (names[j] == names[i])
        return Status::Error(what + ": class " + std::to_string(i) + " '" + names[i] + "' is class " + std::to_string(j) + " again");
  }
  return Status::Ok();
}

constexpr char kShardMagic[8] = {'C', 'D', 'P', 'K', 'S', 'H', 'R', 'D'};
constexpr size_t kShardHeaderBytes = 8 + 4 * 4;  // magic, version, size, count, first
constexpr char kManifestName[] = "pack.json";
constexpr uint32_t kMaxPathBytes = 4096;  // per record path (Linux PATH_MAX)
constexpr char kFormatName[] = "catdog-pack";

void PutU32(std::vector<uint8_t>* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint32_t GetU32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

// Pixel filter "med": each pixel is stored as (value - prediction) mod 256, the prediction being
// LOCO-I's median edge detector (JPEG-LS) over the left (a), upper (b) and upper-left (c)
// neighbours of the same image; first row predicts from the left, first column from above, the
// first pixel from 0. Natural images then compress to ~62% with zstd instead of ~88% unfiltered
// (measured on PetImages, docs/PACK_FORMAT.md), at any zstd level.
inline int Med(int a, int b, int c) {
  int mx = a > b ? a : b, mn = a < b ? a : b;
  return c >= mx ? mn : c <= mn ? mx : a + b - c;
}
void MedFilter(const uint8_t* img, int size, uint8_t* out) {
  out[0] = img[0];
  for (int x = 1; x < size; ++x) out[x] = static_cast<uint8_t>(img[x] - img[x - 1]);
  for (int y = 1; y < size; ++y) {
    const uint8_t* row = img + size_t(y) * size;
    const uint8_t* up = row - size;
    uint8_t* o = out + size_t(y) * size;
    o[0] = static_cast<uint8_t>(row[0] - up[0]);
    for (int x = 1; x < size; ++x) o[x] = static_cast<uint8_t>(row[x] - Med(row[x - 1], up[x], up[x - 1]));
  }
}
void MedUnfilter(const uint8_t* res, int size, uint8_t* img) {  // raster order: predictions use decoded pixels
  img[0] = res[0];
  for (int x = 1; x < size; ++x) img[x] = static_cast<uint8_t>(res[x] + img[x - 1]);
  for (int y = 1; y < size; ++y) {
    uint8_t* row = img + size_t(y) * size;
    const uint8_t* up = row - size;
    const uint8_t* r = res + size_t(y) * size;
    row[0] = static_cast<uint8_t>(r[0] + up[0]);
    for (int x = 1; x < size; ++x) row[x] = static_cast<uint8_t>(r[x] + Med(row[x - 1], up[x], up[x - 1]));
  }
}

std::string ShardName(size_t k) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shard-%05zu.zst", k);
  return buf;
}

int ResolveThreads(int threads) {
  if (threads > 0) return threads;
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

// Runs fn(i) for i in [0, n) on up to `threads` threads; returns the first error by index.
Status ParallelFor(size_t n, int threads, const std::function<Status(size_t)>& fn) {
  std::vector<Status> results(n);
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) results[i] = fn(i);
  };
  int t = std::max(1, std::min<int>(threads, static_cast<int>(n)));
  std::vector<std::thread> pool;
  for (int k = 1; k < t; ++k) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  for (auto& s : results)
    if (!s) return s;
  return Status::Ok();
}

// Raw (uncompressed) bytes of one shard holding records [first, first + n).
size_t RawShardBytes(const Pack& p, size_t first, size_t n) {
  size_t img = size_t(p.size) * p.size;
  size_t bytes = kShardHeaderBytes + n * (2 + 4 + img);
  for (size_t i = first; i < first + n; ++i) bytes += p.paths.empty() ? 0 : p.paths[i].size();
  return bytes;
}

// Compresses records [first, first + n) into one zstd frame (with its content size), streaming:
// the raw shard (up to 50 MiB) never exists in memory, only one filtered image at a time.
// The output buffer is left uninitialised so only the pages zstd writes are touched.
Status CompressShard(const Pack& p, size_t first, size_t n, int level, std::unique_ptr<uint8_t[]>* out,
                     size_t* out_size, size_t* raw_size) {
  std::vector<uint8_t> head;
  head.insert(head.end(), kShardMagic, kShardMagic + 8);
  PutU32(&head, kPackVersion);
  PutU32(&head, static_cast<uint32_t>(p.size));
  PutU32(&head, static_cast<uint32_t>(n));
  PutU32(&head, static_cast<uint32_t>(first));
  head.insert(head.end(), p.labels.begin() + first, p.labels.begin() + first + n);
  head.insert(head.end(), p.splits.begin() + first, p.splits.begin() + first + n);
  for (size_t i = first; i < first + n; ++i) PutU32(&head, p.paths.empty() ? 0 : static_cast<uint32_t>(p.paths[i].size()));
  if (!p.paths.empty())
    for (size_t i = first; i < first + n; ++i) head.insert(head.end(), p.paths[i].begin(), p.paths[i].end());
  const size_t img = size_t(p.size) * p.size;
  *raw_size = head.size() + n * img;

  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  if (!cctx) return Status::Error("zstd: out of memory");
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setPledgedSrcSize(cctx.get(), *raw_size);
  const size_t bound = ZSTD_compressBound(*raw_size);
  out->reset(new uint8_t[bound]);
  ZSTD_outBuffer ob{out->get(), bound, 0};
  auto feed = [&](const void* data, size_t size, ZSTD_EndDirective mode) -> size_t {
    ZSTD_inBuffer ib{data, size, 0};
    for (;;) {
      size_t r = ZSTD_compressStream2(cctx.get(), &ob, &ib, mode);
      if (ZSTD_isError(r)) return r;
      if (mode == ZSTD_e_end ? r == 0 : ib.pos == ib.size) return 0;
      if (ob.pos == ob.size) return size_t(-1);  // cannot happen: the buffer holds the bound
    }
  };
  size_t r = feed(head.data(), head.size(), ZSTD_e_continue);
  std::vector<uint8_t> filtered(img);
  for (size_t i = 0; i < n && !ZSTD_isError(r); ++i) {
    MedFilter(p.image(first + i), p.size, filtered.data());
    r = feed(filtered.data(), img, ZSTD_e_continue);
  }
  if (!ZSTD_isError(r)) r = feed(nullptr, 0, ZSTD_e_end);
  if (ZSTD_isError(r)) return Status::Error(std::string("zstd: ") + ZSTD_getErrorName(r));
  *out_size = ob.pos;
  return Status::Ok();
}

// Decompresses one zstd frame piece by piece into caller buffers, so a 50 MiB shard never needs
// a 50 MiB scratch buffer (on the VMs we run on, first-touching memory costs more than zstd).
class FrameReader {
 public:
  FrameReader(const uint8_t* data, size_t size) : dctx_(ZSTD_createDCtx(), ZSTD_freeDCtx), in_{data, size, 0} {}
  // Fills exactly n bytes; false (with error()) when the frame ends early or is damaged.
  bool Read(void* dst, size_t n) {
    ZSTD_outBuffer out{dst, n, 0};
    while (out.pos < out.size) {
      if (!dctx_) return Fail("out of memory");
      if (finished_) return Fail("the data ends early");
      const size_t before_in = in_.pos, before_out = out.pos;
      size_t r = ZSTD_decompressStream(dctx_.get(), &out, &in_);
      if (ZSTD_isError(r)) return Fail(ZSTD_getErrorName(r));
      if (r == 0) finished_ = true;  // the frame is complete
      else if (in_.pos == before_in && out.pos == before_out) return Fail("the compressed data ends early");
    }
    return true;
  }
  // True when the frame is complete and nothing follows it.
  bool AtEnd() {
    uint8_t extra;
    ZSTD_outBuffer out{&extra, 1, 0};
    if (!finished_) {
      size_t r = ZSTD_decompressStream(dctx_.get(), &out, &in_);
      if (ZSTD_isError(r) || out.pos != 0) return false;
      finished_ = r == 0;
    }
    return finished_ && in_.pos == in_.size;
  }
  const std::string& error() const { return error_; }

 private:
  bool Fail(const std::string& why) {
    error_ = why;
    return false;
  }
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx_;
  ZSTD_inBuffer in_;
  bool finished_ = false;
  std::string error_;
};

// Reads one shard's records [first, first + n) into `out` (already sized), checking every
// field against pack.json.
Status ParseShard(const std::string& name, FrameReader& rd, const Pack::ShardInfo& info, Pack* out) {
  auto bad = [&](const std::string& why) { return Status::Error(name + ": " + why); };
  auto short_data = [&] { return bad("decompression failed or data too short: " + rd.error()); };
  uint8_t head[kShardHeaderBytes];
  if (!rd.Read(head, sizeof head)) return short_data();
  if (std::memcmp(head, kShardMagic, 8) != 0) return bad("not a catdog pack shard (bad magic)");
  uint32_t version = GetU32(head + 8), size = GetU32(head + 12), n = GetU32(head + 16), first = GetU32(head + 20);
  if (version != static_cast<uint32_t>(kPackVersion))
    return bad("shard version " + std::to_string(version) + ", this reader knows " + std::to_string(kPackVersion));
  if (size != static_cast<uint32_t>(out->size))
    return bad("image size " + std::to_string(size) + " but pack.json says " + std::to_string(out->size));
  if (n != info.records || first != info.first)
    return bad("holds records [" + std::to_string(first) + ", +" + std::to_string(n) + ") but pack.json says [" +
               std::to_string(info.first) + ", +" + std::to_string(info.records) + ")");
  const size_t img = size_t(size) * size;
  if (!rd.Read(out->labels.data() + first, n) || !rd.Read(out->splits.data() + first, n)) return short_data();
  std::vector<uint8_t> lens_le(size_t(n) * 4);
  if (!rd.Read(lens_le.data(), lens_le.size())) return short_data();
  uint64_t path_total = 0;
  for (uint32_t i = 0; i < n; ++i) {
    // Paths are relative file names (under PATH_MAX); a longer one would be allocated before its
    // bytes are known to exist (a 4 GB length in a tiny frame; seen while writing fuzz_pack).
    const uint32_t len = GetU32(&lens_le[4 * size_t(i)]);
    if (len > kMaxPathBytes)
      return bad("record " + std::to_string(first + i) + " has a path of " + std::to_string(len) + " bytes (at most " +
                 std::to_string(kMaxPathBytes) + ")");
    path_total += len;
  }
  const uint64_t expect = kShardHeaderBytes + uint64_t(n) * (2 + 4 + img) + path_total;
  if (expect != info.raw_bytes)
    return bad("records add up to " + std::to_string(expect) + " bytes but pack.json says " + std::to_string(info.raw_bytes));
  for (uint32_t i = 0; i < n; ++i) {
    std::string& path = out->paths[first + i];
    path.resize(GetU32(&lens_le[4 * size_t(i)]));
    if (!path.empty() && !rd.Read(&path[0], path.size())) return short_data();
  }
  std::vector<uint8_t> residual(img);
  for (uint32_t i = 0; i < n; ++i) {
    if (!rd.Read(residual.data(), img)) return short_data();
    MedUnfilter(residual.data(), out->size, out->pixels.data() + size_t(first + i) * img);
  }
  if (!rd.AtEnd()) return bad("extra data after the last record");
  for (uint32_t i = 0; i < n; ++i) {
    if (out->labels[first + i] >= out->class_names.size())
      return bad("record " + std::to_string(first + i) + " has label " + std::to_string(out->labels[first + i]) +
                 " (the pack has " + std::to_string(out->class_names.size()) + " classes)");
    if (out->splits[first + i] > kTest)
      return bad("record " + std::to_string(first + i) + " has split " + std::to_string(out->splits[first + i]));
  }
  return Status::Ok();
}

// Reads a whole file of known maximum size into an uninitialised buffer (one read, no regrowth).
Status ReadShardFile(const std::string& path, uint64_t max_bytes, std::unique_ptr<uint8_t[]>* buf, size_t* size) {
  int fd = -1;
  struct stat st {};
  Status s = fs::OpenRegular(path, &fd, &st);
  if (!s) return s;
  const uint64_t len = static_cast<uint64_t>(st.st_size);
  if (len > max_bytes) {
    ::close(fd);
    return Status::Error(path + ": size " + std::to_string(len) + " is not what pack.json says (" + std::to_string(max_bytes) +
                         " bytes): truncated or replaced");
  }
  buf->reset(new uint8_t[len > 0 ? size_t(len) : 1]);
  *size = size_t(len);
  return fs::ReadExactly(fd, path, buf->get(), len);
}

// Reads j[key] into *out; false when missing, of another type or (integers) out of T's range.
// Integer fields accept only JSON integers: nlohmann would convert 1e30 or -1 with a cast that is
// undefined (float) or wraps (negative to unsigned); seen while writing fuzz_pack.
template <typename T>
bool GetField(const json& j, const char* key, T* out) {
  auto it = j.find(key);
  if (it == j.end()) return false;
  if constexpr (std::is_integral_v<T>) {
    if (it->is_number_unsigned()) {
      const uint64_t v = it->template get<uint64_t>();
      if (v > uint64_t(std::numeric_limits<T>::max())) return false;
      *out = static_cast<T>(v);
      return true;
    }
    if (it->is_number_integer()) {
      const int64_t v = it->template get<int64_t>();
      if (v < 0 ? (std::is_unsigned_v<T> || v < int64_t(std::numeric_limits<T>::min()))
                : uint64_t(v) > uint64_t(std::numeric_limits<T>::max()))
        return false;
      *out = static_cast<T>(v);
      return true;
    }
    return false;
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!it->is_number()) return false;
    *out = it->template get<T>();
    return true;
  } else {
    try {
      *out = it->template get<T>();
    } catch (const json::exception&) {
      return false;
    }
    return true;
  }
}

}  // namespace

// ---- pack ---------------------------------------------------------------------------------------
bool ParseSplit(std::string_view name, Split* out) {
  for (Split s : {kTrain, kVal, kTest})
    if (name == SplitName(s)) return *out = s, true;
  return false;
}

const char* SplitName(Split s) {
  switch (s) {
    case kTrain: return "train";
    case kVal: return "val";
    case kTest: return "test";
  }
  return "?";
}

std::vector<size_t> Pack::Indices(Split s) const {
  std::vector<size_t> idx;
  for (size_t i = 0; i < splits.size(); ++i)
    if (splits[i] == s) idx.push_back(i);
  return idx;
}

std::string ContentHash(const Pack& pack) {
  Sha256 h;
  static const char kDomain[] = "catdog-pack-content-v1";
  h.Update(kDomain, sizeof kDomain);  // includes the terminating NUL
  uint8_t size_le[4];
  for (int i = 0; i < 4; ++i) size_le[i] = static_cast<uint8_t>(uint32_t(pack.size) >> (8 * i));
  h.Update(size_le, 4);
  size_t img = size_t(pack.size) * pack.size;
  for (size_t i = 0; i < pack.count(); ++i) {
    uint8_t ls[2] = {pack.labels[i], pack.splits[i]};
    h.Update(ls, 2);
    h.Update(pack.image(i), img);
  }
  return Sha256::ToHex(h.Final());
}

Status ValidatePack(const Pack& p) {
  if (p.size < 1 || p.size > 4096) return Status::Error("pack: image size " + std::to_string(p.size) + " is out of range 1..4096");
  if (Fit f; !ParseFit(p.fit, &f)) return Status::Error("pack: fit '" + p.fit + "' is not stretch or crop");
  if (p.gray.empty()) return Status::Error("pack: gray formula is empty");
  if (!(p.val_fraction >= 0 && p.test_fraction >= 0 && p.val_fraction + p.test_fraction < 1))
    return Status::Error("pack: fractions val " + std::to_string(p.val_fraction) + " + test " +
                         std::to_string(p.test_fraction) + " must be >= 0 and sum to < 1");
  if (Status cs = CheckClassNames(p.class_names, "pack"); !cs) return cs;
  size_t n = p.labels.size();
  if (n > 0xFFFFFFFFull) return Status::Error("pack: too many records (" + std::to_string(n) + ")");
  if (p.splits.size() != n) return Status::Error("pack: " + std::to_string(p.splits.size()) + " splits for " + std::to_string(n) + " labels");
  if (!p.paths.empty() && p.paths.size() != n)
    return Status::Error("pack: " + std::to_string(p.paths.size()) + " paths for " + std::to_string(n) + " labels");
  if (p.pixels.size() != n * size_t(p.size) * p.size)
    return Status::Error("pack: " + std::to_string(p.pixels.size()) + " pixel bytes for " + std::to_string(n) + " images of " +
                         std::to_string(p.size) + "x" + std::to_string(p.size));
  for (size_t i = 0; i < n; ++i) {
    if (p.labels[i] >= p.class_names.size())
      return Status::Error("pack: record " + std::to_string(i) + " has label " + std::to_string(p.labels[i]) + " (" +
                           std::to_string(p.class_names.size()) + " classes)");
    if (p.splits[i] > kTest) return Status::Error("pack: record " + std::to_string(i) + " has split " + std::to_string(p.splits[i]));
    if (!p.paths.empty() && p.paths[i].size() > kMaxPathBytes)
      return Status::Error("pack: record " + std::to_string(i) + " has a path of " + std::to_string(p.paths[i].size()) +
                           " bytes (at most " + std::to_string(kMaxPathBytes) + ")");
  }
  return Status::Ok();
}

Status WritePack(const std::string& dir, Pack& pack, uint64_t max_shard_bytes) {
  WriteOptions o;
  o.max_shard_bytes = max_shard_bytes;
  return WritePack(dir, pack, o);
}

namespace {
// Removes the shard files in `dir` (our naming pattern only: shard-*.zst) that `keep` does not list.
void RemoveShards(const std::string& dir, const std::vector<Pack::ShardInfo>& keep) {
  std::error_code ec;
  for (const auto& e : stdfs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind("shard-", 0) == 0 && name.size() > 4 && name.compare(name.size() - 4, 4, ".zst") == 0 &&
        std::none_of(keep.begin(), keep.end(), [&](const Pack::ShardInfo& i) { return i.file == name; })) {
      std::error_code e2;
      stdfs::remove(e.path(), e2);
    }
  }
}
}  // namespace

Status WritePack(const std::string& dir, Pack& pack, const WriteOptions& options) {
  Status s = ValidatePack(pack);
  if (!s) return s;
  if (options.max_shard_bytes < 1024 || options.max_shard_bytes > kMaxShardBytesLimit)
    return Status::Error("pack: max shard size " + std::to_string(options.max_shard_bytes) +
                         " bytes is outside 1 KiB .. 60 MiB");
  if (options.zstd_level < 1 || options.zstd_level > 19)
    return Status::Error("pack: zstd level " + std::to_string(options.zstd_level) + " is outside 1..19");

  // Plan shards so that even incompressible data fits: ZSTD_compressBound(raw) <= the limit.
  std::vector<Pack::ShardInfo> plan;
  const size_t n = pack.count();
  for (size_t first = 0; first < n || (n == 0 && plan.empty());) {
    size_t k = 0;
    while (first + k < n && ZSTD_compressBound(RawShardBytes(pack, first, k + 1)) <= options.max_shard_bytes) ++k;
    if (k == 0 && n > 0)
      return Status::Error("pack: one record (" + std::to_string(RawShardBytes(pack, first, 1)) +
                           " bytes) does not fit the max shard size of " + std::to_string(options.max_shard_bytes) + " bytes");
    Pack::ShardInfo info;
    info.file = ShardName(plan.size());  // renamed below if the pack in `dir` uses these names
    info.first = first;
    info.records = k;
    plan.push_back(info);
    first += k;
    if (n == 0) break;
  }

  std::error_code ec;
  if (stdfs::exists(dir, ec) && !stdfs::is_directory(dir, ec)) return Status::Error(dir + ": exists and is not a folder");
  stdfs::create_directories(dir, ec);
  if (ec || !stdfs::is_directory(dir))
    return Status::Error(dir + ": cannot create the pack directory: " + (ec ? ec.message() : "not a folder"));
  // Crash-safe over a complete pack: the old pack.json and its shards stay valid
  // until the new pack.json replaces it. The new shards get names the old pack.json does not use
  // ("shard-NNNNN.zst" and "shard-b-NNNNN.zst" take turns), are written into a staging folder
  // inside `dir` (a kill leaves that folder, removed as stale by the next prepare: never shards
  // without their pack.json), then renamed beside the old ones; pack.json is the switch.
  stdfs::path manifest_path = stdfs::path(dir) / kManifestName;
  std::set<std::string> live;
  {
    std::string old_text;
    json old;
    if (stdfs::exists(stdfs::symlink_status(manifest_path, ec)) && fs::ReadTextFile(manifest_path.string(), &old_text, 64ull << 20) &&
        jsonb::Parse(old_text, &old, nullptr, manifest_path.string()) && old.is_object() && old.contains("shards") &&
        old["shards"].is_array())
      for (const json& js : old["shards"])
        if (js.is_object() && js.contains("file") && js["file"].is_string()) live.insert(js["file"].get<std::string>());
  }
  bool fresh_names = true;
  for (const auto& info : plan) fresh_names = fresh_names && !live.count(info.file);
  if (!fresh_names) {
    for (auto& info : plan) info.file = "shard-b-" + info.file.substr(6);
    fresh_names = true;
    for (const auto& info : plan) fresh_names = fresh_names && !live.count(info.file);
  }
  if (!fresh_names) {
    // A pack.json naming both kinds (not one catdog wrote): the old way, the folder is no pack meanwhile.
    for (auto& info : plan) info.file = ShardName(size_t(&info - plan.data()));
    stdfs::remove(manifest_path, ec);
    if (ec) return Status::Error(manifest_path.string() + ": cannot remove the old manifest: " + ec.message());
  }
  fs::StagingDir staging;
  s = staging.Create(dir, kManifestName);
  if (!s) return s;

  // The content hash (sequential over all records) runs beside the shard compression.
  std::string content_hash;
  std::thread hasher([&] { content_hash = ContentHash(pack); });
  s = ParallelFor(plan.size(), ResolveThreads(options.threads), [&](size_t k) -> Status {
    Pack::ShardInfo& info = plan[k];
    std::unique_ptr<uint8_t[]> comp;
    size_t comp_size = 0, raw_size = 0;
    Status st = CompressShard(pack, info.first, info.records, options.zstd_level, &comp, &comp_size, &raw_size);
    if (!st) return Status::Error(info.file + ": " + st.message());
    info.bytes = comp_size;
    info.raw_bytes = raw_size;
    info.sha256 = Sha256::Hex(comp.get(), comp_size);
    return fs::WriteFileAtomic((stdfs::path(staging.path()) / info.file).string(), comp.get(), comp_size);
  });
  hasher.join();
  if (!s) {  // the staging folder goes with its shards; the old pack is untouched
    if (!fresh_names) RemoveShards(dir, {});  // (its pack.json was removed above: shards alone are no pack)
    return s;
  }
  for (const auto& info : plan) {
    const std::string from = (stdfs::path(staging.path()) / info.file).string(), to = (stdfs::path(dir) / info.file).string();
    if (std::rename(from.c_str(), to.c_str()) != 0) {
      const std::string why = std::strerror(errno);
      for (const auto& done : plan) {
        if (&done == &info) break;
        std::error_code e2;
        stdfs::remove(stdfs::path(dir) / done.file, e2);
      }
      return Status::Error(to + ": cannot move the new shard into place: " + why);
    }
  }

  pack.content_hash = content_hash;
  pack.shards = plan;
  json counts = json::object();  // per split, images of each class by name (names are valid UTF-8)
  for (Split sp : {kTrain, kVal, kTest}) {
    const std::vector<size_t> c = pack.ClassCounts(sp);
    json& row = counts[SplitName(sp)] = json::object();
    for (size_t k = 0; k < c.size(); ++k) row[pack.class_names[k]] = c[k];
  }
  json sources = json::array();  // folder names that are not UTF-8 are stored escaped (fs::JsonSafeName)
  for (const std::string& src : pack.sources) sources.push_back(fs::JsonSafeName(src));
  json shards = json::array();
  for (const auto& sh : plan)
    shards.push_back({{"file", sh.file}, {"first", sh.first}, {"records", sh.records}, {"bytes", sh.bytes},
                      {"raw_bytes", sh.raw_bytes}, {"sha256", sh.sha256}});
  json m = {
      {"format", kFormatName},
      {"version", kPackVersion},
      {"image", {{"size", pack.size}, {"channels", 1}, {"dtype", "uint8"}, {"fit", pack.fit}, {"gray", pack.gray},
                 {"resize", "area"}, {"function", "catdog::preprocess_u8"}}},
      {"labels", pack.class_names},
      {"seed", pack.seed},
      {"val_fraction", pack.val_fraction},
      {"test_fraction", pack.test_fraction},
      {"count", n},
      {"counts", counts},
      {"content_hash", pack.content_hash},
      {"checksum", "sha256"},
      {"compression", {{"codec", "zstd"}, {"level", options.zstd_level}, {"pixel_filter", "med"}}},
      {"sources", sources},
      {"shards", shards},
  };
  s = fs::WriteFileAtomic(manifest_path.string(), m.dump(1) + "\n");
  if (!s) {
    // The old pack (if any) is still whole: only the new shards go.
    for (const auto& info : plan)
      if (!live.count(info.file)) {
        std::error_code e2;
        stdfs::remove(stdfs::path(dir) / info.file, e2);
      }
    return s;
  }
  // The new pack is in place: the old pack's shards and any other shard-*.zst go (our pattern only).
  RemoveShards(dir, plan);
  return Status::Ok();
}

std::vector<size_t> Pack::ClassCounts(int s) const {
  std::vector<size_t> c(class_names.size(), 0);
  for (size_t i = 0; i < labels.size(); ++i)
    if ((s < 0 || splits[i] == s) && labels[i] < c.size()) ++c[labels[i]];
  return c;
}

Status ParsePack(std::string_view manifest_json, const ShardSource& source, Pack* out, const std::string& mname,
                 const ParseOptions& options) {
  json m;
  std::string why;
  if (!jsonb::Parse(manifest_json, &m, &why, mname))  // why: "<mname>: invalid JSON at ..." or "... nested deeper ..."
    return Status::Error(mname + ": not valid JSON (" + why.substr(std::min(why.size(), mname.size() + 2)) + ")");
  if (!m.is_object()) return Status::Error(mname + ": not valid JSON (not an object)");
  auto bad = [&](const std::string& why) { return Status::Error(mname + ": " + why); };
  std::string format;
  if (!GetField(m, "format", &format) || format != kFormatName) return bad("\"format\" is not \"catdog-pack\"");
  int version = 0;
  if (!GetField(m, "version", &version)) return bad("missing \"version\" (an integer)");
  if (version != kPackVersion)
    return bad("pack version " + std::to_string(version) + ", this reader knows version " + std::to_string(kPackVersion));
  Pack p;
  const json* image = m.contains("image") && m["image"].is_object() ? &m["image"] : nullptr;
  int channels = 0;
  if (!image || !GetField(*image, "size", &p.size) || !GetField(*image, "fit", &p.fit) ||
      !GetField(*image, "gray", &p.gray) || !GetField(*image, "channels", &channels))
    return bad("\"image\" needs size, channels (integers), fit and gray");
  if (channels != 1) return bad("image channels " + std::to_string(channels) + " (this reader knows 1)");
  if (p.size < 1 || p.size > 4096) return bad("image size " + std::to_string(p.size) + " is out of range");
  size_t count = 0;
  if (!GetField(m, "seed", &p.seed) || !GetField(m, "val_fraction", &p.val_fraction) ||
      !GetField(m, "test_fraction", &p.test_fraction) || !GetField(m, "count", &count) ||
      !GetField(m, "content_hash", &p.content_hash))
    return bad("needs seed, val_fraction, test_fraction, count and content_hash");
  if (count > 0xFFFFFFFFull) return bad("count " + std::to_string(count) + " is too large");
  // The settings WritePack would refuse (ValidatePack) are refused here too (fuzz_pack found a
  // pack.json with val_fraction 5.25 that read back fine).
  if (Fit f; !ParseFit(p.fit, &f)) return bad("image fit '" + p.fit + "' is not stretch or crop");
  if (p.gray.empty()) return bad("image gray formula is empty");
  if (!(p.val_fraction >= 0 && p.test_fraction >= 0 && p.val_fraction + p.test_fraction < 1))
    return bad("val_fraction " + std::to_string(p.val_fraction) + " and test_fraction " + std::to_string(p.test_fraction) +
               " must be >= 0 and sum to < 1");
  GetField(m, "sources", &p.sources);
  if (m.contains("labels")) {
    if (!GetField(m, "labels", &p.class_names)) return bad("\"labels\" is not a list of class names");
    if (Status cs = CheckClassNames(p.class_names, "\"labels\""); !cs) return bad(cs.message());
  }
  const json* comp = m.contains("compression") && m["compression"].is_object() ? &m["compression"] : nullptr;
  std::string codec, filter;
  if (!comp || !GetField(*comp, "codec", &codec) || !GetField(*comp, "pixel_filter", &filter))
    return bad("\"compression\" needs codec and pixel_filter");
  if (codec != "zstd" || filter != "med")
    return bad("compression " + codec + " / pixel filter " + filter + " unknown (this reader knows zstd / med)");
  if (!m.contains("shards") || !m["shards"].is_array()) return bad("missing \"shards\" list");
  const uint64_t img = uint64_t(p.size) * uint64_t(p.size);
  size_t expect_first = 0;
  for (const json& js : m["shards"]) {
    Pack::ShardInfo info;
    if (!js.is_object() || !GetField(js, "file", &info.file) || !GetField(js, "first", &info.first) ||
        !GetField(js, "records", &info.records) || !GetField(js, "bytes", &info.bytes) ||
        !GetField(js, "raw_bytes", &info.raw_bytes) || !GetField(js, "sha256", &info.sha256))
      return bad("shard entry " + std::to_string(p.shards.size()) + " needs file, first, records, bytes, raw_bytes, sha256");
    if (info.file.empty() || info.file.find('/') != std::string::npos || info.file.find('\\') != std::string::npos ||
        info.file == "." || info.file == "..")
      return bad("shard file name '" + info.file + "' must be a plain name inside the pack directory");
    if (info.first != expect_first) return bad(info.file + ": first record " + std::to_string(info.first) + ", expected " + std::to_string(expect_first));
    if (info.bytes > kMaxShardBytesLimit || info.raw_bytes > (1ull << 32))
      return bad(info.file + ": declared size " + std::to_string(info.bytes) + " / raw " + std::to_string(info.raw_bytes) + " is too large");
    // Before anything is allocated for them: the records must fit the declared raw size (which is
    // at most 4 GiB), so a pack.json declaring billions of records is refused with a message
    // instead of a failed allocation (seen while writing fuzz_pack).
    if (info.records > count - std::min(count, expect_first) ||
        kShardHeaderBytes + uint64_t(info.records) * (2 + 4 + img) > info.raw_bytes)
      return bad(info.file + ": " + std::to_string(info.records) + " records of " + std::to_string(p.size) + "x" +
                 std::to_string(p.size) + " do not fit its raw size of " + std::to_string(info.raw_bytes) +
                 " bytes (or exceed count " + std::to_string(count) + ")");
    expect_first += info.records;
    p.shards.push_back(info);
  }
  if (expect_first != count) return bad("shards hold " + std::to_string(expect_first) + " records but count is " + std::to_string(count));
  if (options.max_pixel_bytes > 0 && uint64_t(count) * img > options.max_pixel_bytes)
    return bad(std::to_string(count) + " images of " + std::to_string(p.size) + "x" + std::to_string(p.size) +
               " need more than the limit of " + std::to_string(options.max_pixel_bytes) + " bytes");
  try {
    p.labels.assign(count, 0);
    p.splits.assign(count, 0);
    p.paths.assign(count, std::string());
    p.pixels.assign(count * img, 0);
  } catch (const std::bad_alloc&) {
    return bad("cannot allocate " + std::to_string(count * img) + " bytes for " + std::to_string(count) + " images of " +
               std::to_string(p.size) + "x" + std::to_string(p.size));
  }

  Status s = ParallelFor(p.shards.size(), ResolveThreads(options.threads), [&](size_t k) -> Status {
    const Pack::ShardInfo& info = p.shards[k];
    const std::string sname = options.shard_prefix + info.file;
    ByteSpan bytes;
    std::unique_ptr<uint8_t[]> keep;  // one shard's bytes per thread at a time
    if (Status st = source(info, &bytes, &keep); !st) return st;
    const uint8_t* data = bytes.data;
    const size_t size = bytes.size;
    if (size != info.bytes)
      return Status::Error(sname + ": " + std::to_string(size) + " bytes, pack.json says " + std::to_string(info.bytes) +
                           " (truncated or replaced)");
    std::string sum = Sha256::Hex(data, size);
    if (sum != info.sha256)
      return Status::Error(sname + ": checksum mismatch (sha256 " + sum + ", pack.json says " + info.sha256 +
                           "): the shard is corrupt or from another pack");
    unsigned long long content = ZSTD_getFrameContentSize(data, size);
    if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN || content != info.raw_bytes)
      return Status::Error(sname + ": not a zstd frame of " + std::to_string(info.raw_bytes) + " bytes");
    FrameReader reader(data, size);
    return ParseShard(sname, reader, info, &p);
  });
  if (!s) return s;
  std::string h = ContentHash(p);
  if (h != p.content_hash)
    return bad("content hash " + h + " does not match the recorded " + p.content_hash + " (shards from different packs?)");
  if (Status v = ValidatePack(p); !v) return bad(v.message());  // what is read back could be written again
  *out = std::move(p);
  return Status::Ok();
}

Status ParsePack(std::string_view manifest_json, const std::map<std::string, ByteSpan>& shards, Pack* out,
                 const std::string& mname, const ParseOptions& options) {
  auto source = [&](const Pack::ShardInfo& info, ByteSpan* bytes, std::unique_ptr<uint8_t[]>*) -> Status {
    auto it = shards.find(info.file);
    if (it == shards.end())
      return Status::Error("pack shard " + options.shard_prefix + info.file + ": missing (pack.json lists it)");
    *bytes = it->second;
    return Status::Ok();
  };
  return ParsePack(manifest_json, source, out, mname, options);
}

Status ReadPack(const std::string& dir_or_manifest, Pack* out) {
  stdfs::path manifest_path(dir_or_manifest);
  std::error_code ec;
  if (stdfs::is_directory(manifest_path, ec)) manifest_path /= kManifestName;
  const std::string mname = manifest_path.string();
  const stdfs::path dir = manifest_path.parent_path();
  std::string text;
  Status s = fs::ReadTextFile(mname, &text, 64ull << 20);
  if (!s) return Status::Error(s.message() + " (not a pack directory? `catdog prepare` writes pack.json last)");
  // Each shard file is read by the thread that verifies it, once pack.json has been checked, and
  // at most the size pack.json gives it (a replaced file is not read whole).
  auto source = [&](const Pack::ShardInfo& info, ByteSpan* bytes, std::unique_ptr<uint8_t[]>* keep) -> Status {
    size_t size = 0;
    Status st = ReadShardFile((dir / info.file).string(), info.bytes, keep, &size);
    if (!st) return Status::Error("pack shard " + st.message());
    *bytes = ByteSpan{keep->get(), size};
    return Status::Ok();
  };
  ParseOptions o;
  o.threads = 0;
  o.shard_prefix = dir.empty() ? std::string() : (dir / "").string();
  return ParsePack(text, source, out, mname, o);
}

}  // namespace catdog::pack

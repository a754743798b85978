#include "weights.h"

#include <cmath>
#include <cstring>
#include <set>

namespace catdog::detail {
namespace {

using jsonu::json;

bool MulOverflow(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_mul_overflow(a, b, out); }

uint32_t ReadLE32(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}
uint16_t ReadLE16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }

std::string JoinPaths(const Manifest& m, int group) {
  std::string s;
  for (size_t i = 0; i < m.paths.size(); ++i) {
    if (m.path_group[i] != group) continue;
    if (!s.empty()) s += ", ";
    s += "'" + m.paths[i] + "'";
  }
  return s;
}

// A shard path names a file inside the model's folder, the same one natively and as a URL
// relative to model.json: relative, '/'-separated, no '..' that climbs above the folder, and none
// of the characters that a URL or a shell would read differently (scheme, query, fragment,
// percent-escapes, backslashes, control characters). Sets *normal to the path with '.' and
// 'x/..' resolved, so two spellings of one file are seen as duplicates.
Status CheckShardPath(const std::string& path, const std::string& where, std::string* normal) {
  const std::string shown = jsonu::Dump(json(path), 120);  // quoted and escaped
  auto bad = [&](const std::string& why) { return Status::Error(where + ": shard path " + shown + " " + why); };
  if (path.size() > kMaxShardPathBytes)
    return bad("is " + std::to_string(path.size()) + " bytes long (the limit is " + std::to_string(kMaxShardPathBytes) + ")");
  if (path[0] == '/') return bad("is absolute: weight files must be inside the model's folder");
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f || c == '\\' || c == ':' || c == '?' || c == '#' || c == '%')
      return bad("holds a character that is not allowed in a weight file name (control characters, '\\', ':', '?', '#', '%')");
  }
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    const std::string part = path.substr(start, slash - start);
    if (part == "..") {
      if (parts.empty()) return bad("leaves the model's folder ('..'): weight files must be inside it");
      parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    start = slash + 1;
  }
  if (parts.empty()) return bad("names the model's folder itself, not a file");
  normal->clear();
  for (const std::string& part : parts) *normal += (normal->empty() ? "" : "/") + part;
  return Status::Ok();
}

}  // namespace

Status ParseManifest(const json& manifest, const std::string& src, uint64_t max_bytes,
                     Manifest* out) {
  *out = Manifest();
  std::set<std::string> seen;  // normalized shard paths
  if (!manifest.is_array())
    return Status::Error(src + ": weightsManifest must be a list of groups, got " + jsonu::Dump(manifest, 80));
  for (size_t g = 0; g < manifest.size(); ++g) {
    const json& group = manifest[g];
    std::string gname = src + ": weightsManifest[" + std::to_string(g) + "]";
    const json* paths = jsonu::Find(group, "paths");
    const json* weights = jsonu::Find(group, "weights");
    if (!paths || !paths->is_array())
      return Status::Error(gname + ": missing 'paths' (the list of shard files)");
    if (!weights || !weights->is_array())
      return Status::Error(gname + ": missing 'weights' (the list of weight entries)");
    for (const json& p : *paths) {
      std::string path, normal;
      if (!jsonu::AsString(p, &path) || path.empty())
        return Status::Error(gname + ": a shard path is not a non-empty string: " + jsonu::Dump(p, 80));
      if (out->paths.size() >= kMaxShards)
        return Status::Error(src + ": weightsManifest names more than " + std::to_string(kMaxShards) + " shard files");
      Status s = CheckShardPath(path, gname, &normal);
      if (!s) return s;
      if (!seen.insert(normal).second)
        return Status::Error(gname + ": shard path '" + path + "' names a file listed before (each weight file may be listed once)");
      out->paths.push_back(path);
      out->path_group.push_back(static_cast<int>(g));
    }
    uint64_t offset = 0;
    for (size_t w = 0; w < weights->size(); ++w) {
      const json& e = (*weights)[w];
      WeightEntry entry;
      entry.group = static_cast<int>(g);
      const json* name = jsonu::Find(e, "name");
      if (!name || !jsonu::AsString(*name, &entry.name) || entry.name.empty())
        return Status::Error(gname + ".weights[" + std::to_string(w) + "]: missing 'name'");
      if (entry.name.size() > 2 && entry.name.compare(entry.name.size() - 2, 2, ":0") == 0)
        entry.name.resize(entry.name.size() - 2);
      std::string wname = src + ": weight '" + entry.name + "'";
      const json* shape = jsonu::Find(e, "shape");
      if (!shape || !shape->is_array()) return Status::Error(wname + ": missing 'shape'");
      uint64_t count = 1;
      for (const json& d : *shape) {
        int64_t v;
        if (!jsonu::AsInt64(d, &v) || v < 0)
          return Status::Error(wname + ": bad dimension " + jsonu::Dump(d, 40) + " in shape " + jsonu::Dump(*shape, 80));
        entry.shape.push_back(v);
        if (MulOverflow(count, static_cast<uint64_t>(v), &count) || count > (uint64_t(1) << 62))
          return Status::Error(wname + ": shape " + jsonu::Dump(*shape, 80) + " overflows");
      }
      entry.count = static_cast<int64_t>(count);
      std::string dtype = "float32";
      if (const json* dt = jsonu::FindNonNull(e, "dtype")) {
        if (!jsonu::AsString(*dt, &dtype)) return Status::Error(wname + ": 'dtype' is not a string");
      }
      uint64_t bytes_per = 4;
      if (const json* q = jsonu::FindNonNull(e, "quantization")) {
        std::string qd;
        const json* qdt = jsonu::Find(*q, "dtype");
        if (!qdt || !jsonu::AsString(*qdt, &qd))
          return Status::Error(wname + ": quantization has no 'dtype': " + jsonu::Dump(*q, 120));
        if (qd == "float16") {
          entry.encoding = WeightEncoding::kFloat16;
          bytes_per = 2;
        } else if (qd == "uint8" || qd == "uint16") {
          entry.encoding = qd == "uint8" ? WeightEncoding::kUint8 : WeightEncoding::kUint16;
          bytes_per = qd == "uint8" ? 1 : 2;
          const json* mn = jsonu::Find(*q, "min");
          const json* sc = jsonu::Find(*q, "scale");
          if (!mn || !sc || !jsonu::AsDouble(*mn, &entry.min) || !jsonu::AsDouble(*sc, &entry.scale))
            return Status::Error(wname + ": " + qd + " quantization needs numeric 'min' and 'scale', got " +
                                 jsonu::Dump(*q, 120));
          if (!std::isfinite(entry.min) || !std::isfinite(entry.scale))
            return Status::Error(wname + ": quantization min/scale not finite: " + jsonu::Dump(*q, 120));
        } else {
          return Status::Error(wname + ": unsupported quantization dtype '" + qd +
                               "' (supported: uint8, uint16, float16)");
        }
        // The dequantized type must be float32 (original_dtype in newer converters, else dtype).
        std::string orig = dtype;
        if (const json* od = jsonu::FindNonNull(*q, "original_dtype")) jsonu::AsString(*od, &orig);
        if (orig != "float32")
          return Status::Error(wname + ": quantized weights of dtype '" + orig + "' are not supported (only float32)");
      } else if (dtype != "float32") {
        return Status::Error(wname + ": unsupported dtype '" + dtype + "' (only float32, or quantized uint8/uint16/float16)");
      }
      if (MulOverflow(count, bytes_per, &entry.byte_size))
        return Status::Error(wname + ": byte size overflows");
      entry.byte_offset = offset;
      offset += entry.byte_size;
      uint64_t floats = 0;
      if (__builtin_add_overflow(out->total_floats, count, &floats) || floats > max_bytes / 4)
        return Status::Error(src + ": weights need more than the limit of " + std::to_string(max_bytes) +
                             " bytes (at weight '" + entry.name + "', shape " + jsonu::Dump(*shape, 80) + ")");
      out->total_floats = floats;
      out->weights.push_back(std::move(entry));
    }
    out->group_bytes.push_back(offset);
    out->total_bytes += offset;
  }
  return Status::Ok();
}

Status DecodeWeights(const Manifest& m, const std::vector<ShardBytes>& shards, const std::string& src,
                     std::vector<std::vector<float>>* out) {
  out->clear();
  if (shards.size() != m.paths.size()) {
    std::string names;
    for (const auto& p : m.paths) names += (names.empty() ? "'" : ", '") + p + "'";
    return Status::Error(src + ": the weightsManifest names " + std::to_string(m.paths.size()) +
                         " shard(s) (" + names + ") but " + std::to_string(shards.size()) + " were given");
  }
  for (size_t i = 0; i < shards.size(); ++i) {
    if (!shards[i].data && shards[i].size > 0)
      return Status::Error(src + ": shard '" + m.paths[i] + "': null data with size " + std::to_string(shards[i].size));
  }
  // Concatenate each group's shards (weights may straddle shard boundaries).
  const size_t num_groups = m.group_bytes.size();
  std::vector<std::vector<uint8_t>> group_data(num_groups);
  for (size_t g = 0; g < num_groups; ++g) {
    uint64_t have = 0;
    size_t last = SIZE_MAX;
    for (size_t i = 0; i < shards.size(); ++i) {
      if (m.path_group[i] != static_cast<int>(g)) continue;
      uint64_t before = have;
      have += shards[i].size;
      // Name the first shard in which the data the weights need ends early.
      if (have > m.group_bytes[g] && before >= m.group_bytes[g])
        return Status::Error(src + ": shard '" + m.paths[i] + "' is not needed: the weights of group " +
                             std::to_string(g + 1) + " end before it (" + std::to_string(shards[i].size) +
                             " extra bytes)");
      last = i;
    }
    if (have < m.group_bytes[g]) {
      std::string shard = last == SIZE_MAX ? std::string("(none)") : "'" + m.paths[last] + "'";
      for (const WeightEntry& w : m.weights) {
        if (w.group == static_cast<int>(g) && w.byte_offset + w.byte_size > have) {
          return Status::Error(src + ": weight data is short: shard " + shard + " of group " + std::to_string(g + 1) +
                               " ends at byte " + std::to_string(have) + " of " + std::to_string(m.group_bytes[g]) +
                               " needed (weight '" + w.name + "' needs bytes " + std::to_string(w.byte_offset) +
                               ".." + std::to_string(w.byte_offset + w.byte_size) + "; shards: " + JoinPaths(m, int(g)) + ")");
        }
      }
    }
    if (have > m.group_bytes[g]) {
      return Status::Error(src + ": shard '" + m.paths[last] + "' has " + std::to_string(have - m.group_bytes[g]) +
                           " extra bytes: the weights of group " + std::to_string(g + 1) + " need " +
                           std::to_string(m.group_bytes[g]) + " bytes, the shards hold " + std::to_string(have));
    }
    group_data[g].reserve(static_cast<size_t>(have));
    for (size_t i = 0; i < shards.size(); ++i) {
      if (m.path_group[i] != static_cast<int>(g) || shards[i].size == 0) continue;
      group_data[g].insert(group_data[g].end(), shards[i].data, shards[i].data + shards[i].size);
    }
  }
  out->resize(m.weights.size());
  for (size_t k = 0; k < m.weights.size(); ++k) {
    const WeightEntry& w = m.weights[k];
    const uint8_t* p = group_data[w.group].data() + w.byte_offset;
    std::vector<float>& v = (*out)[k];
    v.resize(static_cast<size_t>(w.count));
    for (int64_t i = 0; i < w.count; ++i) {
      float f;
      switch (w.encoding) {
        case WeightEncoding::kFloat32: {
          uint32_t bits = ReadLE32(p + 4 * i);
          std::memcpy(&f, &bits, sizeof f);
          break;
        }
        case WeightEncoding::kFloat16: f = HalfToFloat(ReadLE16(p + 2 * i)); break;
        // As TF.js: q * scale + min in double, then rounded to float32 (tfjs::Quantize's
        // `dequantized` is the same expression).
        case WeightEncoding::kUint8: f = static_cast<float>(p[i] * w.scale + w.min); break;
        case WeightEncoding::kUint16: f = static_cast<float>(ReadLE16(p + 2 * i) * w.scale + w.min); break;
        default: f = 0.f;
      }
      if (!std::isfinite(f)) {
        std::string idx;
        int64_t rem = i;
        for (size_t d = w.shape.size(); d-- > 0;) {
          int64_t dim = w.shape[d] > 0 ? w.shape[d] : 1;
          idx = std::to_string(rem % dim) + (idx.empty() ? "" : ",") + idx;
          rem /= dim;
        }
        return Status::Error(src + ": weight '" + w.name + "' holds " + (std::isnan(f) ? "NaN" : "Inf") +
                             " at index [" + idx + "] (flat " + std::to_string(i) + ")");
      }
      v[static_cast<size_t>(i)] = f;
    }
  }
  return Status::Ok();
}

}  // namespace catdog::detail

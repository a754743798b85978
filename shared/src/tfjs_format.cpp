// The TF.js format's one reader/writer (catdog/tfjs_format.h). The manifest parse and the shard
// decode themselves live in weights.cpp (internal: the model's LoadWeights uses them directly);
// everything a caller outside the core needs is here.
#include "catdog/tfjs_format.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "catdog/json_bounded.h"
#include "json_util.h"
#include "tfjs_internal.h"
#include "weights.h"

namespace catdog::tfjs {
namespace {

using jsonu::json;

const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void PutLE(std::vector<uint8_t>* b, uint32_t v, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i) b->push_back(uint8_t(v >> (8 * i)));
}

const char* FormatName(PixelFormat f) {
  switch (f) {
    case PixelFormat::kGray8: return "gray8";
    case PixelFormat::kRGB8: return "rgb8";
    case PixelFormat::kRGBA8: return "rgba8";
  }
  return "?";
}

bool ParseFormat(const std::string& s, PixelFormat* f) {
  if (s == "gray8") *f = PixelFormat::kGray8;
  else if (s == "rgb8") *f = PixelFormat::kRGB8;
  else if (s == "rgba8") *f = PixelFormat::kRGBA8;
  else return false;
  return true;
}

json GoldenObject(const SelfCheckGolden& g) {
  json e = {{"name", g.name},
            {"format", FormatName(g.format)},
            {"width", g.width},
            {"height", g.height},
            {"fit", g.fit == Fit::kStretch ? "stretch" : "crop"},
            {"pixels_base64", Base64Encode(g.pixels.data(), g.pixels.size())}};
  if (!g.expected.empty()) e["expected"] = g.expected;
  return e;
}

float Dequantize(uint32_t q, double scale, double min) { return static_cast<float>(q * scale + min); }

}  // namespace

// ---- base64 ---------------------------------------------------------------------------------------
std::string Base64Encode(const uint8_t* data, size_t size) {
  std::string s;
  s.reserve((size + 2) / 3 * 4);
  for (size_t i = 0; i < size; i += 3) {
    uint32_t v = uint32_t(data[i]) << 16;
    if (i + 1 < size) v |= uint32_t(data[i + 1]) << 8;
    if (i + 2 < size) v |= data[i + 2];
    s += kB64[(v >> 18) & 63];
    s += kB64[(v >> 12) & 63];
    s += i + 1 < size ? kB64[(v >> 6) & 63] : '=';
    s += i + 2 < size ? kB64[v & 63] : '=';
  }
  return s;
}

Status Base64Decode(std::string_view text, std::vector<uint8_t>* out) {
  out->clear();
  if (text.size() % 4 != 0) return Status::Error("base64: length " + std::to_string(text.size()) + " is not a multiple of 4");
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  out->reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=' && i + 4 == text.size() && k >= 2) { v[k] = 0; ++pad; continue; }
      if (pad) return Status::Error("base64: '=' in the middle at offset " + std::to_string(i + k));
      v[k] = val(c);
      if (v[k] < 0) return Status::Error("base64: bad character at offset " + std::to_string(i + k));
    }
    const uint32_t w = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    out->push_back(uint8_t(w >> 16));
    if (pad < 2) out->push_back(uint8_t(w >> 8));
    if (pad < 1) out->push_back(uint8_t(w));
  }
  return Status::Ok();
}

// ---- half -----------------------------------------------------------------------------------------
uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u) return uint16_t(sign | 0x7C00u | (abs > 0x7F800000u ? 0x200u : 0));  // inf/nan
  if (abs >= 0x477FF000u) return uint16_t(sign | 0x7C00u);  // rounds to >= 65520: overflow to inf
  if (abs < 0x38800000u) {  // below the smallest normal half (2^-14): subnormal or zero
    if (abs < 0x33000000u) return uint16_t(sign);  // < 2^-25 rounds to zero
    const uint32_t e = abs >> 23;                       // 102..112 here
    const uint32_t mant = (abs & 0x7FFFFFu) | 0x800000u;  // value = mant * 2^(e-150)
    const uint32_t shift = 126 - e;                      // to units of 2^-24 (the half subnormal step)
    uint32_t r = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1))) ++r;  // may carry into the smallest normal: still right
    return uint16_t(sign | r);
  }
  uint32_t h = ((abs - 0x38000000u) >> 13);  // rebias exponent 127 -> 15
  const uint32_t rem = abs & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;
  return uint16_t(sign | h);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: renormalize
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      mant &= 0x3ffu;
      bits = sign | (uint32_t(127 - 15 - e) << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// ---- dtypes and quantization -------------------------------------------------------------------------
const char* DTypeName(DType d) {
  switch (d) {
    case DType::kFloat32: return "float32";
    case DType::kFloat16: return "float16";
    case DType::kUint8: return "uint8";
    case DType::kUint16: return "uint16";
  }
  return "?";
}

bool ParseDType(std::string_view name, DType* out) {
  for (DType d : {DType::kFloat32, DType::kFloat16, DType::kUint8, DType::kUint16})
    if (name == DTypeName(d)) return *out = d, true;
  return false;
}

size_t DTypeBytes(DType d) { return d == DType::kFloat32 ? 4 : d == DType::kUint8 ? 1 : 2; }

Status Quantize(const std::vector<float>& data, DType dtype, Quantized* q) {
  q->bytes.clear();
  q->dequantized.resize(data.size());
  q->min = 0;
  q->scale = 1;
  if (dtype == DType::kFloat32) {
    for (size_t i = 0; i < data.size(); ++i) {
      uint32_t bits;
      std::memcpy(&bits, &data[i], 4);
      PutLE(&q->bytes, bits, 4);
    }
    q->dequantized = data;
    return Status::Ok();
  }
  if (dtype == DType::kFloat16) {
    for (size_t i = 0; i < data.size(); ++i) {
      const uint16_t h = FloatToHalf(data[i]);
      PutLE(&q->bytes, h, 2);
      q->dequantized[i] = HalfToFloat(h);
    }
    return Status::Ok();
  }
  const size_t bytes = DTypeBytes(dtype);
  const double qmax = dtype == DType::kUint8 ? 255.0 : 65535.0;
  double mn = data.empty() ? 0.0 : *std::min_element(data.begin(), data.end());
  double mx = data.empty() ? 0.0 : *std::max_element(data.begin(), data.end());
  double scale = 1.0;
  if (mn != mx) {
    scale = (mx - mn) / qmax;
    if (mn <= 0 && 0 <= mx) {
      const double zero_point = std::nearbyint((0 - mn) / scale);  // numpy rounds half to even
      mn = -zero_point * scale;
      mx = qmax * scale + mn;
    }
  }
  for (size_t i = 0; i < data.size(); ++i) {
    uint32_t v = 0;
    if (mn != mx) {
      const double c = std::min(std::max(double(data[i]), mn), mx);
      v = uint32_t(std::nearbyint((c - mn) / scale));
    }
    PutLE(&q->bytes, v, bytes);
    q->dequantized[i] = Dequantize(v, scale, mn);
  }
  q->min = mn;
  q->scale = scale;
  return Status::Ok();
}

Status QuantizeTensor(const std::vector<float>& data, const std::string& dtype, Quantized* out) {
  DType d;
  if (!ParseDType(dtype, &d) || d == DType::kFloat32)
    return Status::Error("--quantize '" + dtype + "': must be float16, uint16 or uint8");
  return Quantize(data, d, out);
}

// ---- named weights ---------------------------------------------------------------------------------------
Status ReadWeights(std::string_view model_json, const std::vector<ShardBytes>& shards, std::string_view source_name,
                   std::vector<NamedWeight>* out, uint64_t max_bytes) {
  out->clear();
  const std::string src(source_name);
  json doc;
  std::string why;
  if (!jsonb::Parse(model_json, &doc, &why, src)) return Status::Error(why);
  const json* wm = jsonu::FindNonNull(doc, "weightsManifest");
  if (!wm) return Status::Error(src + ": missing 'weightsManifest' (the list of weight files)");
  catdog::detail::Manifest m;
  Status s = catdog::detail::ParseManifest(*wm, src, max_bytes, &m);
  if (!s) return s;
  std::vector<std::vector<float>> values;
  if (!(s = catdog::detail::DecodeWeights(m, shards, src, &values))) return s;
  out->reserve(m.weights.size());
  for (size_t i = 0; i < m.weights.size(); ++i) {
    const catdog::detail::WeightEntry& e = m.weights[i];
    DType stored = DType::kFloat32;
    switch (e.encoding) {
      case catdog::detail::WeightEncoding::kFloat32: stored = DType::kFloat32; break;
      case catdog::detail::WeightEncoding::kFloat16: stored = DType::kFloat16; break;
      case catdog::detail::WeightEncoding::kUint8: stored = DType::kUint8; break;
      case catdog::detail::WeightEncoding::kUint16: stored = DType::kUint16; break;
    }
    out->push_back({e.name, e.shape, std::move(values[i]), stored});
  }
  return Status::Ok();
}

std::vector<ShardBytes> WeightFiles::Views() const {
  std::vector<ShardBytes> v;
  for (const auto& s : shards) v.push_back({s.data(), s.size()});
  return v;
}

Status WriteWeights(const std::vector<NamedWeight>& weights, const WriteOptions& opt, WeightFiles* out) {
  *out = WeightFiles();
  if (opt.max_shard_bytes < 4) return Status::Error("shard size " + std::to_string(opt.max_shard_bytes) + " is too small");
  std::vector<uint8_t> blob;
  json entries = json::array();
  for (const NamedWeight& w : weights) {
    uint64_t count = 1;
    for (int64_t d : w.shape) {
      if (d < 0) return Status::Error("weight '" + w.name + "': negative dimension " + std::to_string(d));
      count *= uint64_t(d);
    }
    if (count != w.data.size())
      return Status::Error("weight '" + w.name + "': shape holds " + std::to_string(count) + " values, data " +
                           std::to_string(w.data.size()));
    for (size_t i = 0; i < w.data.size(); ++i)
      if (!std::isfinite(w.data[i]))
        return Status::Error("weight '" + w.name + "' holds " + (std::isnan(w.data[i]) ? "NaN" : "Inf") +
                             " at flat index " + std::to_string(i));
    Quantized q;
    Status s = Quantize(w.data, opt.dtype, &q);
    if (!s) return s;
    blob.insert(blob.end(), q.bytes.begin(), q.bytes.end());
    json entry = {{"name", w.name}, {"shape", w.shape}, {"dtype", "float32"}};
    if (opt.dtype != DType::kFloat32) {
      json qj = {{"dtype", DTypeName(opt.dtype)}, {"original_dtype", "float32"}};
      if (opt.dtype != DType::kFloat16) {
        qj["min"] = q.min;
        qj["scale"] = q.scale;
      }
      entry["quantization"] = qj;
    }
    entries.push_back(std::move(entry));
    out->dequantized.push_back({w.name, w.shape, std::move(q.dequantized), opt.dtype});
  }
  const uint64_t per = opt.max_shard_bytes;
  const size_t nshards = std::max<size_t>(1, size_t((blob.size() + per - 1) / per));
  json paths = json::array();
  for (size_t i = 0; i < nshards; ++i) {
    const size_t begin = size_t(i * per), end = std::min<size_t>(blob.size(), size_t(begin + per));
    out->shards.emplace_back(blob.begin() + long(begin), blob.begin() + long(end));
    out->shard_names.push_back("group1-shard" + std::to_string(i + 1) + "of" + std::to_string(nshards) + ".bin");
    paths.push_back(out->shard_names.back());
  }
  json manifest = json::array({{{"paths", paths}, {"weights", entries}}});
  out->manifest_json = jsonu::Dump(manifest, std::string::npos);
  return Status::Ok();
}

// ---- goldens -------------------------------------------------------------------------------------------
namespace detail {

bool ParseGolden(const json& j, const std::string& at, SelfCheckGolden* out, std::string* pre_sha256, std::string* why) {
  std::string fmt, fit, b64;
  int64_t w = 0, h = 0;
  const json* v;
  if (!j.is_object()) return *why = at + " is not an object", false;
  if ((v = jsonu::Find(j, "name")) && !jsonu::AsString(*v, &out->name)) return *why = at + ".name is not a string", false;
  if (!(v = jsonu::Find(j, "format")) || !jsonu::AsString(*v, &fmt) || !ParseFormat(fmt, &out->format))
    return *why = at + ".format must be gray8, rgb8 or rgba8", false;
  if (!(v = jsonu::Find(j, "width")) || !jsonu::AsInt64(*v, &w) || w < 1 || w > 4096 ||
      !(v = jsonu::Find(j, "height")) || !jsonu::AsInt64(*v, &h) || h < 1 || h > 4096)
    return *why = at + ": width/height must be integers 1..4096", false;
  out->width = int(w);
  out->height = int(h);
  if (!(v = jsonu::Find(j, "fit")) || !jsonu::AsString(*v, &fit) || (fit != "stretch" && fit != "crop"))
    return *why = at + ".fit must be \"stretch\" or \"crop\"", false;
  out->fit = fit == "stretch" ? Fit::kStretch : Fit::kCenterCrop;
  if (!(v = jsonu::Find(j, "pixels_base64")) || !jsonu::AsString(*v, &b64) || !Base64Decode(b64, &out->pixels))
    return *why = at + ".pixels_base64 is not base64", false;
  const size_t want = size_t(w) * size_t(h) * size_t(int(out->format));
  if (out->pixels.size() != want)
    return *why = at + ".pixels_base64 holds " + std::to_string(out->pixels.size()) + " bytes, " + fmt + " " +
                  std::to_string(w) + "x" + std::to_string(h) + " needs " + std::to_string(want),
           false;
  if ((v = jsonu::Find(j, "preprocessed_sha256")) && !jsonu::AsString(*v, pre_sha256))
    return *why = at + ".preprocessed_sha256 is not a string", false;
  out->expected.clear();
  if (const json* e = jsonu::Find(j, "expected")) {
    if (!e->is_array() || e->empty()) return *why = at + ".expected must be a non-empty array of numbers", false;
    for (const json& x : *e) {
      double d;
      if (!jsonu::AsDouble(x, &d) || !std::isfinite(d)) return *why = at + ".expected holds a non-number", false;
      out->expected.push_back(float(d));
    }
  }
  return true;
}

json GoldenJson(const SelfCheckGolden& g) { return GoldenObject(g); }

const char* PixelFormatName(PixelFormat f) { return FormatName(f); }

}  // namespace detail

std::string GoldenToJson(const SelfCheckGolden& g) { return jsonu::Dump(GoldenObject(g), std::string::npos); }

Status ParseGoldens(std::string_view json_array, std::string_view where, std::vector<SelfCheckGolden>* out) {
  out->clear();
  const std::string at(where);
  json doc;
  std::string why;
  if (!jsonb::Parse(json_array, &doc, &why, at)) return Status::Error(why);
  if (!doc.is_array()) return Status::Error(at + " is not an array of golden images");
  for (size_t i = 0; i < doc.size(); ++i) {
    SelfCheckGolden g;
    std::string sha;
    if (!detail::ParseGolden(doc[i], at + "[" + std::to_string(i) + "]", &g, &sha, &why)) return Status::Error(why);
    if (g.name.empty()) g.name = "#" + std::to_string(i);
    out->push_back(std::move(g));
  }
  return Status::Ok();
}

SelfCheckGolden GrayGolden(std::string name, int side, std::vector<uint8_t> pixels) {
  SelfCheckGolden g;
  g.name = std::move(name);
  g.format = PixelFormat::kGray8;
  g.fit = Fit::kStretch;
  g.width = g.height = side;
  g.pixels = std::move(pixels);
  return g;
}

}  // namespace catdog::tfjs

// Model self-check (catdog.h, "self-check"): golden images -> outputs and shard hashes recorded in
// userDefinedMetadata.catdog.selfcheck, checked right after loading.
//
// Why through preprocess(): the drift users report ("the website and my local code give
// different results") is as often in the pixels as in the network, so every golden is an 8-bit
// image that goes through the same preprocess() call the page and the CLI use; each golden also
// records the SHA-256 of its preprocessed u8 pixels, so a preprocessing drift is named as such
// instead of showing up as a wrong output.
//
// Reads untrusted JSON without exceptions (the wasm build has them disabled): json_util.h only.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "catdog/catdog.h"
#include "catdog/json_bounded.h"
#include "catdog/sha256.h"
#include "json_util.h"
#include "tfjs_internal.h"

namespace catdog {
namespace {

using json = nlohmann::json;
constexpr int kBlockVersion = 1;
constexpr size_t kMaxGoldens = 64;

std::string Num(double v) { return jsonu::FormatG7(v); }  // as "%.7g" writes it

// The model's square input side (H == W, one channel), or 0.
int InputSide(const ModelInfo& info) {
  const auto& s = info.input_shape;
  if (s.size() != 3 || s[0] != s[1] || s[2] != 1 || s[0] <= 0 || s[0] > 4096) return 0;
  return int(s[0]);
}

std::string PreprocessedHash(const SelfCheckGolden& g, int side, Status* st) {
  std::vector<uint8_t> u8(size_t(side) * size_t(side));
  const int bpp = int(g.format);
  ImageView v{g.pixels.data(), g.width, g.height, g.width * bpp, g.format};
  *st = preprocess_u8(v, g.fit, side, u8.data());
  return st->ok() ? Sha256::Hex(u8.data(), u8.size()) : std::string();
}

// One parsed golden: the image, its expected output and (optional) preprocessed-pixel hash.
struct ParsedGolden {
  SelfCheckGolden g;
  std::string pre_sha256;
};

// Parses goldens[i] with the format's one golden parser (tfjs_internal.h); a self-check golden
// must carry its expected outputs. On failure returns the reason (naming the field) in *why.
bool ParseGolden(const json& j, size_t i, ParsedGolden* out, std::string* why) {
  const std::string at = "selfcheck.goldens[" + std::to_string(i) + "]";
  if (!tfjs::detail::ParseGolden(j, at, &out->g, &out->pre_sha256, why)) return false;
  if (out->g.name.empty()) out->g.name = "#" + std::to_string(i);
  if (out->g.expected.empty()) return *why = at + ".expected must be a non-empty array of numbers", false;
  return true;
}

}  // namespace

std::string SelfCheckReport::Summary() const {
  if (!present) return "model has no self-check block";
  const std::string n = "(" + std::to_string(passed) + "/" + std::to_string(total) + ")";
  if (verified()) return "model verified " + n;
  return "model self-check FAILED " + n + ": " + first_mismatch;
}

Status PreprocessGolden(const SelfCheckGolden& g, int input_size, std::vector<float>* out) {
  const int bpp = int(g.format);
  if (g.width < 1 || g.height < 1 || g.pixels.size() != size_t(g.width) * size_t(g.height) * size_t(bpp))
    return Status::Error("golden '" + g.name + "': " + std::to_string(g.pixels.size()) + " bytes for a " +
                         std::to_string(g.width) + "x" + std::to_string(g.height) + " " + tfjs::detail::PixelFormatName(g.format) +
                         " image");
  out->assign(size_t(input_size) * size_t(input_size), 0.f);
  ImageView v{g.pixels.data(), g.width, g.height, g.width * bpp, g.format};
  Status s = preprocess(v, g.fit, input_size, out->data());
  if (!s) return Status::Error("golden '" + g.name + "': " + s.message());
  return Status::Ok();
}

Status RunSelfCheck(Model& model, const std::vector<ShardBytes>& shards, SelfCheckReport* report) {
  *report = SelfCheckReport();
  const std::vector<std::string>& paths = model.shard_paths();
  if (shards.size() != paths.size())
    return Status::Error("self-check: " + std::to_string(shards.size()) + " shard buffers for " +
                         std::to_string(paths.size()) + " manifest paths");
  const ModelInfo& info = model.info();
  // The depth-limited parser, as in Model::Parse (and so the wasm module carries one JSON parser).
  json meta;
  const bool meta_ok = jsonb::Parse(info.user_metadata_json, &meta, nullptr, "userDefinedMetadata");
  const json* cd = meta_ok ? jsonu::Find(meta, "catdog") : nullptr;
  const json* block = cd ? jsonu::FindNonNull(*cd, "selfcheck") : nullptr;
  if (!block) return Status::Ok();  // present = false
  report->present = true;
  auto fail = [&](const std::string& why) {
    ++report->total;
    if (report->first_mismatch.empty()) report->first_mismatch = why;
  };
  auto pass = [&] { ++report->total; ++report->passed; };
  const json* v;
  int64_t version = 0;
  if (!block->is_object() || !(v = jsonu::Find(*block, "version")) || !jsonu::AsInt64(*v, &version) ||
      version != kBlockVersion) {
    fail("selfcheck.version is not " + std::to_string(kBlockVersion) + " (a newer or malformed block)");
    return Status::Ok();
  }
  if ((v = jsonu::Find(*block, "source"))) jsonu::AsString(*v, &report->source);
  double tol = 1e-4;
  if ((v = jsonu::Find(*block, "tolerance")) && (!jsonu::AsDouble(*v, &tol) || !(tol >= 0) || !std::isfinite(tol))) {
    fail("selfcheck.tolerance " + jsonu::Dump(*v) + " is not a number >= 0");
    return Status::Ok();
  }

  // 1. The preprocessing contract the model was trained with is the one this runtime implements.
  const int side = InputSide(info);
  {
    const json* p = jsonu::Find(*block, "preprocess");
    std::string name;
    int64_t ver = 0, size = 0;
    if (!p || !(v = jsonu::Find(*p, "name")) || !jsonu::AsString(*v, &name) || !(v = jsonu::Find(*p, "version")) ||
        !jsonu::AsInt64(*v, &ver) || !(v = jsonu::Find(*p, "size")) || !jsonu::AsInt64(*v, &size)) {
      fail("selfcheck.preprocess needs name, version and size");
    } else if (name != kPreprocessName || ver != kPreprocessVersion) {
      fail("preprocessing: the model was trained with " + name + " v" + std::to_string(ver) + ", this runtime implements " +
           kPreprocessName + " v" + std::to_string(kPreprocessVersion));
    } else if (side == 0 || size != side) {
      fail("preprocessing: selfcheck.preprocess.size " + std::to_string(size) + " but the model input is " +
           jsonu::Dump(json(info.input_shape)));
    } else {
      pass();
    }
  }

  // 2. Goldens: image -> preprocess() -> Run on the backend in use -> expected within tolerance.
  const json* goldens = jsonu::Find(*block, "goldens");
  if (!goldens || !goldens->is_array() || goldens->size() > kMaxGoldens) {
    fail("selfcheck.goldens must be an array of at most " + std::to_string(kMaxGoldens));
  } else {
    std::vector<float> in, out(model.output_size());
    for (size_t i = 0; i < goldens->size(); ++i) {
      ParsedGolden pg;
      std::string why;
      if (!ParseGolden((*goldens)[i], i, &pg, &why)) {
        fail(why);
        continue;
      }
      const std::string label = "golden '" + pg.g.name + "'";
      if (side == 0) {
        fail(label + ": the model input " + jsonu::Dump(json(info.input_shape)) + " is not a square gray image");
        continue;
      }
      Status s;
      if (!pg.pre_sha256.empty()) {
        const std::string got = PreprocessedHash(pg.g, side, &s);
        if (!s) { fail(label + ": " + s.message()); continue; }
        if (got != pg.pre_sha256) {
          fail(label + ": preprocessed pixels differ (sha256 " + got + ", expected " + pg.pre_sha256 + ")");
          continue;
        }
      }
      s = PreprocessGolden(pg.g, side, &in);
      if (!s) { fail(s.message()); continue; }
      if (pg.g.expected.size() != out.size()) {
        fail(label + ": " + std::to_string(pg.g.expected.size()) + " expected values, the model has " +
             std::to_string(out.size()) + " outputs");
        continue;
      }
      s = model.Run(in.data(), 1, out.data());
      if (!s) { fail(label + ": " + s.message()); continue; }
      bool ok = true;
      for (size_t k = 0; k < out.size() && ok; ++k) {
        if (!(std::fabs(double(out[k]) - double(pg.g.expected[k])) <= tol)) {
          fail(label + ": output[" + std::to_string(k) + "] expected " + Num(pg.g.expected[k]) + ", got " +
               Num(out[k]) + " (tolerance " + Num(tol) + ", backend " + BackendName(model.backend()) + ")");
          ok = false;
        }
      }
      if (ok) pass();
    }
  }

  // 3. Weight files: each shard's size and SHA-256 as recorded at export.
  const json* sh = jsonu::Find(*block, "shards");
  if (!sh || !sh->is_array()) {
    fail("selfcheck.shards must be an array");
  } else {
    if (sh->size() != paths.size())
      fail("selfcheck.shards lists " + std::to_string(sh->size()) + " shards, the manifest " +
           std::to_string(paths.size()));
    for (size_t i = 0; i < sh->size() && i < paths.size(); ++i) {
      const json& e = (*sh)[i];
      std::string path, want;
      int64_t size = -1;
      if (!(v = jsonu::Find(e, "path")) || !jsonu::AsString(*v, &path) || !(v = jsonu::Find(e, "sha256")) ||
          !jsonu::AsString(*v, &want) || !(v = jsonu::Find(e, "size")) || !jsonu::AsInt64(*v, &size)) {
        fail("selfcheck.shards[" + std::to_string(i) + "] needs path, size and sha256");
        continue;
      }
      if (path != paths[i]) {
        fail("selfcheck.shards[" + std::to_string(i) + "] is '" + path + "', the manifest says '" + paths[i] + "'");
        continue;
      }
      if (uint64_t(size) != shards[i].size) {
        fail("shard " + path + ": " + std::to_string(shards[i].size) + " bytes, expected " + std::to_string(size));
        continue;
      }
      const std::string got = Sha256::Hex(shards[i].data, shards[i].size);
      if (got != want) {
        fail("shard " + path + ": sha256 " + got + ", expected " + want);
        continue;
      }
      pass();
    }
  }
  return Status::Ok();
}

std::vector<SelfCheckGolden> DefaultSelfCheckGoldens(
    int S, const std::vector<std::pair<std::string, std::vector<uint8_t>>>& gray_photos, size_t max_photos) {
  std::vector<SelfCheckGolden> out;
  if (S < 1) return out;
  const size_t n = size_t(S) * size_t(S);
  for (const auto& p : gray_photos) {
    if (out.size() >= max_photos) break;
    if (p.second.size() != n) continue;
    SelfCheckGolden g;
    g.name = p.first;
    g.width = g.height = S;
    g.pixels = p.second;
    out.push_back(std::move(g));
  }
  // Deterministic patterns: a diagonal ramp with rings (smooth + edges), then xorshift noise.
  if (out.size() < 3) {
    SelfCheckGolden g;
    g.name = "pattern: ramp + rings";
    g.width = g.height = S;
    g.pixels.resize(n);
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x) {
        const int dx = x - S / 2, dy = y - S / 3;
        const int ring = ((dx * dx + dy * dy) / std::max(1, S)) % 2 ? 60 : 0;
        g.pixels[size_t(y) * size_t(S) + size_t(x)] = uint8_t(((x + y) * 180 / std::max(1, 2 * S - 2)) + ring);
      }
    out.push_back(std::move(g));
  }
  if (out.size() < 3) {
    SelfCheckGolden g;
    g.name = "pattern: xorshift32 noise, seed 2463534242";
    g.width = g.height = S;
    g.pixels.resize(n);
    uint32_t st = 2463534242u;
    for (auto& px : g.pixels) {
      st ^= st << 13; st ^= st >> 17; st ^= st << 5;
      px = uint8_t(st >> 24);
    }
    out.push_back(std::move(g));
  }
  // A small RGBA image (odd size, non-opaque alpha, saturated colours), center-cropped and upscaled:
  // covers the crop, the resize taps and the BT.601 weights, which gray goldens cannot.
  {
    SelfCheckGolden g;
    g.name = "rgba 23x17 colour bars, center-crop";
    g.format = PixelFormat::kRGBA8;
    g.fit = Fit::kCenterCrop;
    g.width = 23;
    g.height = 17;
    g.pixels.resize(size_t(g.width) * size_t(g.height) * 4);
    for (int y = 0; y < g.height; ++y)
      for (int x = 0; x < g.width; ++x) {
        uint8_t* p = &g.pixels[(size_t(y) * size_t(g.width) + size_t(x)) * 4];
        p[0] = uint8_t((x * 37 + y * 11) & 0xFF);
        p[1] = uint8_t(x % 4 < 2 ? 230 : 20);
        p[2] = uint8_t(y * 15);
        p[3] = uint8_t(128 + x);
      }
    out.push_back(std::move(g));
  }
  return out;
}

std::string MakeSelfCheckBlock(int side, const std::vector<SelfCheckGolden>& goldens,
                               const std::vector<std::string>& shard_paths, const std::vector<ShardBytes>& shards,
                               const std::string& source, double tolerance) {
  json gj = json::array();
  for (const SelfCheckGolden& g : goldens) {
    json e = tfjs::detail::GoldenJson(g);
    Status s;
    if (side > 0) {
      const std::string h = PreprocessedHash(g, side, &s);
      if (s) e["preprocessed_sha256"] = h;
    }
    gj.push_back(std::move(e));
  }
  json sj = json::array();
  for (size_t i = 0; i < shards.size() && i < shard_paths.size(); ++i)
    sj.push_back({{"path", shard_paths[i]}, {"size", shards[i].size}, {"sha256", Sha256::Hex(shards[i].data, shards[i].size)}});
  json block = {
      {"version", kBlockVersion},
      {"source", source},
      {"preprocess",
       {{"name", kPreprocessName},
        {"version", kPreprocessVersion},
        {"contract", "DESIGN contract 1: optional center square crop, area-average resize, "
                     "BT.601 luma (0.299 R + 0.587 G + 0.114 B), rounded to u8, then / 255"},
        {"size", side},
        {"channels", 1},
        {"scale", 1.0 / 255.0}}},
      {"tolerance", tolerance},
      {"goldens", gj},
      {"shards", sj},
  };
  return jsonu::Dump(block, std::string::npos);
}

Status SealSelfCheck(Model& model, const std::vector<ShardBytes>& shards, std::vector<SelfCheckGolden> goldens,
                     std::string* block_json) {
  const int side = InputSide(model.info());
  if (side == 0)
    return Status::Error("seal: the model input " + jsonu::Dump(json(model.info().input_shape)) +
                         " is not a square one-channel image");
  if (shards.size() != model.shard_paths().size())
    return Status::Error("seal: " + std::to_string(shards.size()) + " shard buffers for " +
                         std::to_string(model.shard_paths().size()) + " manifest paths");
  std::vector<float> in;
  for (SelfCheckGolden& g : goldens) {
    Status s = PreprocessGolden(g, side, &in);
    if (!s) return s;
    g.expected.assign(model.output_size(), 0.f);
    s = model.Run(in.data(), 1, g.expected.data());
    if (!s) return Status::Error("seal: golden '" + g.name + "': " + s.message());
  }
  *block_json = MakeSelfCheckBlock(side, goldens, model.shard_paths(), shards, "catdog-core");
  return Status::Ok();
}

}  // namespace catdog

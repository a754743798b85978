// Writes seed corpora for the fuzz targets (made at fuzz time; nothing binary is committed):
//   fuzz_seeds OUT_DIR [MODEL_DIR_OR_PARENT...]
//   OUT_DIR/pack/        tiny packs written by pack::WritePack, in fuzz_pack's input layout
//   OUT_DIR/model/       every single-shard model found (a folder with model.json, or folders of
//                        them, e.g. the conformance fixtures and web/models) in fuzz_model's layout
//   OUT_DIR/preprocess/  images of assorted sizes, strides and formats in fuzz_preprocess's layout
#include <zstd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fsutil.h"
#include "pack.h"

namespace stdfs = std::filesystem;

namespace {

// The project's file helpers; a file that cannot be read stops the seeding with its message.
std::vector<uint8_t> ReadAll(const stdfs::path& p) {
  std::vector<uint8_t> bytes;
  if (catdog::Status s = catdog::fs::ReadFile(p.string(), &bytes); !s) {
    std::fprintf(stderr, "fuzz_seeds: %s\n", s.message().c_str());
    std::exit(1);
  }
  return bytes;
}

bool WriteAll(const stdfs::path& p, const std::vector<uint8_t>& bytes) {
  return bool(catdog::fs::WriteFileAtomic(p.string(), bytes.data(), bytes.size()));
}

uint32_t Next(uint32_t* state) {  // xorshift32: deterministic pixels
  uint32_t x = *state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *state = x;
}

// One tiny pack -> three fuzz_pack inputs (verbatim, with fix-ups, raw shard + fix-ups).
bool PackSeeds(const stdfs::path& out, const std::string& name, int size, int records, uint32_t seed) {
  catdog::pack::Pack p;
  p.size = size;
  p.seed = seed;
  p.val_fraction = 0.25;
  p.sources = {"seeds"};
  for (int i = 0; i < records; ++i) {
    p.labels.push_back(uint8_t(i & 1));
    p.splits.push_back(uint8_t(i % 3));
    p.paths.push_back(std::string(i & 1 ? "Dog/" : "Cat/") + std::to_string(i) + ".jpg");
    for (int k = 0; k < size * size; ++k) p.pixels.push_back(uint8_t(Next(&seed) >> 24));
  }
  const stdfs::path dir = out / ("tmp-" + name);
  catdog::Status s = catdog::pack::WritePack(dir.string(), p);
  if (!s) {
    std::cerr << "fuzz_seeds: " << s.message() << "\n";
    return false;
  }
  std::vector<uint8_t> manifest = ReadAll(dir / "pack.json");
  std::vector<uint8_t> shard = ReadAll(dir / p.shards.at(0).file);
  std::vector<uint8_t> raw(p.shards[0].raw_bytes);
  if (ZSTD_isError(ZSTD_decompress(raw.data(), raw.size(), shard.data(), shard.size()))) return false;
  stdfs::remove_all(dir);
  if (manifest.size() > 0xFFFF) return false;
  auto input = [&](uint8_t flags, const std::vector<uint8_t>& body) {
    std::vector<uint8_t> in = {flags, uint8_t(manifest.size()), uint8_t(manifest.size() >> 8)};
    in.insert(in.end(), manifest.begin(), manifest.end());
    in.insert(in.end(), body.begin(), body.end());
    return in;
  };
  return WriteAll(out / "pack" / (name + "-0"), input(0, shard)) && WriteAll(out / "pack" / (name + "-2"), input(2, shard)) &&
         WriteAll(out / "pack" / (name + "-3"), input(3, raw));
}

int ModelSeeds(const stdfs::path& out, const stdfs::path& dir) {
  std::error_code ec;
  if (!stdfs::exists(dir / "model.json", ec)) {
    int n = 0;
    std::vector<stdfs::path> subs;
    for (const auto& e : stdfs::directory_iterator(dir, ec))
      if (e.is_directory()) subs.push_back(e.path());
    std::sort(subs.begin(), subs.end());
    for (const auto& sub : subs)
      if (stdfs::exists(sub / "model.json", ec)) n += ModelSeeds(out, sub);
    return n;
  }
  std::vector<uint8_t> json = ReadAll(dir / "model.json");
  nlohmann::json m = nlohmann::json::parse(json.begin(), json.end(), nullptr, false);
  std::vector<std::string> paths;
  if (m.is_object() && m.contains("weightsManifest") && m["weightsManifest"].is_array())
    for (const auto& group : m["weightsManifest"])
      if (group.contains("paths") && group["paths"].is_array())
        for (const auto& p : group["paths"])
          if (p.is_string()) paths.push_back(p.get<std::string>());
  if (paths.size() > 1) return 0;  // fuzz_model gives every shard the same bytes
  std::vector<uint8_t> in(4);
  const uint32_t len = uint32_t(json.size());
  for (int i = 0; i < 4; ++i) in[i] = uint8_t(len >> (8 * i));
  in.insert(in.end(), json.begin(), json.end());
  if (paths.size() == 1) {
    std::vector<uint8_t> shard = ReadAll(dir / paths[0]);
    in.insert(in.end(), shard.begin(), shard.end());
  }
  return WriteAll(out / "model" / (dir.parent_path().filename().string() + "-" + dir.filename().string()), in) ? 1 : 0;
}

// Hand-made hostile model.json shapes that mutation from the real models never
// reaches: nesting far past the core's 128-level limit in the fields the loader reads, shard
// paths that leave the folder or repeat, long names. A Dense(1) on 3 inputs, 16 bytes of weights.
int HostileModelSeeds(const stdfs::path& out) {
  const std::string deep_small = std::string(200, '[') + std::string(200, ']');
  const std::string deep_big = std::string(100000, '[') + std::string(100000, ']');
  auto doc = [](const std::string& paths, const std::string& shape, const std::string& meta) {
    return std::string(R"({"format":"layers-model","modelTopology":{"class_name":"Sequential","config":{"name":"s","layers":[)") +
           R"({"class_name":"Dense","config":{"name":"d","units":1,"activation":"linear","batch_input_shape":[null,3]}}]}},)" +
           R"("userDefinedMetadata":)" + meta + R"(,"weightsManifest":[{"paths":)" + paths +
           R"(,"weights":[{"name":"d/kernel","shape":)" + shape + R"(,"dtype":"float32"},{"name":"d/bias","shape":[1],"dtype":"float32"}]}]})";
  };
  const std::string ok_paths = R"(["w.bin"])", ok_shape = "[3,1]", ok_meta = R"({"catdog":{"calibration":{"temperature":1.5}}})";
  const std::vector<std::pair<std::string, std::string>> seeds = {
      {"valid", doc(ok_paths, ok_shape, ok_meta)},
      {"deep-meta", doc(ok_paths, ok_shape, R"({"x":)" + deep_small + "}")},
      {"deep-meta-100k", doc(ok_paths, ok_shape, R"({"x":)" + deep_big + "}")},
      {"deep-temperature", doc(ok_paths, ok_shape, R"({"catdog":{"calibration":{"temperature":)" + deep_small + "}}}")},
      {"deep-path", doc("[" + deep_small + "]", ok_shape, ok_meta)},
      {"deep-shape", doc(ok_paths, deep_small, ok_meta)},
      {"deep-shape-100k", doc(ok_paths, deep_big, ok_meta)},
      {"traversal", doc(R"(["../../../../etc/passwd"])", ok_shape, ok_meta)},
      {"absolute", doc(R"(["/etc/passwd"])", ok_shape, ok_meta)},
      {"encoded", doc(R"(["%2e%2e/w.bin","..\\w.bin"])", ok_shape, ok_meta)},
      {"duplicate", doc(R"(["w.bin","./w.bin","sub/../w.bin"])", ok_shape, ok_meta)},
      {"long-name", doc("[\"" + std::string(2000, 'n') + "\"]", ok_shape, ok_meta)},
  };
  int n = 0;
  for (const auto& [name, json] : seeds) {
    std::vector<uint8_t> in(4);
    const uint32_t len = uint32_t(json.size());
    for (int i = 0; i < 4; ++i) in[i] = uint8_t(len >> (8 * i));
    in.insert(in.end(), json.begin(), json.end());
    in.resize(in.size() + 16, 0);  // the weights: zeros
    if (!WriteAll(out / "model" / ("hostile-" + name), in)) return -1;
    ++n;
  }
  return n;
}

bool PreprocessSeeds(const stdfs::path& out) {
  struct G { uint16_t w, h, pad; uint8_t format, fit, out; };
  const G geometries[] = {{1, 1, 0, 0, 0, 1}, {4, 3, 0, 1, 0, 2}, {7, 5, 3, 2, 1, 4}, {16, 9, 1, 1, 1, 8},
                          {9, 16, 0, 0, 1, 100}, {33, 2, 5, 2, 0, 3}, {2, 40, 0, 1, 1, 16}};
  uint32_t seed = 12345;
  int k = 0;
  for (const G& g : geometries) {
    const int bpp = g.format == 0 ? 1 : g.format == 1 ? 3 : 4;
    std::vector<uint8_t> in = {uint8_t(g.w), uint8_t(g.w >> 8), uint8_t(g.h), uint8_t(g.h >> 8), uint8_t(g.pad), uint8_t(g.pad >> 8),
                               g.format, g.fit, g.out};
    for (size_t i = 0; i < (size_t(g.w) * bpp + g.pad) * g.h; ++i) in.push_back(uint8_t(Next(&seed) >> 24));
    if (!WriteAll(out / "preprocess" / ("image" + std::to_string(k++)), in)) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: fuzz_seeds OUT_DIR [MODEL_DIR_OR_PARENT...]\n";
    return 2;
  }
  const stdfs::path out = argv[1];
  for (const char* sub : {"pack", "model", "preprocess"}) stdfs::create_directories(out / sub);
  bool ok = PackSeeds(out, "p4x3", 4, 3, 7) && PackSeeds(out, "p1x1", 1, 1, 9) && PackSeeds(out, "p8x6", 8, 6, 11) &&
            PackSeeds(out, "empty", 2, 0, 13) && PreprocessSeeds(out);
  int models = HostileModelSeeds(out);
  ok = ok && models >= 0;
  for (int i = 2; i < argc; ++i) {
    if (!stdfs::is_directory(argv[i])) {
      std::cerr << "fuzz_seeds: " << argv[i] << ": not a directory\n";
      return 2;
    }
    models += ModelSeeds(out, argv[i]);
  }
  if (!ok) {
    std::cerr << "fuzz_seeds: writing the seeds under " << out << " failed\n";
    return 1;
  }
  std::cout << "fuzz_seeds: 12 pack, 7 preprocess, " << models << " model seeds in " << out << "\n";
  return 0;
}

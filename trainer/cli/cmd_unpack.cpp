// `catdog unpack`: writes a pack's images and labels as NumPy .npy arrays, one pair per split,
// so Python tools (the PyTorch reference trainer in bench/, notebooks) read exactly the pixels
// catdog trains on.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "commands.h"
#include "fsutil.h"
#include "pack.h"

namespace catdog::cli {
namespace {

// NumPy format 1.0: magic, version, little-endian header length, a Python dict literal padded
// with spaces and a newline so the data starts on a 64-byte boundary.
std::string NpyHeader(const std::vector<size_t>& shape) {
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i) dims += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
  std::string dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (" + dims + "), }";
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::string h = "\x93NUMPY";
  h += char(1); h += char(0);
  uint16_t len = static_cast<uint16_t>(dict.size());
  h += char(len & 0xff); h += char(len >> 8);
  return h + dict;
}

Status WriteNpy(const std::string& path, const std::vector<size_t>& shape, const std::vector<uint8_t>& data) {
  std::string bytes = NpyHeader(shape);
  bytes.append(reinterpret_cast<const char*>(data.data()), data.size());
  return fs::WriteFileAtomic(path, bytes);
}

}  // namespace

void RegisterUnpack(CLI::App& app) {
  auto* cmd = app.add_subcommand("unpack", "Write a pack's splits as NumPy arrays x_<split>.npy (uint8 N,S,S) and y_<split>.npy");
  static std::string pack_dir, out_dir;
  cmd->add_option("--pack", pack_dir, "Pack directory (catdog prepare --out)")->required();
  cmd->add_option("--out", out_dir, "Output directory")->required();
  cmd->callback([] {
    pack::Pack p;
    Status s = pack::ReadPack(pack_dir, &p);
    if (!s) { spdlog::error("{}", s.message()); ExitCode() = kExitBadInput; return; }
    const size_t px = size_t(p.size) * p.size;
    for (pack::Split split : {pack::kTrain, pack::kVal, pack::kTest}) {
      std::vector<size_t> idx = p.Indices(split);
      if (idx.empty()) continue;
      std::vector<uint8_t> x(idx.size() * px), y(idx.size());
      for (size_t k = 0; k < idx.size(); ++k) {
        std::memcpy(x.data() + k * px, p.image(idx[k]), px);
        y[k] = p.labels[idx[k]];
      }
      std::string name = pack::SplitName(split);
      std::string xp = (std::filesystem::path(out_dir) / ("x_" + name + ".npy")).string();
      std::string yp = (std::filesystem::path(out_dir) / ("y_" + name + ".npy")).string();
      s = WriteNpy(xp, {idx.size(), size_t(p.size), size_t(p.size)}, x);
      if (s) s = WriteNpy(yp, {idx.size()}, y);
      if (!s) { spdlog::error("{}", s.message()); ExitCode() = kExitFailure; return; }
      spdlog::info("{}: {} images -> {}", name, idx.size(), xp);
    }
  });
}

}  // namespace catdog::cli

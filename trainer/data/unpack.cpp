#include "unpack.h"

#include <cstdint>
#include <cstring>
#include <filesystem>

#include "fsutil.h"

namespace catdog::pack {
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

Status UnpackToNpy(const Pack& p, const std::string& out_dir, std::vector<UnpackedSplit>* written) {
  written->clear();
  const size_t px = size_t(p.size) * p.size;
  for (Split split : {kTrain, kVal, kTest}) {
    std::vector<size_t> idx = p.Indices(split);
    if (idx.empty()) continue;
    std::vector<uint8_t> x(idx.size() * px), y(idx.size());
    for (size_t k = 0; k < idx.size(); ++k) {
      std::memcpy(x.data() + k * px, p.image(idx[k]), px);
      y[k] = p.labels[idx[k]];
    }
    std::string name = SplitName(split);
    std::string xp = (std::filesystem::path(out_dir) / ("x_" + name + ".npy")).string();
    std::string yp = (std::filesystem::path(out_dir) / ("y_" + name + ".npy")).string();
    Status s = WriteNpy(xp, {idx.size(), size_t(p.size), size_t(p.size)}, x);
    if (s) s = WriteNpy(yp, {idx.size()}, y);
    // Which photo each row is: its source path (relative to the --images folder it came from), one
    // per line, as the JSON string prepare's report uses (non-UTF-8 bytes escaped, fsutil.h).
    if (s && p.paths.size() == p.count()) {
      std::string lines;
      for (size_t k : idx) {
        std::string line = fs::JsonSafeName(p.paths[k]);
        for (char& c : line)
          if (c == '\n' || c == '\r') c = '?';
        lines += line + "\n";
      }
      s = fs::WriteFileAtomic((std::filesystem::path(out_dir) / ("paths_" + name + ".txt")).string(), lines);
    }
    if (!s) return s;
    written->push_back({name, idx.size(), xp});
  }
  return Status::Ok();
}

}  // namespace catdog::pack

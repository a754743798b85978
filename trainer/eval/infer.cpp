#include "infer.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "catdog/catdog.h"
#include "exit_codes.h"
#include "fsutil.h"
#include "seal.h"

namespace catdog::cli {
namespace {

// "1,100,100,1" -> {1,100,100,1}; every entry a positive integer.
Status ParseShape(const std::string& text, std::vector<int64_t>* out) {
  out->clear();
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    int64_t v = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size() || v < 1)
      return Status::Error("--shape '" + text + "': '" + item + "' is not a positive integer");
    out->push_back(v);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (out->size() < 2) return Status::Error("--shape '" + text + "': expected the batch and at least one more dimension, e.g. 1,100,100,1");
  return Status::Ok();
}

void AppendFloat(std::string* s, float v) {
  if (!std::isfinite(v)) {  // JSON has no NaN/Inf
    *s += "null";
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) {
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v));
    *s += buf;
    return;
  }
  s->append(buf, end);
}

// Errors go to stderr: stdout carries only the JSON result (spdlog's default logger writes to stdout).
int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return code;
}

}  // namespace

int RunInfer(const InferOptions& o) {
  LoadOptions lo;
  if (!ParseBackend(o.backend, &lo.backend)) {
    spdlog::error("--backend '{}': must be reference, simd, xnnpack or auto", o.backend);
    return kExitBadInput;
  }
  lo.threads = o.threads;
  for (const std::string& a : o.layer_aliases)
    if (Status as = ParseLayerAlias(a, &lo); !as) return Fail(kExitBadInput, as.message());

  std::vector<int64_t> shape;
  Status s = ParseShape(o.shape, &shape);
  if (!s) return Fail(kExitBadInput, s.message());
  uint64_t count = 1;
  for (int64_t d : shape) {
    if (__builtin_mul_overflow(count, static_cast<uint64_t>(d), &count) || count > (uint64_t(1) << 32))
      return Fail(kExitBadInput, fmt::format("--shape '{}': too many values", o.shape));
  }
  if (shape[0] > std::numeric_limits<int>::max())
    return Fail(kExitBadInput, fmt::format("--shape '{}': batch {} is too large", o.shape, shape[0]));

  std::error_code ec;
  const uint64_t file_size = std::filesystem::is_regular_file(o.input, ec) ? std::filesystem::file_size(o.input, ec) : 0;
  if (!ec && std::filesystem::is_regular_file(o.input, ec) && file_size != count * 4)
    return Fail(kExitBadInput, fmt::format("{}: holds {} bytes, but --shape {} needs {} float32 values = {} bytes", o.input,
                                           file_size, o.shape, count, count * 4));
  std::vector<uint8_t> bytes;
  s = fs::ReadFile(o.input, &bytes, count * 4);
  if (!s) return Fail(kExitBadInput, s.message());
  if (bytes.size() != count * 4)  // the file changed size since it was checked above
    return Fail(kExitBadInput, fmt::format("{}: holds {} bytes, but --shape {} needs {} float32 values = {} bytes", o.input,
                                           bytes.size(), o.shape, count, count * 4));

  std::unique_ptr<Model> model;
  SelfCheckReport check;
  s = o.selfcheck == "off" ? fs::LoadModelDir(o.model, lo, &model) : LoadModelDirChecked(o.model, lo, &model, &check);
  if (!s) return Fail(kExitBadInput, s.message());
  const bool check_failed = check.present && !check.verified();
  if (o.selfcheck != "off") {
    if (check_failed) spdlog::warn("{}: {}", o.model, check.Summary());
    else spdlog::info("{}: {}", o.model, check.Summary());
  }
  s = model->CheckInputShape(shape);
  if (!s) return Fail(kExitBadInput, s.message());
  spdlog::debug("model {}: backend {}, {} weights", o.model, BackendName(model->backend()), model->info().num_weights);
  for (const std::string& line : model->info().layer_summary) spdlog::debug("  {}", line);

  // Raw little-endian float32, independent of the host's byte order.
  std::vector<float> input(count);
  for (size_t i = 0; i < input.size(); ++i) {
    const uint8_t* p = bytes.data() + 4 * i;
    uint32_t bits = uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
    std::memcpy(&input[i], &bits, 4);
  }
  // A NaN or infinite value is the input file's fault (bad input, exit 2), named by its index.
  for (size_t i = 0; i < input.size(); ++i)
    if (!std::isfinite(input[i]))
      return Fail(kExitBadInput, fmt::format("{}: value {} (sample {}, index {}) is {}: the input must be finite", o.input, i,
                                             i / model->input_size(), i % model->input_size(), input[i]));
  const int batch = static_cast<int>(shape[0]);
  std::vector<float> output(model->output_size() * static_cast<size_t>(batch));
  s = model->Run(input.data(), batch, output.data());
  if (!s) return Fail(kExitFailure, s.message());

  std::string js = "{\"shape\":[" + std::to_string(batch);
  for (int64_t d : model->info().output_shape) js += "," + std::to_string(d);
  js += "],\"output\":[";
  for (size_t i = 0; i < output.size(); ++i) {
    if (i) js += ',';
    AppendFloat(&js, output[i]);
  }
  js += "]";
  if (o.selfcheck != "off" && check.present)
    js += ",\"selfcheck\":" + nlohmann::json({{"verified", check.verified()}, {"passed", check.passed},
                                                {"total", check.total}, {"summary", check.Summary()}})
                                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  js += "}\n";
  std::fwrite(js.data(), 1, js.size(), stdout);
  std::fflush(stdout);
  return check_failed && o.selfcheck == "fail" ? kExitSelfCheck : kExitOk;
}

}  // namespace catdog::cli

// libFuzzer target: model.json parsing + weight loading + one run.
// Input layout: [u32 little-endian json length][json bytes][shard bytes]. Every shard the manifest
// names gets the same bytes (so multi-shard models are reachable too).
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "catdog/catdog.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  uint32_t json_len;
  std::memcpy(&json_len, data, 4);
  if (json_len > size - 4) return 0;
  std::string_view json(reinterpret_cast<const char*>(data + 4), json_len);
  const uint8_t* shard = data + 4 + json_len;
  size_t shard_size = size - 4 - json_len;

  catdog::LoadOptions opt;
  opt.backend = catdog::Backend::kReference;
  opt.max_total_bytes = 64ull << 20;  // keep each run cheap; the cap itself is under test
  std::unique_ptr<catdog::Model> model;
  if (!catdog::Model::Parse(json, &model, opt, "fuzz.json")) return 0;
  std::vector<catdog::ShardBytes> shards(model->shard_paths().size(), catdog::ShardBytes{shard, shard_size});
  if (!model->LoadWeights(shards)) return 0;
  const size_t in = model->input_size(), out = model->output_size();
  if (in == 0 || in > (4u << 20) || out > (4u << 20)) return 0;
  std::vector<float> x(in, 0.5f), y(out);
  (void)model->Run(x.data(), 1, y.data());
  return 0;
}

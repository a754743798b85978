// Model loading and running: formats, every error the loader must report (each with its own
// message naming the file / layer / value), and the no-allocation-after-warm-up promise of Run.
// Models are built here as JSON; the conformance suite checks numbers against real TF.js.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catdog/catdog.h"
#include "weights.h"

// ---- allocation counter (for the "Run allocates nothing after warm-up" test) ----------------------
static std::atomic<long> g_allocs{0};
void* operator new(std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  std::abort();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using nlohmann::json;
using catdog::Backend;
using catdog::LoadOptions;
using catdog::Model;
using catdog::ShardBytes;
using catdog::Status;

std::vector<uint8_t> Bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

json Layer(const std::string& cls, json config) {
  return json{{"class_name", cls}, {"config", std::move(config)}};
}

// Sequential: Dense(2, relu) on 3 inputs, then Dense(1). Weights named like tfjs-layers.
json DenseTopology() {
  return json{{"class_name", "Sequential"},
              {"config",
               {{"name", "seq"},
                {"layers",
                 {Layer("Dense", {{"name", "d1"}, {"units", 2}, {"activation", "relu"}, {"batch_input_shape", {nullptr, 3}}}),
                  Layer("Dense", {{"name", "d2"}, {"units", 1}, {"activation", "linear"}})}}}}};
}

json DenseManifest(const std::string& prefix = "") {
  return json::array({{{"paths", {"group1-shard1of1.bin"}},
                       {"weights",
                        {{{"name", prefix + "d1/kernel"}, {"shape", {3, 2}}, {"dtype", "float32"}},
                         {{"name", prefix + "d1/bias"}, {"shape", {2}}, {"dtype", "float32"}},
                         {{"name", prefix + "d2/kernel"}, {"shape", {2, 1}}, {"dtype", "float32"}},
                         {{"name", prefix + "d2/bias"}, {"shape", {1}}, {"dtype", "float32"}}}}}});
}

// kernel1 [3,2], bias1 [2], kernel2 [2,1], bias2 [1]
const std::vector<float> kDenseWeights = {1, -1, 2, 0.5f, -1, 1, 0.1f, -0.2f, 2, -3, 0.25f};

// Hand computation of the dense model.
std::vector<float> DenseExpected(const std::vector<float>& x) {
  const float* w = kDenseWeights.data();
  float h[2];
  for (int j = 0; j < 2; ++j) {
    float a = w[6 + j];
    for (int i = 0; i < 3; ++i) a += x[i] * w[i * 2 + j];
    h[j] = std::max(a, 0.f);
  }
  return {h[0] * w[8] + h[1] * w[9] + w[10]};
}

json Doc(json topology, json manifest) {
  return json{{"format", "layers-model"}, {"generatedBy", "test"}, {"convertedBy", nullptr},
              {"modelTopology", std::move(topology)}, {"weightsManifest", std::move(manifest)}};
}

Status ParseOnly(const std::string& text, std::unique_ptr<Model>* m, LoadOptions opt = {}) {
  opt.backend = Backend::kReference;
  return Model::Parse(text, m, opt, "test/model.json");
}

Status Load(const std::string& text, const std::vector<std::vector<uint8_t>>& shards, std::unique_ptr<Model>* m,
            LoadOptions opt = {}) {
  Status s = ParseOnly(text, m, opt);
  if (!s) return s;
  std::vector<ShardBytes> sb;
  for (const auto& b : shards) sb.push_back({b.data(), b.size()});
  return (*m)->LoadWeights(sb);
}

void ExpectError(const Status& s, std::initializer_list<const char*> parts) {
  ASSERT_FALSE(s.ok()) << "expected an error";
  for (const char* p : parts) EXPECT_NE(s.message().find(p), std::string::npos) << "message lacks '" << p << "': " << s.message();
}

// ---- happy paths ---------------------------------------------------------------------------------

TEST(Model, DenseRunsAndMatchesHandComputation) {
  std::unique_ptr<Model> m;
  Status s = Load(Doc(DenseTopology(), DenseManifest()).dump(), {Bytes(kDenseWeights)}, &m);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(m->input_size(), 3u);
  EXPECT_EQ(m->output_size(), 1u);
  EXPECT_EQ(m->info().input_shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(m->info().output_shape, (std::vector<int64_t>{1}));
  EXPECT_EQ(m->info().num_weights, kDenseWeights.size());
  EXPECT_EQ(m->info().format, "layers-model");
  ASSERT_EQ(m->info().layer_summary.size(), 3u);  // synthesized input + 2 dense
  EXPECT_NE(m->info().layer_summary[1].find("d1 (Dense) -> [2]"), std::string::npos) << m->info().layer_summary[1];
  std::vector<float> x = {0.5f, -2.f, 1.5f, 3.f, 1.f, -1.f};
  std::vector<float> y(2);
  ASSERT_TRUE(m->Run(x.data(), 2, y.data()).ok());
  EXPECT_NEAR(y[0], DenseExpected({x[0], x[1], x[2]})[0], 1e-6);
  EXPECT_NEAR(y[1], DenseExpected({x[3], x[4], x[5]})[0], 1e-6);
}

// Structured per-layer info (catdog.h LayerInfo): shapes, weight counts and multiply-adds as
// model.json describes the layers, the same on a backend that fuses the conv with its pool.
TEST(Model, LayerInfoGivesShapesWeightsAndMacsBeforeFusion) {
  json topo = {{"class_name", "Sequential"},
               {"config",
                {{"name", "s"},
                 {"layers",
                  {Layer("Conv2D", {{"name", "c"}, {"filters", 4}, {"kernel_size", {3, 3}}, {"activation", "relu"},
                                    {"batch_input_shape", {nullptr, 6, 6, 1}}}),
                   Layer("MaxPooling2D", {{"name", "p"}, {"pool_size", {2, 2}}}),
                   Layer("Flatten", {{"name", "f"}}),
                   Layer("Dense", {{"name", "d"}, {"units", 1}, {"activation", "sigmoid"}})}}}}};
  json manifest = json::array({{{"paths", {"w.bin"}},
                                {"weights",
                                 {{{"name", "c/kernel"}, {"shape", {3, 3, 1, 4}}, {"dtype", "float32"}},
                                  {{"name", "c/bias"}, {"shape", {4}}, {"dtype", "float32"}},
                                  {{"name", "d/kernel"}, {"shape", {16, 1}}, {"dtype", "float32"}},
                                  {{"name", "d/bias"}, {"shape", {1}}, {"dtype", "float32"}}}}}});
  for (Backend b : {Backend::kReference, Backend::kSimd}) {
    if (!catdog::BackendAvailable(b)) continue;
    LoadOptions opt;
    opt.backend = b;
    std::unique_ptr<Model> m;
    Status s = Load(Doc(topo, manifest).dump(), {Bytes(std::vector<float>(57, 0.1f))}, &m, opt);
    ASSERT_TRUE(s.ok()) << s.message();
    const auto& layers = m->info().layers;
    ASSERT_EQ(layers.size(), 5u) << catdog::BackendName(b);  // synthesized input + 4
    EXPECT_EQ(layers[1].name, "c");
    EXPECT_EQ(layers[1].class_name, "Conv2D");
    EXPECT_EQ(layers[1].input_shapes, (std::vector<std::vector<int64_t>>{{6, 6, 1}}));
    EXPECT_EQ(layers[1].output_shape, (std::vector<int64_t>{4, 4, 4})) << catdog::BackendName(b);
    EXPECT_EQ(layers[1].weight_count, 40u);
    EXPECT_EQ(layers[1].macs, 3u * 3 * 1 * 4 * 4 * 4);
    EXPECT_EQ(layers[2].class_name, "MaxPooling2D");
    EXPECT_EQ(layers[2].output_shape, (std::vector<int64_t>{2, 2, 4}));
    EXPECT_EQ(layers[2].macs, 0u);
    EXPECT_EQ(layers[4].weight_count, 17u);
    EXPECT_EQ(layers[4].macs, 16u);
    EXPECT_EQ(m->info().macs, 576u + 16u);
  }
}

TEST(Model, Keras3DialectWithPrefixedWeightsAndDTypePolicy) {
  json policy = {{"module", "keras"}, {"class_name", "DTypePolicy"}, {"config", {{"name", "float32"}}}, {"registered_name", nullptr}};
  json topo = {{"class_name", "Sequential"}, {"module", "keras"}, {"registered_name", nullptr},
               {"config",
                {{"name", "sequential"},
                 {"dtype", policy},
                 {"layers",
                  {{{"module", "keras.layers"}, {"class_name", "InputLayer"}, {"registered_name", nullptr},
                    {"config", {{"batch_shape", {nullptr, 3}}, {"dtype", "float32"}, {"sparse", false}, {"name", "input_layer"}}}},
                   {{"module", "keras.layers"}, {"class_name", "Dense"}, {"registered_name", nullptr},
                    {"build_config", {{"input_shape", {nullptr, 3}}}},
                    {"config", {{"name", "d1"}, {"units", 2}, {"dtype", policy},
                                {"activation", {{"module", "keras.activations"}, {"class_name", "function"}, {"config", "relu"}, {"registered_name", "function"}}}}}},
                   {{"module", "keras.layers"}, {"class_name", "Dense"}, {"registered_name", nullptr},
                    {"config", {{"name", "d2"}, {"units", 1}, {"dtype", policy}, {"activation", "linear"}}}}}}}},
               {"build_config", {{"input_shape", {nullptr, 3}}}}};
  std::unique_ptr<Model> m;
  Status s = Load(Doc(topo, DenseManifest("sequential/")).dump(), {Bytes(kDenseWeights)}, &m);
  ASSERT_TRUE(s.ok()) << s.message();
  std::vector<float> x = {1.f, 2.f, -0.5f}, y(1);
  ASSERT_TRUE(m->Run(x.data(), 1, y.data()).ok());
  EXPECT_NEAR(y[0], DenseExpected(x)[0], 1e-6);
}

TEST(Model, OldFileWithModelConfigWrapperAndSplitShards) {
  json topo = {{"keras_version", "2.1.6"}, {"backend", "tensorflow"}, {"model_config", DenseTopology()}};
  json manifest = DenseManifest();
  manifest[0]["paths"] = {"group1-shard1of2", "group1-shard2of2"};
  json doc = {{"modelTopology", topo}, {"weightsManifest", manifest}};  // no format / generatedBy
  std::vector<uint8_t> all = Bytes(kDenseWeights);
  std::vector<uint8_t> a(all.begin(), all.begin() + 7), b(all.begin() + 7, all.end());  // a weight straddles
  std::unique_ptr<Model> m;
  Status s = Load(doc.dump(), {a, b}, &m);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(m->shard_paths(), (std::vector<std::string>{"group1-shard1of2", "group1-shard2of2"}));
  EXPECT_EQ(m->info().format, "");
  std::vector<float> x = {1.f, 2.f, -0.5f}, y(1);
  ASSERT_TRUE(m->Run(x.data(), 1, y.data()).ok());
  EXPECT_NEAR(y[0], DenseExpected(x)[0], 1e-6);
}

TEST(Model, QuantizedWeightsAreDequantizedAtLoad) {
  // d1/kernel uint8, d1/bias uint16 (newer form with original_dtype), d2/kernel float16, d2/bias f32.
  json manifest = DenseManifest();
  auto& w = manifest[0]["weights"];
  w[0]["quantization"] = {{"dtype", "uint8"}, {"min", -1.0}, {"scale", 0.5}};
  w[1]["quantization"] = {{"dtype", "uint16"}, {"min", 0.25}, {"scale", 0.001}, {"original_dtype", "float32"}};
  w[2]["quantization"] = {{"dtype", "float16"}};
  std::vector<uint8_t> bytes = {4, 0, 2, 3, 1, 6};      // kernel1 = -1 + 0.5 q = {1,-1,0,0.5,-0.5,2}
  for (uint16_t q : {100, 1000}) bytes.insert(bytes.end(), {uint8_t(q & 255), uint8_t(q >> 8)});  // bias1 {0.35, 1.25}
  for (uint16_t h : {0x4000, 0xB800}) bytes.insert(bytes.end(), {uint8_t(h & 255), uint8_t(h >> 8)});  // {2, -0.5}
  float b2 = 0.125f;
  bytes.insert(bytes.end(), reinterpret_cast<uint8_t*>(&b2), reinterpret_cast<uint8_t*>(&b2) + 4);
  std::unique_ptr<Model> m;
  Status s = Load(Doc(DenseTopology(), manifest).dump(), {bytes}, &m);
  ASSERT_TRUE(s.ok()) << s.message();
  std::vector<float> x = {1.f, 1.f, 1.f}, y(1);
  ASSERT_TRUE(m->Run(x.data(), 1, y.data()).ok());
  // h = relu([1-0.5+0.35... ]): column 0 = 1 + 0 - 0.5 + 0.35 = 0.85, column 1 = -1 + 0.5 + 2 + 1.25 = 2.75
  EXPECT_NEAR(y[0], 0.85f * 2.f + 2.75f * -0.5f + 0.125f, 1e-5);
}

TEST(Weights, HalfToFloat) {
  using catdog::detail::HalfToFloat;
  EXPECT_EQ(HalfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xC000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x7BFF), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(HalfToFloat(0x03FF), std::ldexp(1023.0f, -24));
  EXPECT_TRUE(std::isinf(HalfToFloat(0x7C00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7E00)));
  EXPECT_TRUE(std::signbit(HalfToFloat(0x8000)));
}

TEST(Model, FunctionalGraphInAnyLayerOrder) {
  // x -> a(Dense 2) ; x -> b(Dense 2) ; add(a, b) -> out. Layers listed out of order on purpose.
  auto dense = [](const char* name, const char* from) {
    return json{{"class_name", "Dense"}, {"name", name}, {"config", {{"name", name}, {"units", 2}}},
                {"inbound_nodes", {{{from, 0, 0, json::object()}}}}};
  };
  json layers = {{{"class_name", "Add"}, {"name", "sum"}, {"config", {{"name", "sum"}}},
                  {"inbound_nodes", {{{"a", 0, 0, json::object()}, {"b", 0, 0, json::object()}}}}},
                 dense("a", "x"), dense("b", "x"),
                 {{"class_name", "InputLayer"}, {"name", "x"}, {"config", {{"name", "x"}, {"batch_input_shape", {nullptr, 2}}}},
                  {"inbound_nodes", json::array()}}};
  json topo = {{"class_name", "Model"},
               {"config", {{"name", "m"}, {"layers", layers}, {"input_layers", {{"x", 0, 0}}}, {"output_layers", {{"sum", 0, 0}}}}}};
  json manifest = json::array({{{"paths", {"w.bin"}},
                                {"weights",
                                 {{{"name", "a/kernel"}, {"shape", {2, 2}}}, {{"name", "a/bias"}, {"shape", {2}}},
                                  {{"name", "b/kernel"}, {"shape", {2, 2}}}, {{"name", "b/bias"}, {"shape", {2}}}}}}});
  std::vector<float> w = {1, 0, 0, 1, 0.5f, 0.5f, 2, 0, 0, 2, -1, -1};
  std::unique_ptr<Model> m;
  Status s = Load(Doc(topo, manifest).dump(), {Bytes(w)}, &m);
  ASSERT_TRUE(s.ok()) << s.message();
  std::vector<float> x = {1.f, 3.f}, y(2);
  ASSERT_TRUE(m->Run(x.data(), 1, y.data()).ok());
  EXPECT_FLOAT_EQ(y[0], 1.5f + 1.f);  // (1 + 0.5) + (2 - 1)
  EXPECT_FLOAT_EQ(y[1], 3.5f + 5.f);  // (3 + 0.5) + (6 - 1)
}

TEST(Model, KerasReLUWithNegativeSlopeThresholdAndMaxValue) {
  // Keras: x >= max_value -> max_value; threshold <= x < max_value -> x; else slope * (x - threshold).
  json topo = {{"class_name", "Sequential"},
               {"config", {{"name", "s"}, {"layers", {Layer("ReLU", {{"name", "r"}, {"max_value", 2.0}, {"negative_slope", 0.5},
                                                                      {"threshold", 1.0}, {"batch_input_shape", {nullptr, 5}}}),
                                                      Layer("LeakyReLU", {{"name", "l"}, {"negative_slope", 0.1}})}}}}};
  std::unique_ptr<Model> m;
  Status s = Load(Doc(topo, json::array()).dump(), {}, &m);
  ASSERT_TRUE(s.ok()) << s.message();
  std::vector<float> x = {-3.f, 0.f, 1.f, 1.5f, 7.f}, y(5);
  ASSERT_TRUE(m->Run(x.data(), 1, y.data()).ok());
  // ReLU: {-2, -0.5, 1, 1.5, 2}; then LeakyReLU(0.1): {-0.2, -0.05, 1, 1.5, 2}
  const std::vector<float> want = {-0.2f, -0.05f, 1.f, 1.5f, 2.f};
  for (size_t i = 0; i < 5; ++i) EXPECT_FLOAT_EQ(y[i], want[i]) << i;
}

TEST(Model, Keras2FunctionalWithNestedSequentialCalledAtNodeOne) {
  // Keras 2 numbers a nested model's call in the outer graph as node 1 (node 0 is its own build).
  json inner = {{"class_name", "Sequential"}, {"name", "inner"},
                {"config", {{"name", "inner"}, {"layers", {Layer("Dense", {{"name", "d1"}, {"units", 2}, {"activation", "relu"},
                                                                         {"batch_input_shape", {nullptr, 3}}})}}}},
                {"inbound_nodes", {{{"x", 0, 0, json::object()}}}}};
  json d2 = {{"class_name", "Dense"}, {"name", "d2"}, {"config", {{"name", "d2"}, {"units", 1}}},
             {"inbound_nodes", {{{"inner", 1, 0, json::object()}}}}};
  json x = {{"class_name", "InputLayer"}, {"name", "x"}, {"config", {{"name", "x"}, {"batch_input_shape", {nullptr, 3}}}},
            {"inbound_nodes", json::array()}};
  json topo = {{"class_name", "Functional"},
               {"config", {{"name", "outer"}, {"layers", {x, inner, d2}}, {"input_layers", {{"x", 0, 0}}}, {"output_layers", {{"d2", 0, 0}}}}}};
  std::unique_ptr<Model> m;
  Status s = Load(Doc(topo, DenseManifest()).dump(), {Bytes(kDenseWeights)}, &m);
  ASSERT_TRUE(s.ok()) << s.message();
  std::vector<float> in = {0.5f, 1.f, -1.f}, y(1);
  ASSERT_TRUE(m->Run(in.data(), 1, y.data()).ok());
  EXPECT_NEAR(y[0], DenseExpected(in)[0], 1e-6);
}

// A small CNN on 10x10x1 input: conv(relu) + 2x2 pool (fusable), flatten, dense(sigmoid), with
// fixed weights.
struct SmallCnn {
  json topo, manifest;
  std::vector<float> w;
};
SmallCnn MakeSmallCnn() {
  SmallCnn c;
  c.topo = {{"class_name", "Sequential"},
            {"config",
             {{"name", "cnn"},
              {"layers",
               {Layer("Conv2D", {{"name", "c"}, {"filters", 4}, {"kernel_size", {3, 3}}, {"activation", "relu"},
                                 {"batch_input_shape", {nullptr, 10, 10, 1}}}),
                Layer("MaxPooling2D", {{"name", "p"}, {"pool_size", {2, 2}}}),
                Layer("Flatten", {{"name", "f"}}),
                Layer("Dense", {{"name", "d"}, {"units", 1}, {"activation", "sigmoid"}})}}}}};
  c.manifest = json::array({{{"paths", {"w.bin"}},
                             {"weights",
                              {{{"name", "c/kernel"}, {"shape", {3, 3, 1, 4}}}, {{"name", "c/bias"}, {"shape", {4}}},
                               {{"name", "d/kernel"}, {"shape", {64, 1}}}, {{"name", "d/bias"}, {"shape", {1}}}}}}});
  c.w.resize(36 + 4 + 64 + 1);
  for (size_t i = 0; i < c.w.size(); ++i) c.w[i] = std::sin(static_cast<float>(i)) * 0.3f;
  return c;
}

// a NaN input gave NaN on the reference backend and 0.157 on simd/xnnpack. Now every
// backend refuses a non-finite input with the same message, and finite inputs still run.
TEST(Model, NonFiniteInputIsRefusedAlikeOnEveryBackend) {
  const SmallCnn cnn = MakeSmallCnn();
  const json& topo = cnn.topo;
  const json& manifest = cnn.manifest;
  const std::vector<float>& w = cnn.w;
  std::vector<uint8_t> bytes = Bytes(w);
  int tried = 0;
  for (Backend b : {Backend::kReference, Backend::kSimd, Backend::kXnnpack}) {
    if (!catdog::BackendAvailable(b)) continue;
    ++tried;
    LoadOptions opt;
    opt.backend = b;
    std::unique_ptr<Model> m;
    ASSERT_TRUE(Model::Parse(Doc(topo, manifest).dump(), &m, opt, "cnn.json").ok());
    ASSERT_TRUE(m->LoadWeights({{bytes.data(), bytes.size()}}).ok());
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                      -std::numeric_limits<float>::infinity()}) {
      std::vector<float> x(200, 0.5f), y(2, 0.25f);
      x[100 + 37] = bad;  // sample 1, value 37
      Status s = m->Run(x.data(), 2, y.data());
      SCOPED_TRACE(std::string(catdog::BackendName(b)) + " input " + std::to_string(bad));
      ExpectError(s, {"cnn.json", "input value 37 of sample 1", std::isnan(bad) ? "NaN" : "infinite"});
    }
    std::vector<float> x(100, 0.5f), y(1, -1.f);
    ASSERT_TRUE(m->Run(x.data(), 1, y.data()).ok()) << catdog::BackendName(b);
    EXPECT_TRUE(y[0] > 0.f && y[0] < 1.f) << catdog::BackendName(b);
  }
  EXPECT_GE(tried, 2) << "at least the reference and the SIMD backend run natively";
}

TEST(Model, RunAllocatesNothingAfterTheFirstCallWithABatchSize) {
  for (Backend b : {Backend::kReference, Backend::kSimd, Backend::kXnnpack}) {
    if (!catdog::BackendAvailable(b)) continue;
    // A small CNN: conv(relu) + 2x2 pool (fusable), flatten, dense.
    const SmallCnn cnn = MakeSmallCnn();
    const json& topo = cnn.topo;
    const json& manifest = cnn.manifest;
    const std::vector<float>& w = cnn.w;
    LoadOptions opt;
    opt.backend = b;
    std::unique_ptr<Model> m;
    Status s = Model::Parse(Doc(topo, manifest).dump(), &m, opt, "cnn.json");
    ASSERT_TRUE(s.ok()) << s.message();
    std::vector<uint8_t> bytes = Bytes(w);
    ASSERT_TRUE(m->LoadWeights({{bytes.data(), bytes.size()}}).ok());
    std::vector<float> x(300, 0.5f), y(3);
    ASSERT_TRUE(m->Run(x.data(), 3, y.data()).ok());
    long before = g_allocs.load();
    Status s3 = m->Run(x.data(), 3, y.data());
    Status s2 = m->Run(x.data(), 2, y.data());  // smaller batches reuse the buffers
    long allocs = g_allocs.load() - before;
    ASSERT_TRUE(s3.ok() && s2.ok());
    EXPECT_EQ(allocs, 0) << catdog::BackendName(b) << " " << m->info().layer_summary[1];
  }
}

// BatchNormalization folded into the conv before it (fast backends): into the weights after a
// linear conv, as an affine after the clamp of a relu conv (before a fused pool, with negative
// scales), with depth_multiplier 2 and without bias; not after a sigmoid nor after a Dense. Every
// backend gives the reference's outputs, and Run still allocates nothing after warm-up.
TEST(Model, BatchNormFoldedIntoConvsMatchesReference) {
  json layers = json::array();
  json weights = json::array();
  std::vector<float> w;
  int seed = 0;
  auto add_weight = [&](const std::string& name, std::vector<int> shape, float lo, float hi) {
    weights.push_back({{"name", name}, {"shape", shape}, {"dtype", "float32"}});
    size_t n = 1;
    for (int d : shape) n *= static_cast<size_t>(d);
    for (size_t i = 0; i < n; ++i, ++seed) w.push_back(lo + (hi - lo) * 0.5f * (1.0f + std::sin(1.7f * seed + 0.3f)));
  };
  auto bn = [&](const std::string& name, int c) {
    layers.push_back(Layer("BatchNormalization", {{"name", name}, {"axis", -1}, {"epsilon", 1e-3}}));
    add_weight(name + "/gamma", {c}, -1.5f, 2.0f);  // some negative: max-pool order matters
    add_weight(name + "/beta", {c}, -0.5f, 0.5f);
    add_weight(name + "/moving_mean", {c}, -0.3f, 0.6f);
    add_weight(name + "/moving_variance", {c}, 0.2f, 1.5f);
  };
  layers.push_back(Layer("Conv2D", {{"name", "c1"}, {"filters", 8}, {"kernel_size", {3, 3}}, {"padding", "same"},
                                    {"activation", "relu"}, {"batch_input_shape", {nullptr, 20, 18, 1}}}));
  add_weight("c1/kernel", {3, 3, 1, 8}, -0.5f, 0.5f);
  add_weight("c1/bias", {8}, -0.1f, 0.1f);
  bn("bn1", 8);
  layers.push_back(Layer("MaxPooling2D", {{"name", "p1"}, {"pool_size", {2, 2}}}));
  layers.push_back(Layer("SeparableConv2D", {{"name", "s1"}, {"filters", 12}, {"kernel_size", {3, 3}}, {"padding", "same"},
                                             {"activation", "relu"}}));
  add_weight("s1/depthwise_kernel", {3, 3, 8, 1}, -0.5f, 0.5f);
  add_weight("s1/pointwise_kernel", {1, 1, 8, 12}, -0.5f, 0.5f);
  add_weight("s1/bias", {12}, -0.1f, 0.1f);
  bn("bn2", 12);
  layers.push_back(Layer("MaxPooling2D", {{"name", "p2"}, {"pool_size", {2, 2}}}));
  layers.push_back(Layer("SeparableConv2D", {{"name", "s2"}, {"filters", 16}, {"kernel_size", {3, 3}}, {"padding", "same"},
                                             {"activation", "linear"}}));
  add_weight("s2/depthwise_kernel", {3, 3, 12, 1}, -0.5f, 0.5f);
  add_weight("s2/pointwise_kernel", {1, 1, 12, 16}, -0.5f, 0.5f);
  add_weight("s2/bias", {16}, -0.1f, 0.1f);
  bn("bn3", 16);
  layers.push_back(Layer("DepthwiseConv2D", {{"name", "d1"}, {"kernel_size", {3, 3}}, {"padding", "same"}, {"activation", "relu"}}));
  add_weight("d1/depthwise_kernel", {3, 3, 16, 1}, -0.5f, 0.5f);
  add_weight("d1/bias", {16}, -0.1f, 0.1f);
  bn("bn4", 16);
  layers.push_back(Layer("DepthwiseConv2D", {{"name", "d2"}, {"kernel_size", {3, 3}}, {"depth_multiplier", 2}}));
  add_weight("d2/depthwise_kernel", {3, 3, 16, 2}, -0.5f, 0.5f);
  add_weight("d2/bias", {32}, -0.1f, 0.1f);
  bn("bn5", 32);
  layers.push_back(Layer("Conv2D", {{"name", "c2"}, {"filters", 6}, {"kernel_size", {1, 1}}, {"use_bias", false}}));
  add_weight("c2/kernel", {1, 1, 32, 6}, -0.5f, 0.5f);
  bn("bn6", 6);
  layers.push_back(Layer("Conv2D", {{"name", "c3"}, {"filters", 4}, {"kernel_size", {3, 3}}, {"padding", "same"},
                                    {"activation", "sigmoid"}}));
  add_weight("c3/kernel", {3, 3, 6, 4}, -0.5f, 0.5f);
  add_weight("c3/bias", {4}, -0.1f, 0.1f);
  bn("bn7", 4);
  layers.push_back(Layer("GlobalAveragePooling2D", {{"name", "g"}}));
  layers.push_back(Layer("Dense", {{"name", "fc"}, {"units", 3}}));
  add_weight("fc/kernel", {4, 3}, -1.0f, 1.0f);
  add_weight("fc/bias", {3}, -0.1f, 0.1f);
  bn("bn8", 3);  // the model's output, after a Dense: never folded
  json topo = {{"class_name", "Sequential"}, {"config", {{"name", "bnnet"}, {"layers", layers}}}};
  json manifest = json::array({{{"paths", {"w.bin"}}, {"weights", weights}}});
  const std::string text = Doc(topo, manifest).dump();
  const std::vector<uint8_t> bytes = Bytes(w);
  constexpr int kBatch = 2;
  std::vector<float> x(kBatch * 20 * 18);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.5f + 0.5f * std::sin(0.37f * static_cast<float>(i));
  auto run = [&](Backend b, std::vector<std::string>* summary) {
    LoadOptions opt;
    opt.backend = b;
    std::unique_ptr<Model> m;
    Status s = Model::Parse(text, &m, opt, "bnnet.json");
    EXPECT_TRUE(s.ok()) << s.message();
    if (!s.ok()) return std::vector<float>();
    s = m->LoadWeights({{bytes.data(), bytes.size()}});
    EXPECT_TRUE(s.ok()) << s.message();
    if (!s.ok()) return std::vector<float>();
    std::vector<float> y(kBatch * 3);
    EXPECT_TRUE(m->Run(x.data(), kBatch, y.data()).ok());
    const long before = g_allocs.load();
    EXPECT_TRUE(m->Run(x.data(), kBatch, y.data()).ok());
    EXPECT_EQ(g_allocs.load() - before, 0) << catdog::BackendName(b);
    *summary = m->info().layer_summary;
    return y;
  };
  std::vector<std::string> ref_summary;
  const std::vector<float> want = run(Backend::kReference, &ref_summary);
  ASSERT_EQ(want.size(), static_cast<size_t>(kBatch * 3));
  for (const std::string& line : ref_summary) EXPECT_EQ(line.find("folded"), std::string::npos) << line;
  for (Backend b : {Backend::kSimd, Backend::kXnnpack}) {
    if (!catdog::BackendAvailable(b)) continue;
    std::vector<std::string> summary;
    const std::vector<float> got = run(b, &summary);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_NEAR(got[i], want[i], 1e-4 * std::max(1.0f, std::fabs(want[i]))) << catdog::BackendName(b) << " output " << i;
    auto line = [&](const std::string& name) {
      for (const std::string& l : summary)
        if (l.rfind(name + " (", 0) == 0) return l;
      return std::string();
    };
    for (const char* folded : {"bn1", "bn2", "bn3", "bn4", "bn5", "bn6"})
      EXPECT_NE(line(folded).find("folded into the layer before"), std::string::npos) << line(folded);
    for (const char* kept : {"bn7", "bn8"}) EXPECT_EQ(line(kept).find("folded"), std::string::npos) << line(kept);
    for (const char* pool : {"p1", "p2"}) EXPECT_NE(line(pool).find("fused into the conv before"), std::string::npos) << line(pool);
    if (b == Backend::kSimd) {
      EXPECT_NE(line("c1").find("_affine_pool2"), std::string::npos) << line("c1");
      EXPECT_NE(line("s1").find("f32_dwconv3x3"), std::string::npos) << line("s1");
      EXPECT_NE(line("s1").find("_affine_pool2"), std::string::npos) << line("s1");
      EXPECT_NE(line("d1").find("_affine"), std::string::npos) << line("d1");
    }
  }
}

TEST(Model, UserMetadataWithInvalidUtf8DoesNotCrash) {
  json doc = Doc(DenseTopology(), DenseManifest());
  std::string text = doc.dump();
  text.insert(text.size() - 1, ",\"userDefinedMetadata\":{\"catdog\":\"\xff\xfe\"}");
  std::unique_ptr<Model> m;
  Status s = ParseOnly(text, &m);
  // nlohmann rejects invalid UTF-8 while parsing: either way, a status and no crash.
  if (s.ok()) EXPECT_FALSE(m->info().user_metadata_json.empty());
  else EXPECT_NE(s.message().find("invalid JSON"), std::string::npos) << s.message();
}

// ---- errors: one test each -------------------------------------------------------------------------

TEST(ModelErrors, InvalidJson) {
  std::unique_ptr<Model> m;
  ExpectError(ParseOnly("{\n  \"modelTopology\": {,\n}", &m), {"test/model.json", "invalid JSON", "line 2"});
  EXPECT_EQ(m, nullptr);
}

TEST(ModelErrors, NotALayersModel) {
  std::unique_ptr<Model> m;
  ExpectError(ParseOnly(R"({"format":"graph-model","modelTopology":{"node":[]},"weightsManifest":[]})", &m),
              {"test/model.json", "graph-model", "not a layers model"});
  ExpectError(ParseOnly(R"({"modelTopology":{"class_name":"Dense","config":{}},"weightsManifest":[]})", &m),
              {"'Dense', not a layers model"});
  ExpectError(ParseOnly("[1,2,3]", &m), {"not a TF.js model.json"});
}

TEST(ModelErrors, MissingTopologyOrManifest) {
  std::unique_ptr<Model> m;
  ExpectError(ParseOnly(json{{"weightsManifest", DenseManifest()}}.dump(), &m), {"test/model.json", "missing 'modelTopology'"});
  ExpectError(ParseOnly(json{{"modelTopology", DenseTopology()}}.dump(), &m), {"test/model.json", "missing 'weightsManifest'"});
}

TEST(ModelErrors, MissingShard) {
  std::unique_ptr<Model> m;
  ExpectError(Load(Doc(DenseTopology(), DenseManifest()).dump(), {}, &m), {"group1-shard1of1.bin", "1 shard(s)", "0 were given"});
}

TEST(ModelErrors, ShortShard) {
  std::vector<uint8_t> b = Bytes(kDenseWeights);
  b.resize(b.size() - 3);
  std::unique_ptr<Model> m;
  ExpectError(Load(Doc(DenseTopology(), DenseManifest()).dump(), {b}, &m), {"short", "'group1-shard1of1.bin'", "d2/bias"});
}

TEST(ModelErrors, ExtraShardBytes) {
  std::vector<uint8_t> b = Bytes(kDenseWeights);
  b.push_back(0);
  std::unique_ptr<Model> m;
  ExpectError(Load(Doc(DenseTopology(), DenseManifest()).dump(), {b}, &m), {"'group1-shard1of1.bin'", "1 extra bytes"});
}

TEST(ModelErrors, WeightNameNotMatchingAnyLayer) {
  json manifest = DenseManifest();
  manifest[0]["weights"][0]["name"] = "other/kernel";
  std::unique_ptr<Model> m;
  ExpectError(ParseOnly(Doc(DenseTopology(), manifest).dump(), &m), {"layer 'd1' (Dense)", "'d1/kernel'", "not in the weightsManifest", "other/kernel"});
}

TEST(ModelErrors, WeightShapeNotMatchingTheLayer) {
  json manifest = DenseManifest();
  manifest[0]["weights"][0]["shape"] = {2, 3};
  std::unique_ptr<Model> m;
  ExpectError(ParseOnly(Doc(DenseTopology(), manifest).dump(), &m), {"layer 'd1' (Dense)", "shape [2,3]", "needs [3,2]"});
}

TEST(ModelErrors, ExtraWeightBelongingToNoLayer) {
  json manifest = DenseManifest();
  manifest[0]["weights"].push_back({{"name", "ghost/kernel"}, {"shape", {1}}});
  std::unique_ptr<Model> m;
  ExpectError(ParseOnly(Doc(DenseTopology(), manifest).dump(), &m), {"'ghost/kernel'", "belongs to no layer"});
}

TEST(ModelErrors, UnsupportedLayerClass) {
  json topo = DenseTopology();
  topo["config"]["layers"][1] = Layer("LSTM", {{"name", "rnn"}, {"units", 4}});
  std::unique_ptr<Model> m;
  ExpectError(ParseOnly(Doc(topo, DenseManifest()).dump(), &m), {"test/model.json", "'rnn'", "unsupported class 'LSTM'"});
}

TEST(ModelErrors, UnsupportedActivation) {
  json topo = DenseTopology();
  topo["config"]["layers"][1]["config"]["activation"] = "crelu";
  std::unique_ptr<Model> m;
  ExpectError(ParseOnly(Doc(topo, DenseManifest()).dump(), &m), {"layer 'd2' (Dense)", "unsupported activation 'crelu'"});
}

TEST(ModelErrors, UnsupportedLayerOptions) {
  auto conv = [](json extra) {
    json cfg = {{"name", "c"}, {"filters", 2}, {"kernel_size", 3}, {"batch_input_shape", {nullptr, 8, 8, 1}}};
    cfg.update(extra);
    return Doc(json{{"class_name", "Sequential"}, {"config", {{"name", "s"}, {"layers", {Layer("Conv2D", cfg)}}}}},
               json::array())
        .dump();
  };
  std::unique_ptr<Model> m;
  ExpectError(ParseOnly(conv({{"data_format", "channels_first"}}), &m), {"layer 'c' (Conv2D)", "channels_first"});
  ExpectError(ParseOnly(conv({{"dilation_rate", {2, 2}}}), &m), {"layer 'c' (Conv2D)", "dilation_rate 2x2"});
  ExpectError(ParseOnly(conv({{"padding", "causal"}}), &m), {"layer 'c' (Conv2D)", "padding 'causal'"});
  ExpectError(ParseOnly(conv({{"kernel_size", "3"}}), &m), {"layer 'c' (Conv2D)", "'kernel_size'", "\"3\""});
  ExpectError(ParseOnly(conv({{"kernel_size", 9}}), &m), {"layer 'c' (Conv2D)", "window 9 is larger than the input"});
  ExpectError(ParseOnly(conv({{"filters", -2}}), &m), {"layer 'c' (Conv2D)", "'filters' must be a positive integer"});
}

TEST(ModelErrors, ShapesThatOverflow) {
  std::unique_ptr<Model> m;
  json topo = DenseTopology();
  topo["config"]["layers"][0]["config"]["batch_input_shape"] = {nullptr, 3037000500LL, 3037000500LL, 3};
  ExpectError(ParseOnly(Doc(topo, DenseManifest()).dump(), &m), {"out-of-range dimension 3037000500"});
  json manifest = DenseManifest();
  manifest[0]["weights"][0]["shape"] = {4294967296LL, 4294967296LL, 4};
  ExpectError(ParseOnly(Doc(DenseTopology(), manifest).dump(), &m), {"weight 'd1/kernel'", "overflows"});
  topo = DenseTopology();
  topo["config"]["layers"][0]["config"]["batch_input_shape"] = {nullptr, 2000000000, 2000000000, 2000000000};
  topo["config"]["layers"].insert(topo["config"]["layers"].begin() + 1, Layer("Flatten", {{"name", "f"}}));
  topo["config"]["layers"][0] = Layer("Activation", {{"name", "a"}, {"activation", "relu"}, {"batch_input_shape", {nullptr, 2000000000, 2000000000, 2000000000}}});
  ExpectError(ParseOnly(Doc(topo, DenseManifest()).dump(), &m), {"overflows"});
}

TEST(ModelErrors, ActivationsOrWeightsOverTheByteLimit) {
  std::unique_ptr<Model> m;
  LoadOptions small;
  small.max_total_bytes = 32;  // the dense model's 11 weights are 44 bytes
  ExpectError(ParseOnly(Doc(DenseTopology(), DenseManifest()).dump(), &m, small), {"weights need more than the limit of 32 bytes"});
  json topo = DenseTopology();
  topo["config"]["layers"][0]["config"].erase("batch_input_shape");
  auto& layers = topo["config"]["layers"];
  layers.insert(layers.begin(), Layer("Activation", {{"name", "big"}, {"activation", "relu"}, {"batch_input_shape", {nullptr, 20000, 20000}}}));
  json manifest = DenseManifest();
  manifest[0]["weights"][0]["shape"] = {20000, 2};  // d1 on [20000, 20000]: 1.6 GB per sample out of 'big'
  ExpectError(ParseOnly(Doc(topo, manifest).dump(), &m), {"activations need more than the limit of 1073741824 bytes", "'big'"});
}

TEST(ModelErrors, NaNOrInfWeights) {
  std::vector<float> w = kDenseWeights;
  w[3] = std::numeric_limits<float>::quiet_NaN();
  std::unique_ptr<Model> m;
  ExpectError(Load(Doc(DenseTopology(), DenseManifest()).dump(), {Bytes(w)}, &m), {"weight 'd1/kernel'", "NaN", "[1,1]"});
  w = kDenseWeights;
  w[10] = -std::numeric_limits<float>::infinity();
  ExpectError(Load(Doc(DenseTopology(), DenseManifest()).dump(), {Bytes(w)}, &m), {"weight 'd2/bias'", "Inf"});
}

TEST(ModelErrors, WrongInputShapeAndBadRunArguments) {
  std::unique_ptr<Model> m;
  ASSERT_TRUE(Load(Doc(DenseTopology(), DenseManifest()).dump(), {Bytes(kDenseWeights)}, &m).ok());
  ExpectError(m->CheckInputShape({1, 4}), {"input shape [1,4]", "[N,3]"});
  ExpectError(m->CheckInputShape({3}), {"input shape [3]"});
  ExpectError(m->CheckInputShape({0, 3}), {"input shape [0,3]"});
  EXPECT_TRUE(m->CheckInputShape({5, 3}).ok());
  float x[3] = {0, 0, 0}, y[1];
  ExpectError(m->Run(x, 0, y), {"batch must be >= 1"});
  ExpectError(m->Run(nullptr, 1, y), {"null input"});
  std::unique_ptr<Model> unloaded;
  ASSERT_TRUE(ParseOnly(Doc(DenseTopology(), DenseManifest()).dump(), &unloaded).ok());
  ExpectError(unloaded->Run(x, 1, y), {"before LoadWeights"});
}

json Functional(json layers, const char* in, const char* out) {
  return json{{"class_name", "Functional"},
              {"config", {{"name", "f"}, {"layers", layers}, {"input_layers", {{in, 0, 0}}}, {"output_layers", {{out, 0, 0}}}}}};
}
json InputEntry() {
  return {{"class_name", "InputLayer"}, {"name", "x"}, {"config", {{"name", "x"}, {"batch_input_shape", {nullptr, 2}}}}, {"inbound_nodes", json::array()}};
}
json ReluFrom(const char* name, std::vector<const char*> from) {
  json node = json::array();
  for (const char* f : from) node.push_back({f, 0, 0, json::object()});
  return {{"class_name", "ReLU"}, {"name", name}, {"config", {{"name", name}}}, {"inbound_nodes", {node}}};
}

TEST(ModelErrors, CyclicFunctionalGraph) {
  json layers = {InputEntry(), ReluFrom("a", {"b"}), ReluFrom("b", {"a"})};
  std::unique_ptr<Model> m;
  ExpectError(ParseOnly(Doc(Functional(layers, "x", "b"), json::array()).dump(), &m), {"model 'f'", "'a', 'b'", "cycle"});
}

TEST(ModelErrors, DanglingFunctionalGraph) {
  json layers = {InputEntry(), ReluFrom("a", {"ghost"})};
  std::unique_ptr<Model> m;
  ExpectError(ParseOnly(Doc(Functional(layers, "x", "a"), json::array()).dump(), &m),
              {"layer 'a' takes input from 'ghost'", "not a layer of this model"});
  ExpectError(ParseOnly(Doc(Functional({InputEntry(), ReluFrom("a", {"x"})}, "x", "zzz"), json::array()).dump(), &m),
              {"output layer 'zzz'"});
}

TEST(ModelErrors, DuplicateLayerNames) {
  std::unique_ptr<Model> m;
  json layers = {InputEntry(), ReluFrom("a", {"x"}), ReluFrom("a", {"x"})};
  ExpectError(ParseOnly(Doc(Functional(layers, "x", "a"), json::array()).dump(), &m), {"duplicate layer name 'a'"});
  json topo = DenseTopology();
  topo["config"]["layers"][1]["config"]["name"] = "d1";
  ExpectError(ParseOnly(Doc(topo, DenseManifest()).dump(), &m), {"duplicate layer name 'd1'"});
}

// Malformed files of every shape must give a status (never an exception or a crash).
TEST(ModelErrors, MalformedDocumentsGiveStatusNotCrash) {
  const char* docs[] = {
      "", "null", "\"str\"", "{}", R"({"modelTopology":[],"weightsManifest":[]})",
      R"({"modelTopology":{"class_name":"Sequential","config":{"layers":"x"}},"weightsManifest":[]})",
      R"({"modelTopology":{"class_name":"Sequential","config":{"layers":[1,2]}},"weightsManifest":[]})",
      R"({"modelTopology":{"class_name":"Sequential","config":{"layers":[{"class_name":"Dense","config":null}]}},"weightsManifest":[]})",
      R"({"modelTopology":{"class_name":"Sequential","config":{"layers":[{"class_name":"Dense","config":{"name":"d","units":"2","batch_input_shape":[null,2]}}]}},"weightsManifest":[]})",
      R"({"modelTopology":{"class_name":"Sequential","config":{"layers":[{"class_name":"Dense","config":{"name":"d","units":2,"batch_input_shape":[null,"a"]}}]}},"weightsManifest":[]})",
      R"({"modelTopology":{"class_name":"Sequential","config":{"layers":[{"class_name":"Dense","config":{"name":"d","units":2,"batch_input_shape":[null,null]}}]}},"weightsManifest":[]})",
      R"({"modelTopology":{"class_name":"Model","config":{"layers":[{"class_name":"InputLayer","name":"x","config":{"batch_input_shape":[null,2]},"inbound_nodes":[]},{"class_name":"ReLU","name":"r","config":{},"inbound_nodes":[[[1,0,0]]]}],"input_layers":[["x",0,0]],"output_layers":[["r",0,0]]}},"weightsManifest":[]})",
      R"({"modelTopology":{"class_name":"Model","config":{"layers":[{"class_name":"InputLayer","name":"x","config":{"batch_input_shape":[null,2]},"inbound_nodes":[]},{"class_name":"ReLU","name":"r","config":{},"inbound_nodes":"bad"}],"input_layers":[["x",0,0]],"output_layers":[["r",0,0]]}},"weightsManifest":[]})",
      R"({"modelTopology":{"class_name":"Model","config":{"layers":[],"input_layers":7}},"weightsManifest":[]})",
      R"({"modelTopology":{"class_name":"Sequential","config":{"layers":[{"class_name":"Dense","config":{"name":"d","units":1,"batch_input_shape":[null,2]}}]}},"weightsManifest":[{"paths":[3],"weights":[]}]})",
      R"({"modelTopology":{"class_name":"Sequential","config":{"layers":[{"class_name":"Dense","config":{"name":"d","units":1,"batch_input_shape":[null,2]}}]}},"weightsManifest":[{"paths":["a"],"weights":[{"name":"d/kernel","shape":[2,-1]}]}]})",
      R"({"modelTopology":{"class_name":"Sequential","config":{"layers":[{"class_name":"Dense","config":{"name":"d","units":1,"batch_input_shape":[null,2]}}]}},"weightsManifest":[{"paths":["a"],"weights":[{"name":"d/kernel","shape":[2,1],"dtype":"int32"}]}]})",
      R"({"modelTopology":{"class_name":"Sequential","config":{"layers":[{"class_name":"Dense","config":{"name":"d","units":1,"batch_input_shape":[null,2]}}]}},"weightsManifest":[{"paths":["a"],"weights":[{"name":"d/kernel","shape":[2,1],"quantization":{"dtype":"uint8"}}]}]})",
      R"({"modelTopology":{"class_name":"Sequential","config":{"layers":[{"class_name":"Reshape","config":{"name":"r","target_shape":[-1,-1],"batch_input_shape":[null,4]}}]}},"weightsManifest":[]})",
      R"({"modelTopology":{"class_name":"Sequential","config":{"layers":[{"class_name":"Reshape","config":{"name":"r","target_shape":[3],"batch_input_shape":[null,4]}}]}},"weightsManifest":[]})",
      R"({"modelTopology":{"class_name":"Sequential","config":{"layers":[{"class_name":"Concatenate","config":{"name":"c","batch_input_shape":[null,4]}}]}},"weightsManifest":[]})",
      R"({"modelTopology":{"class_name":"Sequential","config":{"layers":[{"class_name":"MaxPooling2D","config":{"name":"p","batch_input_shape":[null,4]}}]}},"weightsManifest":[]})",
  };
  for (const char* d : docs) {
    std::unique_ptr<Model> m;
    Status s = ParseOnly(d, &m);
    EXPECT_FALSE(s.ok()) << "accepted: " << d;
    EXPECT_NE(s.message().find("test/model.json"), std::string::npos) << s.message();
  }
}

TEST(ModelErrors, UnavailableBackendIsRefused) {
  for (Backend b : {Backend::kSimd, Backend::kXnnpack}) {
    if (catdog::BackendAvailable(b)) continue;
    LoadOptions opt;
    opt.backend = b;
    std::unique_ptr<Model> m;
    ExpectError(Model::Parse(Doc(DenseTopology(), DenseManifest()).dump(), &m, opt, "x.json"), {"not available in this build"});
  }
  EXPECT_STREQ(catdog::BackendName(Backend::kXnnpack), "xnnpack");
  EXPECT_TRUE(catdog::BackendAvailable(Backend::kReference));
}

// ---- what other tools write: input spellings, dtype policies, renamed weights, shared layers, aliases

// DenseTopology with an explicit InputLayer whose config is `input_cfg`.
json DenseWithInputLayer(json input_cfg) {
  json topo = DenseTopology();
  topo["config"]["layers"][0]["config"].erase("batch_input_shape");
  input_cfg["name"] = "x";
  topo["config"]["layers"].insert(topo["config"]["layers"].begin(), Layer("InputLayer", input_cfg));
  return topo;
}

void ExpectDenseRuns(const json& topo, const json& manifest, LoadOptions opt = {}) {
  std::unique_ptr<Model> m;
  Status s = Load(Doc(topo, manifest).dump(), {Bytes(kDenseWeights)}, &m, opt);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(m->info().input_shape, std::vector<int64_t>({3}));
  std::vector<float> x = {0.5f, -1.f, 2.f}, y(1);
  ASSERT_TRUE(m->Run(x.data(), 1, y.data()).ok());
  EXPECT_NEAR(y[0], DenseExpected(x)[0], 1e-6);
}

TEST(Dialects, EveryInputLayerShapeSpellingLoads) {
  const json spellings[] = {
      {{"batch_input_shape", {nullptr, 3}}},
      {{"batchInputShape", {nullptr, 3}}},  // tfjs-layers' own spelling, as converter 4.22 wrote it
      {{"batch_shape", {nullptr, 3}}},      // Keras 3
      {{"input_shape", {3}}},
      {{"inputShape", {3}}},
      {{"input_shape", {3}}, {"batch_size", 8}},
      {{"batchInputShape", {nullptr, 3}}, {"batch_shape", {4, 3}}, {"batchSize", nullptr}},  // agreeing spellings
      {{"batchInputShape", {nullptr, 3}},
       {"dtype", {{"module", "keras"}, {"class_name", "DTypePolicy"}, {"config", {{"name", "float32"}}}, {"registered_name", nullptr}}}},
  };
  for (const json& cfg : spellings) {
    SCOPED_TRACE(cfg.dump());
    ExpectDenseRuns(DenseWithInputLayer(cfg), DenseManifest());
  }
  // A nested Sequential's own InputLayer may carry no shape: the outer tensor feeds it.
  {
    json inner = DenseTopology();
    inner["config"]["layers"][0]["config"].erase("batch_input_shape");
    inner["config"]["layers"].insert(inner["config"]["layers"].begin(), Layer("InputLayer", {{"name", "inner_in"}, {"dtype", "float32"}}));
    json outer = {{"class_name", "Sequential"},
                  {"config", {{"name", "outer"}, {"layers", {Layer("InputLayer", {{"name", "x"}, {"inputShape", {3}}}), inner}}}}};
    SCOPED_TRACE("nested InputLayer without a shape");
    ExpectDenseRuns(outer, DenseManifest());
  }
  // The first layer of a Sequential carries the shape (Keras 1/2, tfjs-layers' inputShape).
  for (const char* key : {"inputShape", "input_shape"}) {
    json topo = DenseTopology();
    topo["config"]["layers"][0]["config"].erase("batch_input_shape");
    topo["config"]["layers"][0]["config"][key] = {3};
    SCOPED_TRACE(key);
    ExpectDenseRuns(topo, DenseManifest());
  }
}

TEST(Dialects, InputShapeErrorsNameTheLayerTheKeyAndTheFix) {
  std::unique_ptr<Model> m;
  ExpectError(ParseOnly(Doc(DenseWithInputLayer({{"sparse", false}}), DenseManifest()).dump(), &m),
              {"test/model.json", "layer 'x' (InputLayer)", "has no input shape", "batchInputShape", "inputShape",
               "add \"batch_input_shape\": [null, H, W, C]"});
  ExpectError(ParseOnly(Doc(DenseWithInputLayer({{"input_shape", {3}}, {"batchInputShape", {nullptr, 4}}}), DenseManifest()).dump(), &m),
              {"layer 'x' (InputLayer)", "'batchInputShape' [null,4]", "'input_shape' [3]", "keep one of them"});
  ExpectError(ParseOnly(Doc(DenseWithInputLayer({{"input_shape", {3}}, {"batch_size", -2}}), DenseManifest()).dump(), &m),
              {"layer 'x' (InputLayer)", "'batch_size' -2", "positive integer"});
}

TEST(Dialects, DTypePoliciesOfFloatTypesLoadOthersAreRefusedByName) {
  auto with_dtype = [](json dtype) {
    json topo = DenseTopology();
    topo["config"]["layers"][1]["config"]["dtype"] = std::move(dtype);
    return topo;
  };
  ExpectDenseRuns(with_dtype({{"module", "keras"}, {"class_name", "DTypePolicy"}, {"config", {{"name", "float32"}}}}), DenseManifest());
  ExpectDenseRuns(with_dtype({{"class_name", "Policy"}, {"config", {{"name", "mixed_float16"}}}}), DenseManifest());
  ExpectDenseRuns(with_dtype({{"class_name", "FloatDTypePolicy"}, {"config", {{"name", "bfloat16"}}}}), DenseManifest());
  ExpectDenseRuns(with_dtype("float32"), DenseManifest());
  std::unique_ptr<Model> m;
  ExpectError(ParseOnly(Doc(with_dtype("int32"), DenseManifest()).dump(), &m),
              {"layer 'd2' (Dense)", "'dtype' 'int32'", "not a floating-point type", "re-save the model with dtype float32"});
  ExpectError(ParseOnly(Doc(with_dtype({{"class_name", "QuantizedDTypePolicy"}, {"config", {{"name", "int8_from_float32"}}}}), DenseManifest()).dump(), &m),
              {"layer 'd2' (Dense)", "'dtype'", "QuantizedDTypePolicy", "write \"dtype\": \"float32\""});
  ExpectError(ParseOnly(Doc(with_dtype({{"class_name", "DTypePolicy"}, {"config", json::object()}}), DenseManifest()).dump(), &m),
              {"layer 'd2' (Dense)", "no config.name"});
  ExpectError(ParseOnly(Doc(DenseWithInputLayer({{"input_shape", {3}}, {"dtype", "string"}}), DenseManifest()).dump(), &m),
              {"layer 'x' (InputLayer)", "'dtype' 'string'"});
}

json Manifest(std::vector<std::pair<std::string, std::vector<int>>> entries) {
  json w = json::array();
  for (auto& [name, shape] : entries) w.push_back({{"name", name}, {"shape", shape}, {"dtype", "float32"}});
  return json::array({{{"paths", {"group1-shard1of1.bin"}}, {"weights", w}}});
}

TEST(Dialects, ConverterSuffixedAndScopedWeightNamesMatchWhenUnambiguous) {
  // tensorflowjs_converter 3.x on a Keras 2.0 model: "d1_1/kernel" for the layer d1.
  ExpectDenseRuns(DenseTopology(), Manifest({{"d1_1/kernel", {3, 2}}, {"d1_1/bias", {2}}, {"d2_1/kernel", {2, 1}}, {"d2_1/bias", {1}}}));
  // Only some layers renamed, and nested-model scopes in front of them.
  ExpectDenseRuns(DenseTopology(), Manifest({{"d1/kernel", {3, 2}}, {"d1/bias", {2}}, {"seq/d2_1/kernel", {2, 1}}, {"seq/d2_1/bias", {1}}}));
  ExpectDenseRuns(DenseTopology(), Manifest({{"model/seq/d1_3/kernel", {3, 2}}, {"model/seq/d1_3/bias", {2}}, {"d2/kernel", {2, 1}}, {"d2/bias", {1}}}));
  // The layer info names the entries the core bound (what `catdog convert` reads them by).
  std::unique_ptr<Model> m;
  ASSERT_TRUE(ParseOnly(Doc(DenseTopology(), Manifest({{"d1_1/kernel", {3, 2}}, {"d1_1/bias", {2}}, {"seq/d2/kernel", {2, 1}}, {"seq/d2/bias", {1}}})).dump(), &m).ok());
  const auto& layers = m->info().layers;
  ASSERT_EQ(layers.size(), 3u);  // the Sequential's input, d1, d2
  using Bound = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(layers[0].weights, Bound());
  EXPECT_EQ(layers[1].weights, Bound({{"kernel", "d1_1/kernel"}, {"bias", "d1_1/bias"}}));
  EXPECT_EQ(layers[2].weights, Bound({{"kernel", "seq/d2/kernel"}, {"bias", "seq/d2/bias"}}));
}

TEST(Dialects, SuffixedNamesThatAreAlsoLayerNamesResolveByElimination) {
  // Layers "d" and "d_1", both Dense(2) on 2 inputs (same shapes), written by a converter that
  // suffixed both: "d_1/kernel" is d's (not d_1's, although the names are equal) and "d_1_1/kernel"
  // is d_1's. d_1 can only be "d_1/..." or "d_1_1/..."; d only "d_1/..." (there is no "d/...");
  // so d takes "d_1/..." and d_1 the other. Swapping them would give other numbers: checked.
  json topo = {{"class_name", "Sequential"},
               {"config",
                {{"name", "s"},
                 {"layers",
                  {Layer("Dense", {{"name", "d"}, {"units", 2}, {"activation", "relu"}, {"batch_input_shape", {nullptr, 2}}}),
                   Layer("Dense", {{"name", "d_1"}, {"units", 2}})}}}}};
  json manifest = Manifest({{"d_1/kernel", {2, 2}}, {"d_1/bias", {2}}, {"d_1_1/kernel", {2, 2}}, {"d_1_1/bias", {2}}});
  const std::vector<float> w = {1, 2, 3, 4, 0.5f, -0.5f, /* d_1: */ -1, 0, 0, 2, 0.25f, 1};
  std::unique_ptr<Model> m;
  Status s = Load(Doc(topo, manifest).dump(), {Bytes(w)}, &m);
  ASSERT_TRUE(s.ok()) << s.message();
  std::vector<float> x = {3.f, 1.f}, y(2);
  ASSERT_TRUE(m->Run(x.data(), 1, y.data()).ok());
  // h = relu(x K_d + b_d) = [6.5, 9.5]; y = h K_d1 + b_d1 = [-6.25, 20] (swapped weights: [9.5, 11.5]).
  const float h0 = std::max(3.f * 1 + 1.f * 3 + 0.5f, 0.f), h1 = std::max(3.f * 2 + 1.f * 4 - 0.5f, 0.f);
  EXPECT_FLOAT_EQ(y[0], h0 * -1 + 0.25f);
  EXPECT_FLOAT_EQ(y[1], h1 * 2 + 1.f);
}

TEST(Dialects, AmbiguousOrMixedRenamedWeightsAreRefusedListingTheCandidates) {
  std::unique_ptr<Model> m;
  // Two entries could each be d1's kernel and bias: nothing tells which.
  ExpectError(ParseOnly(Doc(DenseTopology(), Manifest({{"d1_1/kernel", {3, 2}}, {"d1_1/bias", {2}}, {"d1_2/kernel", {3, 2}},
                                                       {"d1_2/bias", {2}}, {"d2/kernel", {2, 1}}, {"d2/bias", {1}}}))
                            .dump(),
                        &m),
              {"layer 'd1' (Dense)", "weight 'd1/kernel' (shape [3,2])", "could be any of", "'d1_1/kernel', 'd1_2/kernel'",
               "rename the right one to 'd1/kernel'"});
  // A layer's weights from two renamed names.
  ExpectError(ParseOnly(Doc(DenseTopology(), Manifest({{"d1_1/kernel", {3, 2}}, {"d1_2/bias", {2}}, {"d2/kernel", {2, 1}}, {"d2/bias", {1}}})).dump(), &m),
              {"layer 'd1' (Dense)", "different weightsManifest names", "'d1_1/kernel'", "'d1_2/bias'"});
  // A suffixed entry of the wrong shape is not taken.
  ExpectError(ParseOnly(Doc(DenseTopology(), Manifest({{"d1_1/kernel", {2, 3}}, {"d1_1/bias", {2}}, {"d2/kernel", {2, 1}}, {"d2/bias", {1}}})).dump(), &m),
              {"layer 'd1' (Dense)", "'d1/kernel'", "shape [3,2]"});
  // Two exact entries that differ only in scopes neither of which is the layer's.
  ExpectError(ParseOnly(Doc(DenseTopology(), Manifest({{"a/d1/kernel", {3, 2}}, {"b/d1/kernel", {3, 2}}, {"d1/bias", {2}}, {"d2/kernel", {2, 1}}, {"d2/bias", {1}}})).dump(), &m),
              {"layer 'd1' (Dense)", "several weightsManifest entries", "'a/d1/kernel', 'b/d1/kernel'"});
}

// x[2] -> d (Dense 2) -> relu -> d again (its second call) -> out; Keras 2 or Keras 3 inbound nodes.
json SharedDenseModel(bool keras3) {
  auto ref = [&](const char* name, int node) {
    if (!keras3) return json::array({json::array({name, node, 0, json::object()})});
    return json{{"args", {{{"class_name", "__keras_tensor__"}, {"config", {{"shape", {nullptr, 2}}, {"dtype", "float32"}, {"keras_history", {name, node, 0}}}}}}},
                {"kwargs", json::object()}};
  };
  json layers = {
      {{"class_name", "InputLayer"}, {"name", "x"}, {"config", {{"name", "x"}, {keras3 ? "batch_shape" : "batch_input_shape", {nullptr, 2}}}},
       {"inbound_nodes", json::array()}},
      {{"class_name", "Dense"}, {"name", "d"}, {"config", {{"name", "d"}, {"units", 2}}}, {"inbound_nodes", {ref("x", 0), ref("r", 0)}}},
      {{"class_name", "ReLU"}, {"name", "r"}, {"config", {{"name", "r"}}}, {"inbound_nodes", {ref("d", 0)}}},
  };
  json out = keras3 ? json{"d", 1, 0} : json{{"d", 1, 0}};
  json in = keras3 ? json{"x", 0, 0} : json{{"x", 0, 0}};
  return {{"class_name", keras3 ? "Functional" : "Model"},
          {"config", {{"name", "shared"}, {"layers", layers}, {"input_layers", in}, {"output_layers", out}}}};
}

TEST(Dialects, SharedLayerCalledTwiceRunsTwiceWithOneSetOfWeights) {
  const std::vector<float> w = {1, -2, 0.5f, 1, 0.25f, -0.5f};  // kernel [2,2] row-major, bias [2]
  auto dense = [&](float a, float b, float* o) {
    o[0] = a * w[0] + b * w[2] + w[4];
    o[1] = a * w[1] + b * w[3] + w[5];
  };
  for (bool keras3 : {false, true}) {
    SCOPED_TRACE(keras3 ? "keras 3" : "keras 2");
    std::unique_ptr<Model> m;
    Status s = Load(Doc(SharedDenseModel(keras3), Manifest({{"d/kernel", {2, 2}}, {"d/bias", {2}}})).dump(), {Bytes(w)}, &m);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(m->info().layers.size(), 4u);  // input, d, r, d (second call)
    std::vector<float> x = {1.5f, -0.5f}, y(2);
    ASSERT_TRUE(m->Run(x.data(), 1, y.data()).ok());
    float h[2], want[2];
    dense(x[0], x[1], h);
    dense(std::max(h[0], 0.f), std::max(h[1], 0.f), want);
    EXPECT_FLOAT_EQ(y[0], want[0]);
    EXPECT_FLOAT_EQ(y[1], want[1]);
  }
}

TEST(Dialects, SharedLayerAndNestedModelErrorsNameTheLayer) {
  std::unique_ptr<Model> m;
  json topo = SharedDenseModel(false);
  topo["config"]["output_layers"] = {{"d", 2, 0}};
  ExpectError(ParseOnly(Doc(topo, Manifest({{"d/kernel", {2, 2}}, {"d/bias", {2}}})).dump(), &m),
              {"model 'shared'", "output_layers names call 2 of shared layer 'd'", "2 calls"});
  // A shared Dense called on a 2- then on a 3-wide input would need two kernels.
  topo = SharedDenseModel(false);
  topo["config"]["layers"][1]["config"]["units"] = 3;
  ExpectError(ParseOnly(Doc(topo, Manifest({{"d/kernel", {2, 3}}, {"d/bias", {3}}})).dump(), &m),
              {"layer 'd' (Dense)", "shared layer called on inputs of different shapes", "call it on one input shape"});
  // A nested model called twice.
  topo = SharedDenseModel(false);
  topo["config"]["layers"][1]["class_name"] = "Sequential";
  ExpectError(ParseOnly(Doc(topo, json::array()).dump(), &m), {"nested model 'd' is called 2 times", "not supported"});
}

TEST(Dialects, CustomSubclassLoadsWithALayerAliasAndTheErrorSuggestsIt) {
  json topo = DenseTopology();
  topo["config"]["layers"][1]["class_name"] = "MyProjectDense";
  topo["config"]["layers"][1]["module"] = "my_project.layers";
  topo["config"]["layers"][1]["registered_name"] = "MyProject>MyProjectDense";
  std::unique_ptr<Model> m;
  ExpectError(ParseOnly(Doc(topo, DenseManifest()).dump(), &m),
              {"test/model.json", "layer 'd2'", "unsupported class 'MyProjectDense'", "subclass of Dense",
               "--layer-alias MyProjectDense=Dense", "layerAliases: {MyProjectDense: 'Dense'}"});
  for (const char* alias : {"MyProjectDense=Dense", "MyProject>MyProjectDense=Dense"}) {
    SCOPED_TRACE(alias);
    LoadOptions opt;
    ASSERT_TRUE(catdog::ParseLayerAlias(alias, &opt).ok());
    ExpectDenseRuns(topo, DenseManifest(), opt);
  }
  // An unknown class that names no class the core runs: the generic form of the hint.
  topo["config"]["layers"][1]["class_name"] = "LSTM";
  ExpectError(ParseOnly(Doc(topo, DenseManifest()).dump(), &m), {"unsupported class 'LSTM'", "catdog runs Dense", "--layer-alias LSTM=BASE"});
}

TEST(Dialects, LayerAliasTextIsCheckedWhenParsedAndWhenLoaded) {
  LoadOptions opt;
  ExpectError(catdog::ParseLayerAlias("MyConv", &opt), {"--layer-alias 'MyConv'", "expected NAME=CLASS"});
  ExpectError(catdog::ParseLayerAlias("=Conv2D", &opt), {"expected NAME=CLASS"});
  ExpectError(catdog::ParseLayerAlias("MyConv=", &opt), {"expected NAME=CLASS"});
  ExpectError(catdog::ParseLayerAlias("MyConv=LSTM", &opt), {"'MyConv=LSTM'", "'LSTM' is not a layer class catdog runs", "DepthwiseConv2D"});
  ExpectError(catdog::ParseLayerAlias("MyConv=InputLayer", &opt), {"not a layer class catdog runs"});
  ExpectError(catdog::ParseLayerAlias("Dense=Conv2D", &opt), {"'Dense' is a class catdog knows itself"});
  ASSERT_TRUE(catdog::ParseLayerAlias("MyConv=Conv2D", &opt).ok());
  ASSERT_TRUE(catdog::ParseLayerAlias("MyConv=Conv2D", &opt).ok());  // the same twice is harmless
  ExpectError(catdog::ParseLayerAlias("MyConv=DepthwiseConv2D", &opt), {"'MyConv' is also aliased to 'Conv2D'"});
  EXPECT_EQ(opt.layer_aliases.size(), 1u);
  // Filled by hand, the options are checked again by Parse.
  LoadOptions bad;
  bad.layer_aliases = {{"X", "Nope"}};
  std::unique_ptr<Model> m;
  ExpectError(ParseOnly(Doc(DenseTopology(), DenseManifest()).dump(), &m, bad), {"test/model.json", "'X=Nope'", "'Nope' is not a layer class"});
}

}  // namespace

// Trainer, export and metrics tests. Real photos from ../shared/data (CATDOG_DATA overrides): a
// few hundred are decoded once (cv::imread + the core's preprocess_u8) into an in-memory pack.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "augment.h"
#include "catdog/catdog.h"
#include "catdog/sha256.h"
#include "export.h"
#include "finetune.h"
#include "learning_check.h"
#include "models_torch.h"
#include "fsutil.h"
#include "metrics.h"
#include "models.h"
#include "onnx_export.h"
#include "pack.h"
#include "seal.h"
#include "tensorboard.h"
#include "test_util.h"
#include "train.h"

namespace {

using namespace catdog;
using namespace catdog::train;
using json = nlohmann::json;
namespace stdfs = std::filesystem;
using catdog::test::TempDir;

// ---- helpers --------------------------------------------------------------------------------------

std::vector<float> RandomInputs(int n, int size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<float> v(size_t(n) * size * size);
  for (float& x : v) x = u(rng);
  return v;
}

// Glorot init plus random biases / BN statistics, so every tensor matters.
Checkpoint RandomCheckpoint(const ArchSpec& arch, int size, uint64_t seed) {
  Checkpoint ck;
  Status s = InitCheckpoint(arch, size, seed, &ck);
  EXPECT_TRUE(s) << s.message();
  std::mt19937 rng(uint32_t(seed) + 7);
  std::uniform_real_distribution<float> u(-0.2f, 0.2f);
  for (HostTensor& t : ck.tensors) {
    const bool var = t.name.find("running_var") != std::string::npos;
    if (t.name.find(".bias") != std::string::npos || t.name.find("running_mean") != std::string::npos || var)
      for (float& x : t.data) x = var ? 0.02f + std::fabs(u(rng)) * 0.1f : u(rng);
  }
  return ck;
}

Status CoreRun(const TfjsModel& m, const std::vector<float>& in, int n, std::vector<float>* out,
               Backend backend = Backend::kReference) {
  std::unique_ptr<Model> model;
  LoadOptions lo;
  lo.backend = backend;
  Status s = Model::Parse(m.model_json, &model, lo, "exported model.json");
  if (!s) return s;
  std::vector<ShardBytes> shards;
  for (const auto& sh : m.shards) shards.push_back({sh.data(), sh.size()});
  s = model->LoadWeights(shards);
  if (!s) return s;
  out->assign(size_t(n) * model->output_size(), 0.f);
  return model->Run(in.data(), n, out->data());
}

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) d = std::max(d, std::fabs(double(a[i]) - b[i]));
  return d;
}

std::vector<std::string> ListFiles(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = stdfs::recursive_directory_iterator(dir, ec); !ec && it != stdfs::recursive_directory_iterator();
       it.increment(ec))
    out.push_back(it->path().lexically_relative(dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

bool HasTempFiles(const std::string& dir) {
  for (const std::string& f : ListFiles(dir))
    if (f.find(".tmp") != std::string::npos) return true;
  return false;
}

// ---- real photos -----------------------------------------------------------------------------------

// `per_class` cats and dogs (lowest numeric ids from `first_id` that decode), every fifth of each
// class in the validation split, deterministic.
pack::Pack LoadRealPack(int per_class, int first_id, const std::string& hash) {
  pack::Pack pack;
  const std::string dir = catdog::test::RealDataDir();
  if (dir.empty()) return pack;
  pack.size = 100;
  pack.fit = "stretch";
  pack.gray = "bt601";
  pack.content_hash = hash;
  for (int label : {0, 1}) {
    const std::string cls = dir + (label ? "/PetImages/Dog/" : "/PetImages/Cat/");
    int taken = 0;
    for (int id = first_id; id < first_id + 4 * per_class + 100 && taken < per_class; ++id) {
      const std::string path = cls + std::to_string(id) + ".jpg";
      std::error_code ec;
      if (!stdfs::exists(path, ec)) continue;
      cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
      if (bgr.empty()) continue;
      cv::Mat rgb;
      cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
      std::vector<uint8_t> px(100 * 100);
      ImageView v{rgb.data, rgb.cols, rgb.rows, int(rgb.step), PixelFormat::kRGB8};
      if (!preprocess_u8(v, Fit::kStretch, 100, px.data())) continue;
      pack.pixels.insert(pack.pixels.end(), px.begin(), px.end());
      pack.labels.push_back(uint8_t(label));
      pack.splits.push_back(taken % 5 == 4 ? pack::kVal : pack::kTrain);
      pack.paths.push_back(std::string(label ? "Dog/" : "Cat/") + std::to_string(id) + ".jpg");
      ++taken;
    }
  }
  EXPECT_EQ(pack.count(), size_t(2 * per_class)) << "could not decode " << per_class << " photos per class from " << dir;
  return pack;
}

// 150 cats + 150 dogs, 240 train / 60 val.
const pack::Pack& RealPack() {
  static const pack::Pack pack = LoadRealPack(150, 0, "test-in-memory-300");
  return pack;
}

TrainOptions QuickOptions(const std::string& out, const std::string& arch = "dense") {
  TrainOptions o;
  o.arch = arch;
  o.epochs = 3;
  o.batch = 32;
  o.seed = 42;
  o.device = "cpu";
  o.out_dir = out;
  o.progress = 0;
  o.pack_path = "in-memory";
  return o;
}

// ---- TensorBoard events ----------------------------------------------------------------------------

TEST(TensorBoard, Crc32cKnownValues) {
  EXPECT_EQ(tb::Crc32c("123456789", 9), 0xE3069283u);  // the CRC-32C check value
  EXPECT_EQ(tb::Crc32c("", 0), 0u);
  const uint32_t c = tb::Crc32c("abc", 3);
  EXPECT_EQ(tb::MaskedCrc32c("abc", 3), ((c >> 15) | (c << 17)) + 0xa282ead8u);
}

TEST(TensorBoard, WriteAndParseBack) {
  TempDir t;
  tb::EventWriter w;
  ASSERT_TRUE(w.Open(t.path("logs/train")));
  ASSERT_TRUE(w.AddScalar("epoch_loss", 0.6931f, 0, 1000.5));
  ASSERT_TRUE(w.AddScalar("epoch_accuracy", 0.75f, 1, 1001.25));
  const std::string path = w.path();
  w.Close();
  EXPECT_NE(stdfs::path(path).filename().string().find("events.out.tfevents."), std::string::npos);
  std::vector<tb::Event> ev;
  Status s = tb::ReadEventFile(path, &ev);
  ASSERT_TRUE(s) << s.message();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].file_version, "brain.Event:2");
  ASSERT_EQ(ev[1].scalars.size(), 1u);
  EXPECT_EQ(ev[1].scalars[0].first, "epoch_loss");
  EXPECT_FLOAT_EQ(ev[1].scalars[0].second, 0.6931f);
  EXPECT_EQ(ev[1].step, 0);
  EXPECT_DOUBLE_EQ(ev[1].wall_time, 1000.5);
  EXPECT_EQ(ev[2].scalars[0].first, "epoch_accuracy");
  EXPECT_EQ(ev[2].step, 1);
  // Flip one payload byte: the reader must notice.
  std::vector<uint8_t> bytes;
  ASSERT_TRUE(fs::ReadFile(path, &bytes));
  bytes[bytes.size() - 6] ^= 0x40;
  ASSERT_TRUE(fs::WriteFileAtomic(path, bytes.data(), bytes.size()));
  s = tb::ReadEventFile(path, &ev);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("CRC"), std::string::npos) << s.message();
}

TEST(TensorBoard, EventEncodingIsProtobuf) {
  tb::Event e;
  e.wall_time = 1.0;
  e.step = 3;
  e.scalars.push_back({"a", 1.0f});
  const std::string b = tb::EncodeEvent(e);
  // wall_time: tag 0x09 + 8 bytes; step: 0x10 0x03; summary: 0x2a len { 0x0a len { 0x0a 1 'a' 0x15 f32 } }
  ASSERT_EQ(b.size(), 9u + 2u + 2u + 2u + 3u + 5u);
  EXPECT_EQ(uint8_t(b[0]), 0x09);
  EXPECT_EQ(uint8_t(b[9]), 0x10);
  EXPECT_EQ(uint8_t(b[10]), 0x03);
  EXPECT_EQ(uint8_t(b[11]), 0x2a);
  EXPECT_EQ(uint8_t(b[12]), 10);
  EXPECT_EQ(uint8_t(b[15]), 0x0a);
  EXPECT_EQ(b[17], 'a');
  EXPECT_EQ(uint8_t(b[18]), 0x15);
}

// ---- registry, base64, pieces of the export ---------------------------------------------------------

TEST(Models, TutorialCnnShapesAndKerasNames) {
  const ArchSpec* cnn = FindArch("cnn");
  ASSERT_NE(cnn, nullptr);
  std::vector<ResolvedLayer> l;
  ASSERT_TRUE(ResolveArch(*cnn, 100, &l));
  std::vector<std::string> names;
  for (auto& r : l) names.push_back(r.name);
  EXPECT_EQ(names, (std::vector<std::string>{"conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1", "conv2d_2",
                                             "max_pooling2d_2", "flatten", "dense", "dense_1"}));
  EXPECT_EQ(l[0].out_shape, (std::vector<int64_t>{98, 98, 32}));
  EXPECT_EQ(l[5].out_shape, (std::vector<int64_t>{10, 10, 128}));
  EXPECT_EQ(l[6].out_shape, (std::vector<int64_t>{12800}));
  auto t = ModelTensors(l);
  ASSERT_EQ(t.size(), 10u);
  EXPECT_EQ(t[6].name, "dense.weight");
  EXPECT_EQ(t[6].shape, (std::vector<int64_t>{100, 12800}));
  EXPECT_NE(FindArch("dense"), nullptr);
  EXPECT_NE(FindArch("cnn-dropout"), nullptr);
  EXPECT_EQ(FindArch("nope"), nullptr);
}

TEST(Models, RejectsImpossibleArchitectures) {
  std::vector<ResolvedLayer> l;
  ArchSpec a{"bad", "", {Conv(8), Dense(1, Activation::kSigmoid)}};
  Status s = ResolveArch(a, 100, &l);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("Flatten"), std::string::npos) << s.message();
  ArchSpec b{"big", "", {Conv(8, 9), Flatten(), Dense(1, Activation::kSigmoid)}};
  EXPECT_FALSE(ResolveArch(b, 5, &l));
  ArchSpec c{"nosig", "", {Flatten(), Dense(1, Activation::kRelu)}};
  EXPECT_FALSE(ResolveArch(c, 10, &l));
}

TEST(Models, ArchJsonRoundTrip) {
  ArchSpec a{"x", "desc", {SepConv(16), BatchNorm(), MaxPool(2), Conv(8, 3, Activation::kRelu, true), GlobalAvgPool(),
                           Dropout(0.25f), Dense(1, Activation::kSigmoid)}};
  ArchSpec b;
  ASSERT_TRUE(ArchFromJson(ArchToJson(a), &b));
  EXPECT_EQ(ArchToJson(a), ArchToJson(b));
  EXPECT_FALSE(ArchFromJson("{\"layers\":[{\"kind\":\"lstm\"}]}", &b));
  EXPECT_FALSE(ArchFromJson("not json", &b));
}

TEST(Base64, RoundTripAndErrors) {
  for (size_t n = 0; n < 10; ++n) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = uint8_t(i * 37 + 250);
    std::vector<uint8_t> back;
    ASSERT_TRUE(Base64Decode(Base64Encode(v.data(), v.size()), &back));
    EXPECT_EQ(back, v);
  }
  const uint8_t m[] = {'M', 'a', 'n'};
  EXPECT_EQ(Base64Encode(m, 3), "TWFu");
  EXPECT_EQ(Base64Encode(m, 1), "TQ==");
  std::vector<uint8_t> out;
  EXPECT_FALSE(Base64Decode("abc", &out));
  EXPECT_FALSE(Base64Decode("a*cd", &out));
}

TEST(Export, FlattenPermutationMapsNhwcToNchw) {
  const int64_t H = 2, W = 3, C = 4;
  auto perm = FlattenNhwcToNchw(H, W, C);
  ASSERT_EQ(perm.size(), size_t(H * W * C));
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) EXPECT_EQ(sorted[i], int64_t(i));
  // Keras index of (h=1, w=2, c=3) is (1*3+2)*4+3 = 23; torch's (c,h,w) index is (3*2+1)*3+2 = 23 too
  // (the last element is last in both); (h=0, w=1, c=0): keras 4, torch 1.
  EXPECT_EQ(perm[23], 23);
  EXPECT_EQ(perm[4], 1);
  EXPECT_EQ(perm[1], 6);  // keras (0,0,1) -> torch channel 1 plane start = 1*H*W
}

TEST(Export, HalfConversionRoundsToNearestEven) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3C00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xC000);
  EXPECT_EQ(FloatToHalf(65504.f), 0x7BFF);
  EXPECT_EQ(FloatToHalf(65520.f), 0x7C00);  // rounds up to infinity
  EXPECT_EQ(FloatToHalf(0.1f), 0x2E66);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(FloatToHalf(std::ldexp(1.f, -25)), 0x0000);  // tie -> even (zero)
  EXPECT_EQ(FloatToHalf(std::ldexp(3.f, -25)), 0x0002);  // 1.5 ulp -> 2 (even)
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.f, -11)), 0x3C00);  // tie -> even
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(3.f, -11)), 0x3C02);  // tie -> even (up)
  for (uint32_t h = 0; h < 0x7C00; ++h) {
    ASSERT_EQ(FloatToHalf(HalfToFloat(uint16_t(h))), h) << h;
    ASSERT_EQ(FloatToHalf(HalfToFloat(uint16_t(h | 0x8000))), h | 0x8000) << h;
  }
}

TEST(Export, AffineQuantizationKeepsZeroExact) {
  Quantized q;
  std::vector<float> v = {-1.f, 0.f, 0.25f, 1.f};
  ASSERT_TRUE(QuantizeTensor(v, "uint8", &q));
  ASSERT_EQ(q.bytes.size(), 4u);
  EXPECT_NEAR(q.scale, 2.0 / 255, 1e-12);
  EXPECT_EQ(q.bytes[1], 128);  // zero point round(127.5) = 128 (half to even)
  EXPECT_EQ(q.dequantized[1], 0.f);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(q.dequantized[i], v[i], q.scale / 2 + 1e-6);
  ASSERT_TRUE(QuantizeTensor(v, "uint16", &q));
  ASSERT_EQ(q.bytes.size(), 8u);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(q.dequantized[i], v[i], 2.0 / 65535);
  std::vector<float> zeros(5, 0.f);
  ASSERT_TRUE(QuantizeTensor(zeros, "uint8", &q));
  EXPECT_EQ(q.scale, 1.0);
  for (float d : q.dequantized) EXPECT_EQ(d, 0.f);
  std::vector<float> positive = {0.5f, 1.5f};  // 0 not in range: no nudging
  ASSERT_TRUE(QuantizeTensor(positive, "uint8", &q));
  EXPECT_DOUBLE_EQ(q.min, 0.5);
  EXPECT_FALSE(QuantizeTensor(v, "int4", &q));
}

// ---- export -> the shared core -----------------------------------------------------------------------

// K classes: every architecture with a Dense(3, softmax) head exports to a model the core runs as
// libtorch does (3 probabilities an image), and a two-class model widened to three (--new-head)
// answers its two classes exactly as before.
TEST(Export, KClassHeadsMatchLibtorchInTheCoreAndWideningKeepsTheTwoClasses) {
  for (const char* name : {"cnn", "catnet"}) {
    SCOPED_TRACE(name);
    const ArchSpec arch3 = WithClasses(*FindArch(name), 3);
    EXPECT_EQ(ArchClasses(arch3), 3);
    Checkpoint ck = RandomCheckpoint(arch3, 100, 5);
    ck.meta_json = R"({"labels": ["cat", "dog", "neither"]})";
    auto in = RandomInputs(3, 100, 13);
    std::vector<float> torch_out, core_out;
    ASSERT_TRUE(TorchPredict(ck, in.data(), 3, &torch_out));
    ASSERT_EQ(torch_out.size(), 9u);
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(torch_out[3 * i] + torch_out[3 * i + 1] + torch_out[3 * i + 2], 1.0, 1e-5);
    TfjsModel m;
    Status s = BuildTfjsModel(ck, {}, &m);
    ASSERT_TRUE(s) << s.message();
    const json mj = json::parse(m.model_json);
    EXPECT_EQ(mj["userDefinedMetadata"]["catdog"]["labels"], json({"cat", "dog", "neither"}));
    s = CoreRun(m, in, 3, &core_out);
    ASSERT_TRUE(s) << s.message();
    EXPECT_LE(MaxAbsDiff(torch_out, core_out), 1e-4);
    // Labels that do not match the head are refused at export.
    ck.meta_json = R"({"labels": ["cat", "dog"]})";
    EXPECT_FALSE(BuildTfjsModel(ck, {}, &m));

    Checkpoint two = RandomCheckpoint(*FindArch(name), 100, 6), wide;
    two.meta_json = R"({"labels": ["cat", "dog"]})";
    ASSERT_TRUE(WidenHead(two, {"cat", "dog", "neither"}, &wide));
    EXPECT_EQ(ArchClasses(wide.arch), 3);
    std::vector<float> p2, p3;
    ASSERT_TRUE(TorchPredict(two, in.data(), 3, &p2));
    ASSERT_TRUE(TorchPredict(wide, in.data(), 3, &p3));
    for (int i = 0; i < 3; ++i) {
      const float dog_given_pet = p3[3 * i + 1] / (p3[3 * i] + p3[3 * i + 1]);
      EXPECT_NEAR(dog_given_pet, p2[i], 1e-5) << "image " << i;
    }
    EXPECT_FALSE(WidenHead(wide, {"a", "b", "c", "d"}, &two)) << "only a two-class model is widened";
  }
}

TEST(Export, TutorialModelsMatchLibtorchInTheCore) {
  for (const ArchSpec& arch : Architectures()) {
    SCOPED_TRACE(arch.name);
    Checkpoint ck = RandomCheckpoint(arch, 100, 3);
    // Noise around three brightness levels: global pooling models see different inputs too.
    auto in = RandomInputs(3, 100, 11);
    for (size_t i = 0; i < in.size(); ++i) in[i] = 0.1f + 0.4f * float(i / 10000) + 0.2f * (in[i] - 0.5f);
    std::vector<float> torch_out, core_out;
    ASSERT_TRUE(TorchPredict(ck, in.data(), 3, &torch_out));
    // A deep random net (catnet-teacher: eight BatchNorms with small random variances) drives the
    // sigmoid to exactly 0 or 1 for every input; shrink its last layer until the outputs spread.
    for (int k = 0; k < 6 && std::fabs(torch_out[0] - torch_out[1]) + std::fabs(torch_out[1] - torch_out[2]) <= 1e-5; ++k) {
      for (size_t t = ck.tensors.size() - 2; t < ck.tensors.size(); ++t)
        for (float& x : ck.tensors[t].data) x /= 30.f;
      ASSERT_TRUE(TorchPredict(ck, in.data(), 3, &torch_out));
    }
    TfjsModel m;
    Status s = BuildTfjsModel(ck, {}, &m);
    ASSERT_TRUE(s) << s.message();
    s = CoreRun(m, in, 3, &core_out);
    ASSERT_TRUE(s) << s.message();
    EXPECT_LE(MaxAbsDiff(torch_out, core_out), 1e-4);
    // The outputs must differ between inputs, or the comparison proves little.
    EXPECT_GT(std::fabs(torch_out[0] - torch_out[1]) + std::fabs(torch_out[1] - torch_out[2]), 1e-5)
        << torch_out[0] << " " << torch_out[1] << " " << torch_out[2];
    // Keras topology and manifest as the converter writes them.
    json j = json::parse(m.model_json);
    EXPECT_EQ(j["format"], "layers-model");
    EXPECT_EQ(j["modelTopology"]["model_config"]["class_name"], "Sequential");
    auto& layers = j["modelTopology"]["model_config"]["config"]["layers"];
    EXPECT_EQ(layers[0]["config"]["batch_input_shape"], json({nullptr, 100, 100, 1}));
    const size_t nshards = j["weightsManifest"][0]["paths"].size();
    EXPECT_EQ(nshards, m.shards.size());
    EXPECT_EQ(j["weightsManifest"][0]["paths"][0], "group1-shard1of" + std::to_string(nshards) + ".bin");
    EXPECT_EQ(j["userDefinedMetadata"]["catdog"]["labels"], json({"cat", "dog"}));
    EXPECT_EQ(j["userDefinedMetadata"]["catdog"]["golden"].size(), 3u);
  }
}

TEST(Export, ConvKernelIsHwioAndDenseIsInOut) {
  Checkpoint ck = RandomCheckpoint(*FindArch("cnn"), 100, 5);
  TfjsModel m;
  ASSERT_TRUE(BuildTfjsModel(ck, {}, &m));
  json j = json::parse(m.model_json);
  auto& w = j["weightsManifest"][0]["weights"];
  EXPECT_EQ(w[0]["name"], "conv2d/kernel");
  EXPECT_EQ(w[0]["shape"], json({3, 3, 1, 32}));
  EXPECT_EQ(w[2]["name"], "conv2d_1/kernel");
  EXPECT_EQ(w[2]["shape"], json({3, 3, 32, 64}));
  EXPECT_EQ(w[6]["name"], "dense/kernel");
  EXPECT_EQ(w[6]["shape"], json({12800, 100}));
  // conv2d_1/kernel[h=1][w=2][i=5][o=7] == torch weight[o=7][i=5][h=1][w=2]
  const float* blob = reinterpret_cast<const float*>(m.shards[0].data());
  size_t off = 3 * 3 * 1 * 32 + 32;
  EXPECT_EQ(blob[off + ((1 * 3 + 2) * 32 + 5) * 64 + 7], ck.tensors[2].data[((7 * 32 + 5) * 3 + 1) * 3 + 2]);
}

// `catdog export --format onnx` writes what `catdog convert --to onnx` makes of the TF.js export
// (tests/conformance/onnx.test.mjs runs the converted shipped models in ONNX Runtime), byte for byte.
TEST(Export, OnnxIsTheConvertedTfjsExport) {
  for (const ArchSpec& arch : Architectures()) {
    SCOPED_TRACE(arch.name);
    Checkpoint ck = RandomCheckpoint(arch, 100, 4);
    TempDir tmp;
    bool bad = true;
    Status s = ExportOnnx(ck, {}, tmp.path("a.onnx"), false, &bad);
    ASSERT_TRUE(s) << s.message();
    ASSERT_TRUE(s = ExportTfjs(ck, {}, tmp.path("m"))) << s.message();
    cli::ConvertOptions co;
    co.model = tmp.path("m");
    co.to = "onnx";
    co.out = tmp.path("b.onnx");
    cli::ConvertResult r;
    ASSERT_TRUE(s = cli::ConvertModel(co, &r, &bad)) << s.message();
    const std::string a = catdog::test::ReadAll(tmp.path("a.onnx"));
    EXPECT_GT(a.size(), 1000u);
    EXPECT_TRUE(a == catdog::test::ReadAll(tmp.path("b.onnx"))) << a.size() << " bytes vs " << r.bytes;
  }
  // An existing file is replaced only with force.
  TempDir tmp;
  const std::string out = tmp.path("x.onnx");
  std::ofstream(out) << "mine";
  Checkpoint ck = RandomCheckpoint(*FindArch("dense"), 100, 1);
  bool bad = false;
  Status s = ExportOnnx(ck, {}, out, false, &bad);
  EXPECT_FALSE(s);
  EXPECT_TRUE(bad);
  EXPECT_NE(s.message().find("--force"), std::string::npos) << s.message();
  EXPECT_EQ(catdog::test::ReadAll(out), "mine");
  ASSERT_TRUE(s = ExportOnnx(ck, {}, out, true, &bad)) << s.message();
  EXPECT_GT(catdog::test::ReadAll(out).size(), 1000u);
}

TEST(Export, FlattenOrderIsKerasNhwcForAPositionDependentDense) {
  // Conv (3 channels, linear) keeps spatial position; Dense after Flatten weighs every position
  // and channel differently: only the right NCHW -> NHWC row order reproduces libtorch.
  ArchSpec a{"positional", "", {Conv(3, 3, Activation::kLinear), Flatten(), Dense(1, Activation::kSigmoid)}};
  Checkpoint ck = RandomCheckpoint(a, 8, 9);
  for (HostTensor& t : ck.tensors)
    if (t.name == "dense.weight")
      for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = float(int(i * 7919 % 23) - 11) * 0.05f;
  TfjsModel m;
  ASSERT_TRUE(BuildTfjsModel(ck, {}, &m));
  auto in = RandomInputs(4, 8, 2);
  std::vector<float> torch_out, core_out;
  ASSERT_TRUE(TorchPredict(ck, in.data(), 4, &torch_out));
  ASSERT_TRUE(CoreRun(m, in, 4, &core_out));
  EXPECT_LE(MaxAbsDiff(torch_out, core_out), 1e-5);
  // Control: exporting the Dense rows in torch order gives different outputs.
  Checkpoint wrong = ck;
  for (HostTensor& t : wrong.tensors) {
    if (t.name != "dense.weight") continue;
    auto perm = FlattenNhwcToNchw(6, 6, 3);
    std::vector<float> d(t.data.size());
    for (size_t k = 0; k < perm.size(); ++k) d[size_t(perm[k])] = t.data[k];  // inverse: export will undo
    t.data = d;
  }
  TfjsModel mw;
  ASSERT_TRUE(BuildTfjsModel(wrong, {}, &mw));
  std::vector<float> wrong_out;
  ASSERT_TRUE(CoreRun(mw, in, 4, &wrong_out));
  EXPECT_GT(MaxAbsDiff(torch_out, wrong_out), 1e-3);
}

TEST(Export, QuantizedModelsLoadAndStayClose) {
  Checkpoint ck = RandomCheckpoint(*FindArch("cnn"), 100, 21);
  auto in = RandomInputs(2, 100, 4);
  std::vector<float> ref;
  ASSERT_TRUE(TorchPredict(ck, in.data(), 2, &ref));
  for (const char* q : {"float16", "uint16", "uint8"}) {
    SCOPED_TRACE(q);
    ExportOptions o;
    o.quantize = q;
    TfjsModel m;
    Status s = BuildTfjsModel(ck, o, &m);
    ASSERT_TRUE(s) << s.message();
    json j = json::parse(m.model_json);
    auto& w0 = j["weightsManifest"][0]["weights"][0];
    EXPECT_EQ(w0["quantization"]["dtype"], q);
    size_t bytes = 0;
    for (auto& sh : m.shards) bytes += sh.size();
    const size_t per = std::string(q) == "uint8" ? 1 : 2;
    size_t floats = 0;
    for (auto& t : ck.tensors) floats += t.data.size();
    EXPECT_EQ(bytes, floats * per);
    std::vector<float> out;
    s = CoreRun(m, in, 2, &out);
    ASSERT_TRUE(s) << s.message();
    EXPECT_LE(MaxAbsDiff(ref, out), std::string(q) == "uint8" ? 0.05 : 0.002);
    // Golden outputs are libtorch on the dequantized weights: the core must match them tightly.
    auto& golden = j["userDefinedMetadata"]["catdog"]["golden"];
    std::vector<float> gin, gexp, gout;
    for (auto& g : golden) {
      std::vector<uint8_t> u8;
      ASSERT_TRUE(Base64Decode(g["pixels_base64"].get<std::string>(), &u8));
      for (uint8_t v : u8) gin.push_back(v / 255.f);
      gexp.push_back(g["expected"][0].get<float>());
    }
    ASSERT_TRUE(CoreRun(m, gin, int(golden.size()), &gout));
    EXPECT_LE(MaxAbsDiff(gexp, gout), 1e-4);
  }
}

// The selfcheck block export writes: goldens through the core's preprocess, outputs from libtorch
// (on the dequantized weights), shard SHA-256; the core verifies it on the exported files.
TEST(Export, SelfCheckBlockHoldsLibtorchOutputsTheCoreVerifies) {
  for (const char* arch : {"dense", "cnn", "catnet"}) {
    for (const char* q : {"", "uint8"}) {
      SCOPED_TRACE(std::string(arch) + " " + q);
      Checkpoint ck = RandomCheckpoint(*FindArch(arch), 100, 5);
      ExportOptions o;
      o.quantize = q;
      TfjsModel m;
      Status s = BuildTfjsModel(ck, o, &m);
      ASSERT_TRUE(s) << s.message();
      json j = json::parse(m.model_json);
      const json& block = j["userDefinedMetadata"]["catdog"]["selfcheck"];
      ASSERT_TRUE(block.is_object());
      EXPECT_EQ(block["source"], "libtorch");
      EXPECT_EQ(block["preprocess"]["name"], kPreprocessName);
      EXPECT_EQ(block["preprocess"]["size"], 100);
      ASSERT_EQ(block["shards"].size(), m.shards.size());
      EXPECT_EQ(block["shards"][0]["sha256"], Sha256::Hex(m.shards[0].data(), m.shards[0].size()));
      // Expected outputs are libtorch's on the preprocessed goldens (the RGBA one included).
      std::vector<SelfCheckGolden> goldens = DefaultSelfCheckGoldens(100, {});
      ASSERT_EQ(block["goldens"].size(), goldens.size());
      EXPECT_EQ(block["goldens"].back()["format"], "rgba8");
      Checkpoint deq = ck;
      if (*q) {
        for (auto& t : deq.tensors) {
          Quantized qt;
          ASSERT_TRUE(QuantizeTensor(t.data, q, &qt));
          t.data = qt.dequantized;
        }
      }
      std::vector<float> in, one, torch_out;
      for (const auto& g : goldens) {
        ASSERT_TRUE(PreprocessGolden(g, 100, &one));
        in.insert(in.end(), one.begin(), one.end());
      }
      ASSERT_TRUE(TorchPredict(deq, in.data(), int(goldens.size()), &torch_out));
      for (size_t i = 0; i < goldens.size(); ++i)
        EXPECT_EQ(block["goldens"][i]["expected"][0].get<float>(), torch_out[i]) << i;
      // The core, on every backend, reproduces them within the block's tolerance.
      for (Backend b : {Backend::kReference, Backend::kSimd, Backend::kXnnpack}) {
        if (!BackendAvailable(b)) continue;
        LoadOptions lo;
        lo.backend = b;
        std::unique_ptr<Model> model;
        ASSERT_TRUE(Model::Parse(m.model_json, &model, lo));
        std::vector<ShardBytes> shards;
        for (const auto& sh : m.shards) shards.push_back({sh.data(), sh.size()});
        ASSERT_TRUE(model->LoadWeights(shards));
        SelfCheckReport rep;
        ASSERT_TRUE(RunSelfCheck(*model, shards, &rep));
        EXPECT_TRUE(rep.verified()) << BackendName(b) << ": " << rep.Summary();
        EXPECT_EQ(rep.total, int(1 + goldens.size() + m.shards.size()));
      }
    }
  }
}

TEST(Export, ShardsAreSplitLikeTheConverter) {
  Checkpoint ck = RandomCheckpoint(*FindArch("cnn"), 100, 1);
  TfjsModel m;
  ASSERT_TRUE(BuildTfjsModel(ck, {}, &m));  // 5.2 MB of float32 -> 2 shards of <= 4 MiB
  ASSERT_EQ(m.shards.size(), 2u);
  EXPECT_EQ(m.shard_names[0], "group1-shard1of2.bin");
  EXPECT_EQ(m.shard_names[1], "group1-shard2of2.bin");
  EXPECT_EQ(m.shards[0].size(), 4u * 1024 * 1024);
  ExportOptions o;
  o.max_shard_bytes = 100000;
  TfjsModel small;
  ASSERT_TRUE(BuildTfjsModel(ck, o, &small));
  EXPECT_EQ(small.shards.size(), (m.shards[0].size() + m.shards[1].size() + 99999) / 100000);
  auto in = RandomInputs(1, 100, 8);
  std::vector<float> a, b;
  ASSERT_TRUE(CoreRun(m, in, 1, &a));
  ASSERT_TRUE(CoreRun(small, in, 1, &b));
  EXPECT_EQ(a, b);
}

TEST(Export, WritesAtomicallyAndRefusesForeignDirectories) {
  TempDir t;
  Checkpoint ck = RandomCheckpoint(*FindArch("dense"), 100, 2);
  const std::string out = t.path("model");
  ASSERT_TRUE(ExportTfjs(ck, {}, out));
  // .catdog-output: the marker listing what catdog wrote (model_files.h, DESIGN contract 4).
  EXPECT_EQ(ListFiles(out),
            (std::vector<std::string>{".catdog-output", "group1-shard1of2.bin", "group1-shard2of2.bin", "model.json"}));
  ExportOptions q;
  q.quantize = "uint8";
  ASSERT_TRUE(ExportTfjs(ck, q, out));  // replaces the previous export (the marker lists everything there)
  EXPECT_EQ(ListFiles(out), (std::vector<std::string>{".catdog-output", "group1-shard1of1.bin", "model.json"}));
  EXPECT_EQ(ListFiles(t.root()).size(), 4u);  // model/ + its three files: no temp dirs left behind
  std::unique_ptr<Model> model;
  Status s = fs::LoadModelDir(out, {}, &model);
  EXPECT_TRUE(s) << s.message();
  ASSERT_TRUE(fs::WriteFileAtomic(t.path("notes/readme.txt"), std::string("mine")));
  s = ExportTfjs(ck, {}, t.path("notes"));
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("Refusing"), std::string::npos) << s.message();
  EXPECT_TRUE(stdfs::exists(t.path("notes/readme.txt")));
  EXPECT_FALSE(stdfs::exists(t.path("notes/model.json")));
  // With force: the model's files are written, the user's file is kept.
  ExportOptions f;
  f.force = true;
  ASSERT_TRUE(ExportTfjs(ck, f, t.path("notes")));
  EXPECT_EQ(ListFiles(t.path("notes")), (std::vector<std::string>{".catdog-output", "group1-shard1of2.bin",
                                                                  "group1-shard2of2.bin", "model.json", "readme.txt"}));
}

TEST(Export, RejectsNonFiniteWeights) {
  Checkpoint ck = RandomCheckpoint(*FindArch("dense"), 100, 2);
  ck.tensors[1].data[3] = std::nanf("");
  TfjsModel m;
  Status s = BuildTfjsModel(ck, {}, &m);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find(ck.tensors[1].name), std::string::npos) << s.message();
}

TEST(Checkpoint, RoundTripAndBadFiles) {
  TempDir t;
  ArchSpec a{"custom", "sep+bn", {SepConv(4), BatchNorm(), MaxPool(2), GlobalAvgPool(), Dense(1, Activation::kSigmoid)}};
  Checkpoint ck = RandomCheckpoint(a, 16, 4);
  ck.meta_json = R"({"note": "hello"})";
  ASSERT_TRUE(WriteCheckpoint(t.path("c.pt"), ck));
  Checkpoint back;
  Status s = ReadCheckpoint(t.path("c.pt"), &back);
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(ArchToJson(back.arch), ArchToJson(a));
  ASSERT_EQ(back.tensors.size(), ck.tensors.size());
  for (size_t i = 0; i < ck.tensors.size(); ++i) EXPECT_EQ(back.tensors[i].data, ck.tensors[i].data) << ck.tensors[i].name;
  EXPECT_EQ(json::parse(back.meta_json)["note"], "hello");
  // Not a checkpoint / truncated: errors naming the file, no crash.
  ASSERT_TRUE(fs::WriteFileAtomic(t.path("junk.pt"), std::string("definitely not a zip")));
  s = ReadCheckpoint(t.path("junk.pt"), &back);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("junk.pt"), std::string::npos);
  std::vector<uint8_t> bytes;
  ASSERT_TRUE(fs::ReadFile(t.path("c.pt"), &bytes));
  bytes.resize(bytes.size() / 2);
  ASSERT_TRUE(fs::WriteFileAtomic(t.path("half.pt"), bytes.data(), bytes.size()));
  EXPECT_FALSE(ReadCheckpoint(t.path("half.pt"), &back));
  EXPECT_FALSE(ReadCheckpoint(t.path("missing.pt"), &back));
  // BatchNorm + separable conv export matches libtorch in the core as well.
  TfjsModel m;
  s = BuildTfjsModel(ck, {}, &m);
  ASSERT_TRUE(s) << s.message();
  auto in = RandomInputs(2, 16, 3);
  std::vector<float> tout, cout;
  ASSERT_TRUE(TorchPredict(ck, in.data(), 2, &tout));
  s = CoreRun(m, in, 2, &cout);
  ASSERT_TRUE(s) << s.message();
  EXPECT_LE(MaxAbsDiff(tout, cout), 1e-4);
}

// ---- metrics ----------------------------------------------------------------------------------------

TEST(Metrics, SmallHandComputedCase) {
  // labels:  0    0    1    1    1
  // p(dog): .1   .6   .4   .8   .9   -> predictions 0 1 0 1 1 (threshold .5)
  std::vector<float> p = {0.1f, 0.6f, 0.4f, 0.8f, 0.9f};
  std::vector<uint8_t> y = {0, 0, 1, 1, 1};
  metrics::Report r;
  ASSERT_TRUE(metrics::Compute(p, y, 0.5, 10, &r));
  EXPECT_DOUBLE_EQ(r.accuracy, 0.6);
  EXPECT_EQ(r.confusion[0][0], 1);
  EXPECT_EQ(r.confusion[0][1], 1);
  EXPECT_EQ(r.confusion[1][0], 1);
  EXPECT_EQ(r.confusion[1][1], 2);
  EXPECT_DOUBLE_EQ(r.precision[1], 2.0 / 3);
  EXPECT_DOUBLE_EQ(r.recall[1], 2.0 / 3);
  EXPECT_DOUBLE_EQ(r.precision[0], 0.5);
  EXPECT_DOUBLE_EQ(r.recall[0], 0.5);
  // AUC: positive/negative pairs ordered right: (.4>.1) (.8>.1,.6) (.9>.1,.6) = 5 of 6.
  EXPECT_NEAR(r.auc, 5.0 / 6, 1e-12);
  // ECE over bins [.1,.2) [.4,.5) [.6,.7) [.8,.9) [.9,1]: each 1 sample; |frac - mean| = .1 .6 .6 .2 .1
  EXPECT_NEAR(r.ece, (0.1 + 0.6 + 0.6 + 0.2 + 0.1) / 5, 1e-6);
  EXPECT_EQ(r.calibration.size(), 10u);
  EXPECT_EQ(r.calibration[4].count, 1u);
  EXPECT_NEAR(r.log_loss, -(std::log(0.9) + std::log(0.4) + std::log(0.4) + std::log(0.8) + std::log(0.9)) / 5, 1e-6);
  auto worst = metrics::WorstMistakes(p, y, 0.5, 10);
  EXPECT_EQ(worst, (std::vector<size_t>{1, 2}));  // |.6-0| = .6 == |.4-1| = .6: stable order
  json j = metrics::ToJson(r);
  EXPECT_EQ(j["confusion"], json({{1, 1}, {1, 2}}));
}

TEST(Metrics, TiesUndefinedValuesAndErrors) {
  std::vector<float> p = {0.5f, 0.5f, 0.5f, 0.5f};
  std::vector<uint8_t> y = {0, 1, 0, 1};
  EXPECT_DOUBLE_EQ(metrics::RocAuc(p, y), 0.5);
  metrics::Report r;
  ASSERT_TRUE(metrics::Compute({0.2f, 0.3f}, {0, 0}, 0.5, 10, &r));
  EXPECT_TRUE(std::isnan(r.auc));
  EXPECT_TRUE(std::isnan(r.precision[1]));
  EXPECT_TRUE(std::isnan(r.recall[1]));
  EXPECT_TRUE(metrics::ToJson(r)["auc"].is_null());
  Status s = metrics::Compute({0.2f, 1.5f}, {0, 1}, 0.5, 10, &r);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("score 1"), std::string::npos);
  EXPECT_FALSE(metrics::Compute({0.2f}, {0, 1}, 0.5, 10, &r));
  EXPECT_FALSE(metrics::Compute({}, {}, 0.5, 10, &r));
  EXPECT_FALSE(metrics::Compute({0.2f}, {2}, 0.5, 10, &r));
  EXPECT_EQ(metrics::RocAuc({0.1f, 0.9f}, {0, 1}), 1.0);
  EXPECT_EQ(metrics::RocAuc({0.9f, 0.1f}, {0, 1}), 0.0);
}

// ---- training on real photos --------------------------------------------------------------------------

TEST(Train, DenseOnRealPhotosLearnsAndWritesEverything) {
  const pack::Pack& pack = RealPack();
  ASSERT_EQ(pack.count(), 300u);
  TempDir t;
  TrainOptions o = QuickOptions(t.path("run"));
  o.epochs = 5;
  TrainResult r;
  Status s = Train(pack, o, &r);
  ASSERT_TRUE(s) << s.message();
  ASSERT_EQ(r.history.size(), 5u);
  EXPECT_LT(r.history.back().loss, r.history.front().loss) << "training loss did not go down";
  EXPECT_GT(r.history.back().accuracy, 0.5);
  for (const auto& e : r.history) {
    EXPECT_TRUE(std::isfinite(e.val_loss));
    EXPECT_GT(e.images_per_s, 0);
  }
  EXPECT_EQ(r.stop_reason, "epochs");
  const std::string run = t.path("run");
  for (const char* f : {"best.pt", "last.pt", "history.jsonl", "run.json"}) EXPECT_TRUE(stdfs::exists(run + "/" + f)) << f;
  EXPECT_FALSE(HasTempFiles(run));
  std::ifstream hist(run + "/history.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(hist, line)) {
    json e = json::parse(line);
    EXPECT_EQ(e["epoch"], ++lines);
    for (const char* k : {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "images_per_s"})
      EXPECT_TRUE(e[k].is_number()) << k;
  }
  EXPECT_EQ(lines, 5);
  std::string card_text;
  ASSERT_TRUE(fs::ReadTextFile(run + "/run.json", &card_text));
  json card = json::parse(card_text);
  EXPECT_EQ(card["arch"], "dense");
  EXPECT_EQ(card["status"], "finished");
  EXPECT_EQ(card["pack"]["content_hash"], "test-in-memory-300");
  EXPECT_EQ(card["pack"]["train_images"], 240);
  EXPECT_EQ(card["best_epoch"], r.best_epoch);
  // The GPU-only paths are reported as not used on the CPU (they are checked on the GPU machine by
  // fused_cuda_check and scripts/gpu/job-speed).
  EXPECT_EQ(card["cuda_graph"], false);
  EXPECT_EQ(card["fused_kernels"], false);
  // TensorBoard: Keras-style train/ and validation/ runs with epoch_loss at steps 0..4.
  for (const char* sub : {"train", "validation"}) {
    auto files = ListFiles(run + "/logs/" + sub);
    ASSERT_EQ(files.size(), 1u) << sub;
    std::vector<tb::Event> ev;
    s = tb::ReadEventFile(run + "/logs/" + sub + "/" + files[0], &ev);
    ASSERT_TRUE(s) << s.message();
    std::vector<int64_t> steps;
    for (auto& e : ev)
      for (auto& [tag, v] : e.scalars)
        if (tag == "epoch_loss") {
          steps.push_back(e.step);
          const double want = std::string(sub) == "train" ? r.history[size_t(e.step)].loss : r.history[size_t(e.step)].val_loss;
          EXPECT_NEAR(v, want, 1e-5);
        }
    EXPECT_EQ(steps, (std::vector<int64_t>{0, 1, 2, 3, 4})) << sub;
  }
  // best.pt is the epoch with the lowest val_loss.
  Checkpoint best;
  ASSERT_TRUE(ReadCheckpoint(run, &best));
  EXPECT_EQ(json::parse(best.meta_json)["epoch"], r.best_epoch);
  double min_vl = 1e9;
  for (auto& e : r.history) min_vl = std::min(min_vl, e.val_loss);
  EXPECT_DOUBLE_EQ(r.best_val_loss, min_vl);
}

TEST(Train, ResumeReproducesAnUninterruptedRun) {
  const pack::Pack& pack = RealPack();
  ASSERT_EQ(pack.count(), 300u);
  TempDir t;
  TrainOptions a = QuickOptions(t.path("a"));
  a.augment = true;
  a.limit = 128;
  TrainResult ra;
  ASSERT_TRUE(Train(pack, a, &ra));
  TrainOptions b = a;
  b.out_dir = t.path("b");
  b.epochs = 2;
  TrainResult rb;
  ASSERT_TRUE(Train(pack, b, &rb));
  b.epochs = 3;
  b.resume = true;
  Status s = Train(pack, b, &rb);
  ASSERT_TRUE(s) << s.message();
  ASSERT_EQ(rb.history.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_DOUBLE_EQ(ra.history[i].loss, rb.history[i].loss) << "epoch " << i + 1;
    EXPECT_DOUBLE_EQ(ra.history[i].val_loss, rb.history[i].val_loss) << "epoch " << i + 1;
  }
  Checkpoint ca, cb;
  ASSERT_TRUE(ReadCheckpoint(t.path("a/last.pt"), &ca));
  ASSERT_TRUE(ReadCheckpoint(t.path("b/last.pt"), &cb));
  ASSERT_EQ(ca.tensors.size(), cb.tensors.size());
  for (size_t i = 0; i < ca.tensors.size(); ++i) EXPECT_EQ(ca.tensors[i].data, cb.tensors[i].data) << ca.tensors[i].name;
  // Resuming a finished run trains nothing more.
  TrainResult rc;
  ASSERT_TRUE(Train(pack, b, &rc));
  EXPECT_EQ(rc.history.size(), 3u);
  // Resuming with another architecture is refused.
  b.arch = "cnn";
  s = Train(pack, b, &rc);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("dense"), std::string::npos) << s.message();
}

TEST(Train, DivergingLossStopsAndKeepsTheLastGoodCheckpoint) {
  const pack::Pack& pack = RealPack();
  ASSERT_EQ(pack.count(), 300u);
  TempDir t;
  TrainOptions o = QuickOptions(t.path("run"));
  o.epochs = 1;
  o.limit = 64;
  TrainResult r;
  ASSERT_TRUE(Train(pack, o, &r));
  std::vector<uint8_t> before;
  ASSERT_TRUE(fs::ReadFile(t.path("run/last.pt"), &before));
  o.epochs = 3;
  o.resume = true;
  o.lr = 1e30;
  Status s = Train(pack, o, &r);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("loss is"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("epoch 1"), std::string::npos) << s.message();
  std::vector<uint8_t> after;
  ASSERT_TRUE(fs::ReadFile(t.path("run/last.pt"), &after));
  EXPECT_EQ(before, after);
  Checkpoint ck;
  ASSERT_TRUE(ReadCheckpoint(t.path("run/last.pt"), &ck));
  EXPECT_EQ(json::parse(ck.meta_json)["epoch"], 1);
  EXPECT_FALSE(HasTempFiles(t.path("run")));
  std::string card;
  ASSERT_TRUE(fs::ReadTextFile(t.path("run/run.json"), &card));
  EXPECT_EQ(json::parse(card)["status"], "failed: non-finite training loss at epoch 2");
  EXPECT_EQ(json::parse(card)["epochs_run"], 1);
  // From scratch: no checkpoint at all.
  TrainOptions f = QuickOptions(t.path("fresh"));
  f.lr = 1e30;
  f.limit = 64;
  s = Train(pack, f, &r);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("no checkpoint"), std::string::npos) << s.message();
}

TEST(Train, UntilLossAndPatienceStopEarly) {
  const pack::Pack& pack = RealPack();
  ASSERT_EQ(pack.count(), 300u);
  TempDir t;
  TrainOptions o = QuickOptions(t.path("until"));
  o.limit = 64;
  o.epochs = 10;
  o.until_loss = 50;  // any finite first-epoch loss is below this
  TrainResult r;
  ASSERT_TRUE(Train(pack, o, &r));
  EXPECT_EQ(r.stop_reason, "until-loss");
  EXPECT_EQ(r.history.size(), 1u);
  std::string card;
  ASSERT_TRUE(fs::ReadTextFile(t.path("until/run.json"), &card));
  EXPECT_EQ(json::parse(card)["stop_reason"], "until-loss");
  // Patience 1: the run must stop at the first epoch whose val_loss is not a new minimum.
  o = QuickOptions(t.path("patience"));
  o.limit = 64;
  o.epochs = 8;
  o.patience = 1;
  o.lr = 2e-2;  // a noisy run: val_loss gets worse early (here at epoch 2), which must stop it
  ASSERT_TRUE(Train(pack, o, &r));
  size_t expect_len = r.history.size();
  double best = 1e300;
  for (size_t i = 0; i < r.history.size(); ++i) {
    if (r.history[i].val_loss < best) {
      best = r.history[i].val_loss;
    } else {
      expect_len = i + 1;
      break;
    }
  }
  EXPECT_EQ(r.history.size(), expect_len);
  EXPECT_EQ(r.stop_reason, r.history.size() < 8 ? "patience" : "epochs");
}

TEST(Train, BadOptionsAreBadInput) {
  const pack::Pack& pack = RealPack();
  TempDir t;
  TrainResult r;
  TrainOptions o = QuickOptions(t.path("x"));
  o.arch = "resnet";
  Status s = Train(pack, o, &r);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.message().rfind("bad input: --arch 'resnet'", 0), 0u) << s.message();
  o = QuickOptions(t.path("x"));
  o.val_split = "test";  // the in-memory pack has no test split
  s = Train(pack, o, &r);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("'test' split"), std::string::npos) << s.message();
  o = QuickOptions(t.path("x"));
  o.device = "tpu";
  EXPECT_FALSE(Train(pack, o, &r));
  o = QuickOptions(t.path("x"));
  o.resume = true;
  s = Train(pack, o, &r);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("last.pt"), std::string::npos) << s.message();
}

// Distillation (--teacher): a teacher that always says "cat" pulls a student trained only on its
// soft targets (alpha 1) to "cat" for every photo although half the labels are dogs; the same
// student on the labels alone (alpha 0) learns dogs too. The run card names the teacher.
TEST(Train, DistillationFollowsTheTeacher) {
  const pack::Pack& pack = RealPack();
  ASSERT_EQ(pack.count(), 300u);
  TempDir t;
  Checkpoint teacher = RandomCheckpoint(*FindArch("dense"), 100, 9);
  HostTensor& w = teacher.tensors[teacher.tensors.size() - 2];
  HostTensor& b = teacher.tensors.back();
  ASSERT_EQ(b.name.substr(b.name.size() - 5), ".bias");
  std::fill(w.data.begin(), w.data.end(), 0.f);
  b.data[0] = -12.f;  // sigmoid(-12 / T) ~ 0: "cat" whatever the photo
  auto dogs_predicted = [&](const std::string& run) {
    Checkpoint ck;
    EXPECT_TRUE(ReadCheckpoint(run, &ck));
    std::vector<float> in;
    for (size_t i = 0; i < pack.count(); ++i)
      for (size_t k = 0; k < 100 * 100; ++k) in.push_back(float(pack.image(i)[k]) / 255.f);
    std::vector<float> p;
    EXPECT_TRUE(TorchPredict(ck, in.data(), int(pack.count()), &p));
    return std::count_if(p.begin(), p.end(), [](float v) { return v > 0.5f; });
  };
  for (double alpha : {1.0, 0.0}) {
    TrainOptions o = QuickOptions(t.path("run" + std::to_string(int(alpha))));
    o.epochs = 4;
    o.teachers.push_back(std::make_shared<const Checkpoint>(teacher));
    o.teachers_json = R"([{"path":"in-memory","arch":"dense"}])";
    o.distill_alpha = alpha;
    o.distill_temp = 1.0;
    TrainResult r;
    Status s = Train(pack, o, &r);
    ASSERT_TRUE(s) << s.message();
    const auto dogs = dogs_predicted(o.out_dir);
    if (alpha == 1.0) {
      EXPECT_EQ(dogs, 0) << "the student should follow the all-cat teacher";
      EXPECT_NEAR(r.history.back().accuracy, 0.5, 1e-9);
      std::string card;
      ASSERT_TRUE(fs::ReadTextFile(o.out_dir + "/run.json", &card));
      json c = json::parse(card);
      EXPECT_EQ(c["distillation"]["alpha"], 1.0);
      EXPECT_EQ(c["distillation"]["teachers"][0]["arch"], "dense");
    } else {
      EXPECT_GT(dogs, 30) << "on the labels alone the student should find dogs";
    }
  }
  // A teacher for another input size, and out-of-range knobs, are bad input naming the flag.
  TrainOptions o = QuickOptions(t.path("bad"));
  Checkpoint small = RandomCheckpoint(*FindArch("dense"), 50, 9);
  o.teachers.push_back(std::make_shared<const Checkpoint>(small));
  TrainResult r;
  Status s = Train(pack, o, &r);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.message().rfind("bad input: --teacher (dense): the model takes 50x50", 0), 0u) << s.message();
  o = QuickOptions(t.path("bad"));
  o.corrupt = 1.5;
  s = Train(pack, o, &r);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.message().rfind("bad input: --corrupt 1.5", 0), 0u) << s.message();
}

// Outlier exposure (--outliers). On a pack the dense model learns in a few epochs (a bright disc
// on noise: in the top half = "cat", in the bottom half = "dog"), trained with synthetic outliers it is unsure
// (P(dog) near 0.5) on fresh jigsaws of the validation images while staying as sure as before on
// the images themselves; trained alike without outliers it is confident on the jigsaws too. The
// run card records the fraction.
TEST(Train, OutlierExposureMakesScrambledImagesUnsure) {
  pack::Pack pack;
  pack.size = 100;
  pack.fit = "stretch";
  pack.gray = "bt601";
  pack.content_hash = "test-shapes-400";
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> noise(0, 70), row(18, 32), col(25, 75), radius(10, 14);
  for (int i = 0; i < 400; ++i) {
    const int label = i % 2, cy = label ? 100 - row(rng) : row(rng), cx = col(rng), r = radius(rng);
    for (int y = 0; y < 100; ++y)
      for (int x = 0; x < 100; ++x) {
        const bool in = (y - cy) * (y - cy) + (x - cx) * (x - cx) <= r * r;
        pack.pixels.push_back(uint8_t(noise(rng) + (in ? 180 : 0)));
      }
    pack.labels.push_back(uint8_t(label));
    pack.splits.push_back(i % 5 == 4 ? pack::kVal : pack::kTrain);
    pack.paths.push_back("shape" + std::to_string(i));
  }
  TempDir t;
  std::vector<float> val;
  std::vector<uint8_t> val_labels;
  for (size_t i = 0; i < pack.count(); ++i) {
    if (pack.splits[i] != pack::kVal) continue;
    for (size_t k = 0; k < 100 * 100; ++k) val.push_back(float(pack.image(i)[k]) / 255.f);
    val_labels.push_back(pack.labels[i]);
  }
  const int nv = int(val_labels.size());
  torch::manual_seed(11);
  torch::Tensor jig = catdog::train::JigsawOutliers(torch::from_blob(val.data(), {nv, 1, 100, 100}).clone(), nv);
  std::vector<float> jig_in(jig.data_ptr<float>(), jig.data_ptr<float>() + jig.numel());
  double on_jigsaws[2] = {0, 0}, on_images[2] = {0, 0}, accuracy[2] = {0, 0};
  for (int with : {1, 0}) {
    TrainOptions o = QuickOptions(t.path("run" + std::to_string(with)));
    o.epochs = 10;
    o.outliers = with ? 0.5 : 0.0;
    o.pack_path = "shapes";
    TrainResult r;
    Status s = Train(pack, o, &r);
    ASSERT_TRUE(s) << s.message();
    Checkpoint ck;
    ASSERT_TRUE(ReadCheckpoint(o.out_dir, &ck));
    std::vector<float> p;
    ASSERT_TRUE(TorchPredict(ck, jig_in.data(), nv, &p));
    for (float v : p) on_jigsaws[with] += std::fabs(v - 0.5) / nv;
    ASSERT_TRUE(TorchPredict(ck, val.data(), nv, &p));
    for (int i = 0; i < nv; ++i) {
      on_images[with] += std::fabs(p[size_t(i)] - 0.5) / nv;
      accuracy[with] += ((p[size_t(i)] > 0.5f) == (val_labels[size_t(i)] == 1)) / double(nv);
    }
    std::string card;
    ASSERT_TRUE(fs::ReadTextFile(o.out_dir + "/run.json", &card));
    EXPECT_EQ(json::parse(card).contains("outlier_exposure"), bool(with));
    if (with) EXPECT_EQ(json::parse(card)["outlier_exposure"]["fraction"], 0.5);
  }
  std::printf("mean |P(dog) - 0.5| with --outliers 0.5 / without: %d jigsaws %.4f / %.4f, the images %.4f / %.4f; "
              "val accuracy %.3f / %.3f\n", nv, on_jigsaws[1], on_jigsaws[0], on_images[1], on_images[0], accuracy[1],
              accuracy[0]);
  EXPECT_GT(accuracy[0], 0.9) << "the shapes should be easy";
  EXPECT_GT(accuracy[1], 0.9) << "with outliers the model should still tell the shapes apart";
  EXPECT_GT(on_jigsaws[0], 0.2) << "without outliers the model should be sure of jigsaws too";
  EXPECT_LT(on_jigsaws[1] * 2, on_jigsaws[0]) << "outlier exposure should halve the confidence on jigsaws";
  EXPECT_GT(on_images[1], 2 * on_jigsaws[1]) << "and stay sure of the images";
  TrainOptions o = QuickOptions(t.path("bad"));
  o.outliers = 1.5;
  TrainResult r;
  Status s = Train(pack, o, &r);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.message().rfind("bad input: --outliers 1.5", 0), 0u) << s.message();
}

TEST(Train, CnnTrainsExportsAndTheCoreAgreesOnRealPhotos) {
  const pack::Pack& pack = RealPack();
  ASSERT_EQ(pack.count(), 300u);
  TempDir t;
  TrainOptions o = QuickOptions(t.path("run"), "cnn-dropout");
  o.epochs = 1;
  o.limit = 32;
  o.augment = true;
  TrainResult r;
  Status s = Train(pack, o, &r);
  ASSERT_TRUE(s) << s.message();
  Checkpoint ck;
  ASSERT_TRUE(ReadCheckpoint(t.path("run"), &ck));
  TfjsModel m;
  s = ExportTfjs(ck, {}, t.path("model"), &m);
  ASSERT_TRUE(s) << s.message();
  // The export's golden pairs: constant image + first cat and dog of the validation split (their
  // answers go to the export log), but only the synthetic one is written into the model: a model.json
  // carries no copy of the pack's photos.
  ASSERT_EQ(m.golden.size(), 3u);
  EXPECT_NE(m.golden[1].desc.find("Cat/"), std::string::npos);
  EXPECT_NE(m.golden[2].desc.find("Dog/"), std::string::npos);
  json j = json::parse(m.model_json);
  auto& golden = j["userDefinedMetadata"]["catdog"]["golden"];
  ASSERT_EQ(golden.size(), 1u);
  EXPECT_EQ(golden[0]["name"], "constant 128");
  EXPECT_EQ(m.model_json.find("Cat/"), std::string::npos) << "a pack photo's name in model.json";
  EXPECT_EQ(m.model_json.find("Dog/"), std::string::npos) << "a pack photo's name in model.json";
  EXPECT_EQ(j["userDefinedMetadata"]["catdog"]["run_card"]["pack"]["content_hash"], "test-in-memory-300");
  std::unique_ptr<Model> model;
  ASSERT_TRUE(fs::LoadModelDir(t.path("model"), {}, &model));
  std::vector<float> in, want, got(golden.size());
  for (auto& g : golden) {
    std::vector<uint8_t> u8;
    ASSERT_TRUE(Base64Decode(g["pixels_base64"].get<std::string>(), &u8));
    for (uint8_t v : u8) in.push_back(v / 255.f);
    want.push_back(g["expected"][0].get<float>());
  }
  ASSERT_TRUE(model->Run(in.data(), int(golden.size()), got.data()));
  EXPECT_LE(MaxAbsDiff(want, got), 1e-4);
  // The self-check block: two patterns and an RGBA image through preprocess; it verifies after loading.
  const json& sc = j["userDefinedMetadata"]["catdog"]["selfcheck"];
  ASSERT_EQ(sc["goldens"].size(), 3u);
  EXPECT_EQ(sc["goldens"][0]["name"], "pattern: ramp + rings");
  EXPECT_EQ(sc["goldens"][2]["format"], "rgba8");
  std::unique_ptr<Model> checked;
  SelfCheckReport rep;
  ASSERT_TRUE(cli::LoadModelDirChecked(t.path("model"), {}, &checked, &rep));
  const std::string n = std::to_string(1 + 3 + m.shards.size());  // preprocessing + goldens + shards
  EXPECT_EQ(rep.Summary(), "model verified (" + n + "/" + n + ")");
  EXPECT_EQ(rep.source, "libtorch");
}

// ---- learning on the CPU: BatchNorm statistics and the chance check -------------------------------

// The training images of `pack` as float [n,1,S,S] in [0,1].
torch::Tensor TrainingImages(const pack::Pack& pack) {
  std::vector<size_t> idx = pack.Indices(pack::kTrain);
  const int64_t S = pack.size;
  torch::Tensor x = torch::empty({int64_t(idx.size()), 1, S, S}, torch::kUInt8);
  for (size_t i = 0; i < idx.size(); ++i)
    std::memcpy(x.data_ptr<uint8_t>() + i * size_t(S * S), pack.image(idx[i]), size_t(S * S));
  return x.to(torch::kFloat).div_(255.0);
}

// Eval-mode P(dog) of the checkpoint, and the same model with every BatchNorm layer normalising by
// the statistics of all the training images at once (one batch, batch statistics): what eval mode
// should approximate once training is over.
void EvalAndPopulationOutputs(const Checkpoint& ck, const torch::Tensor& x, torch::Tensor* eval_p, torch::Tensor* pop_p) {
  torch::NoGradGuard no_grad;
  Net net{nullptr};
  ASSERT_TRUE(BuildNet(ck.arch, ck.input_size, &net));
  ASSERT_TRUE(CopyIntoNet(ck, net));
  net->eval();
  *eval_p = torch::sigmoid(net->forward(x));
  for (auto& bn : net->batch_norms()) bn->train();
  *pop_p = torch::sigmoid(net->forward(x));
}

// 400 cats + 400 dogs from the photos after RealPack's: 640 train / 160 val (chance bar 59.2%).
const pack::Pack& LearningPack() {
  static const pack::Pack pack = LoadRealPack(400, 200, "test-in-memory-800");
  return pack;
}

// 1,000 cats + 1,000 dogs after RealPack's photos (some ids do not decode): ~1,600 train / ~400 val.
const pack::Pack& LargerLearningPack() {
  static const pack::Pack pack = LoadRealPack(1000, 200, "test-in-memory-2000");
  return pack;
}

// Trains `arch` on one CPU thread (ctest runs another test beside it) and prints best.pt's check.
TrainResult TrainOnCpu(const pack::Pack& pack, const char* arch, int epochs, const TempDir& t) {
  TrainOptions o = QuickOptions(t.path("run"), arch);
  o.epochs = epochs;
  o.threads = 1;
  TrainResult r;
  Status s = Train(pack, o, &r);
  EXPECT_TRUE(s) << arch << ": " << s.message();
  std::cout << arch << ", " << epochs << " epochs on the CPU: best.pt " << r.learning.Describe() << "\n";
  return r;
}

// One CPU training run per architecture family learns on real photos it never validates on: the
// tutorial's CNN and dense models here, the BatchNorm/separable catnet below.
TEST(Learning, TutorialCnnLearnsOnCpu) {
  const pack::Pack& pack = LargerLearningPack();
  ASSERT_EQ(pack.count(), 2000u);
  TempDir t;
  const TrainResult r = TrainOnCpu(pack, "cnn", 5, t);
  EXPECT_EQ(r.learning.images, 400);
  EXPECT_TRUE(r.learning.beats_chance) << r.learning.Describe();
}

// The tutorial's dense model is its weakest (a Flatten of 10,000 pixels into Dense 150): on 1,600
// photos it reached 57.8-59.5% on validation in 20 epochs (two seeds, BENCHMARKS.md), near the bar.
// It must still do better than a coin, and its run card must say how it did.
TEST(Learning, TutorialDenseDoesBetterThanACoinOnCpu) {
  const pack::Pack& pack = LargerLearningPack();
  ASSERT_EQ(pack.count(), 2000u);
  TempDir t;
  const TrainResult r = TrainOnCpu(pack, "dense", 10, t);
  ASSERT_TRUE(r.learning.known);
  EXPECT_GT(r.learning.accuracy, 0.53) << r.learning.Describe();
  EXPECT_FALSE(r.learning.collapsed);
  ASSERT_GT(r.best_epoch, 0);
  EXPECT_DOUBLE_EQ(r.learning.accuracy, r.history[size_t(r.best_epoch) - 1].val_accuracy);
}

// Issue: a catnet trained on the CPU for a few minutes on a few hundred real photos answered
// P(dog) 0.5 for every photo (val exactly 50%): the eval-mode BatchNorm statistics (running
// averages at momentum 0.99) still held mostly their initial values. Precise BatchNorm
// (TrainOptions::precise_bn) recomputes them before each validation.
TEST(Learning, CatnetOnCpuLearnsFromAFewHundredPhotosAndItsBatchNormMatchesTheData) {
  const pack::Pack& pack = LearningPack();
  ASSERT_EQ(pack.count(), 800u);
  TempDir t;
  const TrainResult r = TrainOnCpu(pack, "catnet", 6, t);
  ASSERT_TRUE(r.learning.known);
  EXPECT_EQ(r.learning.images, 160);
  EXPECT_TRUE(r.learning.beats_chance) << r.learning.Describe();
  EXPECT_FALSE(r.learning.collapsed) << r.learning.Describe();
  Checkpoint ck;
  ASSERT_TRUE(ReadCheckpoint(t.path("run"), &ck));
  const json card = json::parse(ck.meta_json)["run_card"];
  EXPECT_EQ(card["learning_check"]["beats_chance"], true);
  EXPECT_EQ(card["precise_bn_images"], 640);
  torch::Tensor eval_p, pop_p;
  EvalAndPopulationOutputs(ck, TrainingImages(pack), &eval_p, &pop_p);
  const double diff = (eval_p - pop_p).abs().max().item<double>();
  EXPECT_LT(diff, 0.05) << "eval-mode outputs differ from outputs with the training data's own BatchNorm statistics";
  EXPECT_GT(eval_p.std().item<double>(), 0.1) << "eval-mode outputs barely vary between photos";
}

// Without the recomputation the same short run keeps statistics far from the data's: the check
// above would fail (kept as a test so the cause stays measured).
TEST(Learning, RunningAveragesAloneLagTheWeightsInAShortRun) {
  const pack::Pack& pack = RealPack();
  ASSERT_EQ(pack.count(), 300u);
  TempDir t;
  TrainOptions o = QuickOptions(t.path("run"), "catnet");
  o.epochs = 3;
  o.threads = 1;
  o.precise_bn = 0;
  TrainResult r;
  ASSERT_TRUE(Train(pack, o, &r));
  Checkpoint ck;
  ASSERT_TRUE(ReadCheckpoint(t.path("run"), &ck));
  torch::Tensor eval_p, pop_p;
  EvalAndPopulationOutputs(ck, TrainingImages(pack), &eval_p, &pop_p);
  EXPECT_GT((eval_p - pop_p).abs().max().item<double>(), 0.2);
}

TEST(Learning, ChanceBarAndCollapse) {
  // 60 balanced images: the bar is 50% + 2.326 x 6.45% = 65.0%.
  LearningCheck c = JudgeLearning(60, 30, 0.65, 0.3);
  EXPECT_NEAR(c.chance, 0.5, 1e-12);
  EXPECT_NEAR(c.bar, 0.5 + 2.326 * std::sqrt(0.25 / 60), 1e-9);
  EXPECT_FALSE(c.beats_chance) << "65.0% is not above the bar";
  EXPECT_TRUE(JudgeLearning(60, 30, 0.70, 0.3).beats_chance);
  // An unbalanced split: always answering the larger class scores 90% for free.
  c = JudgeLearning(100, 90, 0.90, 0.2);
  EXPECT_NEAR(c.chance, 0.9, 1e-12);
  EXPECT_FALSE(c.beats_chance);
  // Collapsed outputs never beat chance.
  c = JudgeLearning(1000, 500, 0.80, 0.001);
  EXPECT_TRUE(c.collapsed);
  EXPECT_FALSE(c.beats_chance);
  // No validation split: unknown, and not refused.
  c = JudgeLearning(0, 0, NAN, NAN);
  EXPECT_FALSE(c.known);
  EXPECT_TRUE(c.beats_chance);
  // Round trip through the run card's JSON.
  c = JudgeLearning(60, 30, 0.5, 0.0005);
  LearningCheck back = LearningCheckFromJson(c.ToJson());
  EXPECT_TRUE(back.known);
  EXPECT_FALSE(back.beats_chance);
  EXPECT_EQ(back.images, 60);
  EXPECT_FALSE(LearningCheckFromJson(json()).known);
  EXPECT_FALSE(LearningCheckFromJson(json{{"known", "yes"}}).known);
}

TEST(Learning, ExportRefusesAModelAtChanceUnlessAllowed) {
  Checkpoint ck;
  ASSERT_TRUE(InitCheckpoint(*FindArch("dense"), 100, 1, &ck));
  json meta = {{"run_card", {{"learning_check", JudgeLearning(60, 30, 0.5, 0.0004).ToJson()}}}};
  ck.meta_json = meta.dump();
  std::string warning;
  Status s = CheckLearned(ck, "run/best.pt", false, &warning);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("run/best.pt does not beat chance"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("50.0%"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("--allow-chance"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().rfind("bad input: ", 0), 0u);
  ASSERT_TRUE(CheckLearned(ck, "run/best.pt", true, &warning));
  EXPECT_NE(warning.find("--allow-chance"), std::string::npos);
  meta["run_card"]["learning_check"] = JudgeLearning(60, 30, 0.9, 0.3).ToJson();
  ck.meta_json = meta.dump();
  EXPECT_TRUE(CheckLearned(ck, "run/best.pt", false, &warning));
  ck.meta_json = "{}";  // a checkpoint from before the check
  EXPECT_TRUE(CheckLearned(ck, "run/best.pt", false, &warning));
}

// ---- real TF.js in node -----------------------------------------------------------------------------

TEST(TfjsNode, LoadLayersModelMatchesLibtorch) {
  TempDir t;
  struct Case {
    std::string name;
    const ArchSpec* arch;
    std::string quantize;
    double tol;
  };
  // Every registered architecture (the tutorial's three and any added later), plus quantized ones.
  std::vector<Case> cases = {{"cnn-uint8", FindArch("cnn"), "uint8", 0.05},
                             {"dense-float16", FindArch("dense"), "float16", 0.002}};
  for (const ArchSpec& a : Architectures()) cases.push_back({a.name, &a, "", 1e-4});
  for (const Case& c : cases) {
    Checkpoint ck = RandomCheckpoint(*c.arch, 100, 77);
    ExportOptions o;
    o.quantize = c.quantize;
    ASSERT_TRUE(ExportTfjs(ck, o, t.path("cases/" + c.name)));
    auto in = RandomInputs(2, 100, 5);
    for (size_t i = 0; i < in.size(); ++i) in[i] = 0.2f + 0.6f * float(i / 10000) + 0.2f * (in[i] - 0.5f);
    std::vector<float> out;
    ASSERT_TRUE(TorchPredict(ck, in.data(), 2, &out));
    json inputs = json::array();
    for (int i = 0; i < 2; ++i) inputs.push_back(std::vector<float>(in.begin() + i * 10000, in.begin() + (i + 1) * 10000));
    json e = {{"inputs", inputs}, {"outputs", out}, {"tolerance", c.tol}};
    ASSERT_TRUE(fs::WriteFileAtomic(t.path("cases/" + c.name + "/expected.json"), e.dump()));
  }
  const std::string cmd = std::string(CATDOG_NODE) + " " + CATDOG_TFJS_SCRIPT + " " + t.path("cases") + " > " +
                          t.path("tfjs.out") + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::string output;
  fs::ReadTextFile(t.path("tfjs.out"), &output);
  EXPECT_EQ(rc, 0) << cmd << "\n" << output;
  int ok_lines = 0;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    json r = json::parse(line, nullptr, false);
    if (!r.is_discarded() && r.is_object() && r.value("ok", false)) ++ok_lines;
  }
  EXPECT_EQ(ok_lines, int(cases.size())) << output;
}

}  // namespace

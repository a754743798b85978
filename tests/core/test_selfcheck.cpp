// The model self-check (catdog.h RunSelfCheck / SealSelfCheck): a sealed model verifies on every
// backend, and each kind of drift is named — a weight file whose bytes changed (even where the
// outputs barely move), a golden whose expected output differs, preprocessing that differs, a
// malformed block. Also run under node as wasm (the page's runtime), and on the shipped models.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catdog/catdog.h"
#include "catdog/sha256.h"

namespace {

using nlohmann::json;
using catdog::Backend;
using catdog::Model;
using catdog::SelfCheckReport;
using catdog::ShardBytes;
using catdog::Status;

json Layer(const std::string& cls, json config) { return json{{"class_name", cls}, {"config", std::move(config)}}; }

// 8x8x1 -> Flatten -> Dense(4, relu) -> Dense(1, sigmoid), weights from a fixed formula.
json TinyDoc() {
  json topo = {{"class_name", "Sequential"},
               {"config",
                {{"name", "seq"},
                 {"layers",
                  {Layer("Flatten", {{"name", "flatten"}, {"batch_input_shape", {nullptr, 8, 8, 1}}}),
                   Layer("Dense", {{"name", "d1"}, {"units", 4}, {"activation", "relu"}}),
                   Layer("Dense", {{"name", "d2"}, {"units", 1}, {"activation", "sigmoid"}})}}}}};
  json manifest = json::array({{{"paths", {"group1-shard1of1.bin"}},
                                {"weights",
                                 {{{"name", "d1/kernel"}, {"shape", {64, 4}}, {"dtype", "float32"}},
                                  {{"name", "d1/bias"}, {"shape", {4}}, {"dtype", "float32"}},
                                  {{"name", "d2/kernel"}, {"shape", {4, 1}}, {"dtype", "float32"}},
                                  {{"name", "d2/bias"}, {"shape", {1}}, {"dtype", "float32"}}}}}});
  return json{{"format", "layers-model"}, {"generatedBy", "test"}, {"convertedBy", nullptr},
              {"modelTopology", topo},    {"weightsManifest", manifest},
              {"userDefinedMetadata", {{"catdog", {{"input_size", 8}}}}}};
}

std::vector<uint8_t> TinyWeights() {
  std::vector<float> w(64 * 4 + 4 + 4 + 1);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.3f * std::sin(0.7f * float(i) + 0.2f);
  std::vector<uint8_t> b(w.size() * 4);
  std::memcpy(b.data(), w.data(), b.size());
  return b;
}

struct Loaded {
  std::unique_ptr<Model> model;
  SelfCheckReport report;
};

Loaded LoadAndCheck(const std::string& text, const std::vector<uint8_t>& shard, Backend backend = Backend::kReference) {
  Loaded l;
  catdog::LoadOptions opt;
  opt.backend = backend;
  Status s = Model::Parse(text, &l.model, opt, "tiny/model.json");
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s) return l;
  std::vector<ShardBytes> shards = {{shard.data(), shard.size()}};
  s = l.model->LoadWeights(shards);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s) return l;
  s = catdog::RunSelfCheck(*l.model, shards, &l.report);
  EXPECT_TRUE(s.ok()) << s.message();
  return l;
}

// The tiny model with a selfcheck block computed by the core.
json SealedDoc(const std::vector<uint8_t>& shard) {
  json doc = TinyDoc();
  Loaded l = LoadAndCheck(doc.dump(), shard);
  std::string block;
  std::vector<ShardBytes> shards = {{shard.data(), shard.size()}};
  Status s = catdog::SealSelfCheck(*l.model, shards, catdog::DefaultSelfCheckGoldens(8, {}), &block);
  EXPECT_TRUE(s.ok()) << s.message();
  doc["userDefinedMetadata"]["catdog"]["selfcheck"] = json::parse(block);
  return doc;
}

void ExpectMismatch(const SelfCheckReport& r, std::initializer_list<const char*> parts) {
  EXPECT_TRUE(r.present);
  EXPECT_FALSE(r.verified());
  EXPECT_LT(r.passed, r.total);
  for (const char* p : parts)
    EXPECT_NE(r.first_mismatch.find(p), std::string::npos) << "mismatch lacks '" << p << "': " << r.first_mismatch;
  EXPECT_NE(r.Summary().find("FAILED"), std::string::npos) << r.Summary();
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(catdog::Sha256::Hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(catdog::Sha256::Hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(catdog::Sha256::Hex(two.data(), two.size()),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // Fed in odd pieces across block boundaries: same digest as one call.
  std::string big(1000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = char(i * 7);
  catdog::Sha256 h;
  for (size_t at = 0, step = 1; at < big.size(); at += step, step = step * 3 % 97 + 1)
    h.Update(big.data() + at, std::min(step, big.size() - at));
  EXPECT_EQ(catdog::Sha256::ToHex(h.Final()), catdog::Sha256::Hex(big.data(), big.size()));
}

TEST(SelfCheck, ModelWithoutBlockSaysSo) {
  Loaded l = LoadAndCheck(TinyDoc().dump(), TinyWeights());
  EXPECT_FALSE(l.report.present);
  EXPECT_FALSE(l.report.verified());
  EXPECT_EQ(l.report.Summary(), "model has no self-check block");
}

TEST(SelfCheck, SealedModelVerifiesOnEveryBackend) {
  const std::vector<uint8_t> w = TinyWeights();
  const json doc = SealedDoc(w);
  const json& block = doc["userDefinedMetadata"]["catdog"]["selfcheck"];
  EXPECT_EQ(block["source"], "catdog-core");
  EXPECT_EQ(block["preprocess"]["name"], catdog::kPreprocessName);
  EXPECT_EQ(block["preprocess"]["size"], 8);
  ASSERT_EQ(block["goldens"].size(), 3u);  // two patterns + the RGBA image
  EXPECT_EQ(block["goldens"][2]["format"], "rgba8");
  EXPECT_EQ(block["shards"][0]["sha256"], catdog::Sha256::Hex(w.data(), w.size()));
  // The goldens are not all alike: a check that could not tell outputs apart would prove little.
  EXPECT_NE(block["goldens"][0]["expected"][0], block["goldens"][1]["expected"][0]);
  for (Backend b : {Backend::kReference, Backend::kSimd, Backend::kXnnpack}) {
    if (!catdog::BackendAvailable(b)) continue;
    Loaded l = LoadAndCheck(doc.dump(), w, b);
    EXPECT_TRUE(l.report.verified()) << catdog::BackendName(b) << ": " << l.report.Summary();
    EXPECT_EQ(l.report.total, 1 + 3 + 1);  // preprocessing + 3 goldens + 1 shard
    EXPECT_EQ(l.report.Summary(), "model verified (5/5)");
    EXPECT_EQ(l.report.source, "catdog-core");
  }
}

TEST(SelfCheck, TamperedShardIsNamedEvenWhenOutputsBarelyMove) {
  std::vector<uint8_t> w = TinyWeights();
  const json doc = SealedDoc(w);
  w[4 * 100] ^= 1;  // lowest mantissa bit of one weight: outputs move far less than the tolerance
  Loaded l = LoadAndCheck(doc.dump(), w);
  ExpectMismatch(l.report, {"shard group1-shard1of1.bin", "sha256", catdog::Sha256::Hex(w.data(), w.size()).c_str()});
  EXPECT_EQ(l.report.passed, l.report.total - 1);  // every golden still passes
}

TEST(SelfCheck, ChangedExpectedValueNamesTheGoldenAndBothValues) {
  const std::vector<uint8_t> w = TinyWeights();
  json doc = SealedDoc(w);
  json& g = doc["userDefinedMetadata"]["catdog"]["selfcheck"]["goldens"][1];
  const double was = g["expected"][0].get<double>();
  g["expected"][0] = was + 0.01;
  Loaded l = LoadAndCheck(doc.dump(), w);
  ExpectMismatch(l.report, {"golden 'pattern: xorshift32 noise", "output[0] expected", "got", "tolerance"});
  EXPECT_EQ(l.report.passed, l.report.total - 1);
}

TEST(SelfCheck, PreprocessingDriftIsNamedAsSuch) {
  const std::vector<uint8_t> w = TinyWeights();
  json doc = SealedDoc(w);
  doc["userDefinedMetadata"]["catdog"]["selfcheck"]["goldens"][2]["preprocessed_sha256"] = std::string(64, '0');
  Loaded l = LoadAndCheck(doc.dump(), w);
  ExpectMismatch(l.report, {"golden 'rgba 23x17", "preprocessed pixels differ"});
  doc = SealedDoc(w);
  doc["userDefinedMetadata"]["catdog"]["selfcheck"]["preprocess"]["name"] = "tutorial-gray";
  l = LoadAndCheck(doc.dump(), w);
  ExpectMismatch(l.report, {"preprocessing", "tutorial-gray", catdog::kPreprocessName});
}

TEST(SelfCheck, MalformedBlockIsAFailedCheckNamingTheField) {
  const std::vector<uint8_t> w = TinyWeights();
  json doc = SealedDoc(w);
  doc["userDefinedMetadata"]["catdog"]["selfcheck"]["goldens"][0]["pixels_base64"] = "not*base64";
  ExpectMismatch(LoadAndCheck(doc.dump(), w).report, {"selfcheck.goldens[0].pixels_base64"});
  doc = SealedDoc(w);
  doc["userDefinedMetadata"]["catdog"]["selfcheck"]["goldens"][0]["width"] = 7;
  ExpectMismatch(LoadAndCheck(doc.dump(), w).report, {"selfcheck.goldens[0]", "holds 64 bytes", "7x8 needs 56"});
  doc = SealedDoc(w);
  doc["userDefinedMetadata"]["catdog"]["selfcheck"]["shards"] = json::array();
  ExpectMismatch(LoadAndCheck(doc.dump(), w).report, {"lists 0 shards, the manifest 1"});
  doc = SealedDoc(w);
  doc["userDefinedMetadata"]["catdog"]["selfcheck"]["version"] = 99;
  ExpectMismatch(LoadAndCheck(doc.dump(), w).report, {"selfcheck.version"});
}

TEST(SelfCheck, WrongShardCountIsAnError) {
  const std::vector<uint8_t> w = TinyWeights();
  Loaded l = LoadAndCheck(SealedDoc(w).dump(), w);
  SelfCheckReport r;
  Status s = catdog::RunSelfCheck(*l.model, {}, &r);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("0 shard buffers for 1"), std::string::npos) << s.message();
}

// The models the site ships carry the block (sealed by `catdog seal`) and verify here, natively
// and as wasm under node — the same core the page runs.
TEST(SelfCheck, ShippedModelsVerify) {
  const std::string root = CATDOG_SOURCE_DIR "/web/models/";
  std::ifstream idx(root + "index.json");
  ASSERT_TRUE(idx.good()) << root << "index.json";
  json index = json::parse(std::string(std::istreambuf_iterator<char>(idx), {}));
  ASSERT_FALSE(index["models"].empty());
  for (const json& e : index["models"]) {
    const std::string path = root + e["path"].get<std::string>();
    const std::string dir = path.substr(0, path.rfind('/') + 1);
    std::ifstream f(path);
    ASSERT_TRUE(f.good()) << path;
    const std::string text((std::istreambuf_iterator<char>(f)), {});
    std::unique_ptr<Model> m;
    ASSERT_TRUE(Model::Parse(text, &m, {}, path).ok()) << path;
    std::vector<std::vector<uint8_t>> blobs;
    std::vector<ShardBytes> shards;
    for (const std::string& rel : m->shard_paths()) {
      std::ifstream s(dir + rel, std::ios::binary);
      blobs.emplace_back(std::istreambuf_iterator<char>(s), std::istreambuf_iterator<char>());
    }
    for (const auto& b : blobs) shards.push_back({b.data(), b.size()});
    ASSERT_TRUE(m->LoadWeights(shards).ok()) << path;
    SelfCheckReport r;
    ASSERT_TRUE(catdog::RunSelfCheck(*m, shards, &r).ok()) << path;
    EXPECT_TRUE(r.verified()) << path << ": " << r.Summary();
    EXPECT_GE(r.total, 5) << path;
  }
}

}  // namespace

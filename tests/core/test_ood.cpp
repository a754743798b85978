// The out-of-distribution score and its metadata (catdog.h "out of distribution"):
// the score's values, userDefinedMetadata.catdog.ood read into ModelInfo (and what a model without
// one does), and bad blocks refused with a message naming the file and the value.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catdog/catdog.h"

namespace {

using nlohmann::json;
using catdog::Model;
using catdog::ModelInfo;

constexpr char kSource[] = "ood/model.json";

// Dense(2, linear) on 2 inputs (the 2 penultimate features), then Dense(1, sigmoid); with `catdog`
// as userDefinedMetadata.catdog (null: none).
std::string Doc(const json& catdog) {
  json topo = {{"class_name", "Sequential"},
               {"config",
                {{"name", "seq"},
                 {"layers", {{{"class_name", "Dense"},
                              {"config", {{"name", "d1"}, {"units", 2}, {"activation", "linear"},
                                          {"batch_input_shape", {nullptr, 2}}}}},
                             {{"class_name", "Dense"},
                              {"config", {{"name", "d2"}, {"units", 1}, {"activation", "sigmoid"}}}}}}}}};
  json manifest = json::array({{{"paths", {"w.bin"}},
                                {"weights", {{{"name", "d1/kernel"}, {"shape", {2, 2}}, {"dtype", "float32"}},
                                             {{"name", "d1/bias"}, {"shape", {2}}, {"dtype", "float32"}},
                                             {{"name", "d2/kernel"}, {"shape", {2, 1}}, {"dtype", "float32"}},
                                             {{"name", "d2/bias"}, {"shape", {1}}, {"dtype", "float32"}}}}}});
  json d = {{"format", "layers-model"}, {"modelTopology", topo}, {"weightsManifest", manifest}};
  if (!catdog.is_null()) d["userDefinedMetadata"] = {{"catdog", catdog}};
  return d.dump();
}

catdog::Status Parse(const std::string& text, std::unique_ptr<Model>* m) { return Model::Parse(text, m, {}, kSource); }

// Parses and loads: d1 is the identity (features = input), d2 = sigmoid(x0 + x1).
std::unique_ptr<Model> Load(const json& catdog) {
  std::unique_ptr<Model> m;
  EXPECT_TRUE(Parse(Doc(catdog), &m).ok());
  if (!m) return m;
  const std::vector<float> w = {1, 0, 0, 1, 0, 0, 1, 1, 0};
  const catdog::ShardBytes shard{reinterpret_cast<const uint8_t*>(w.data()), w.size() * sizeof(float)};
  const catdog::Status s = m->LoadWeights({shard});
  EXPECT_TRUE(s.ok()) << s.message();
  return m;
}

// Runs one sample (x0, x1); returns the raw output.
float RunOne(Model& m, float x0, float x1) {
  const float in[2] = {x0, x1};
  float out = -1;
  EXPECT_TRUE(m.Run(in, 1, &out).ok());
  return out;
}

TEST(Ood, ScoreIsTheLessLikelyClassProbability) {
  EXPECT_FLOAT_EQ(catdog::OodScoreOfCalibrated(0.9f), 0.1f);
  EXPECT_FLOAT_EQ(catdog::OodScoreOfCalibrated(0.1f), 0.1f);
  EXPECT_FLOAT_EQ(catdog::OodScoreOfCalibrated(0.5f), 0.5f);
  EXPECT_FLOAT_EQ(catdog::OodScoreOfCalibrated(1.f), 0.f);
  EXPECT_TRUE(std::isnan(catdog::OodScoreOfCalibrated(std::numeric_limits<float>::quiet_NaN())));
}

TEST(Ood, ScoreAppliesTheTemperature) {
  ModelInfo info;
  info.temperature = 2.0;
  // raw 0.9: logit ln 9, halved -> sigmoid(ln 3) = 0.75; the score is 0.25, not the raw 0.1.
  EXPECT_NEAR(catdog::OodScore(info, 0.9f), 0.25f, 1e-6);
  EXPECT_NEAR(catdog::OodScore(info, 0.1f), 0.25f, 1e-6);
}

TEST(Ood, MaxProbMetadataRoundTripAndDecision) {
  std::unique_ptr<Model> m = Load({{"calibration", {{"temperature", 2.0}}},
                                   {"ood", {{"method", "max-prob"}, {"threshold", 0.2}, {"split", "val"}}}});
  ASSERT_TRUE(m);
  const ModelInfo& info = m->info();
  EXPECT_TRUE(info.has_ood);
  EXPECT_EQ(info.ood_method, "max-prob");
  EXPECT_DOUBLE_EQ(info.ood_threshold, 0.2);
  const float ln9 = std::log(9.f);  // raw 0.9: calibrated 0.75, score 0.25 > 0.2
  EXPECT_TRUE(catdog::IsOutOfDistribution(*m, 0, RunOne(*m, ln9, 0)));
  const float ln99 = std::log(99.f);  // raw 0.99: calibrated ~0.91, score ~0.09
  EXPECT_FALSE(catdog::IsOutOfDistribution(*m, 0, RunOne(*m, 0, ln99)));
  EXPECT_TRUE(catdog::IsOutOfDistribution(*m, 0, std::numeric_limits<float>::quiet_NaN()));
}

TEST(Ood, FeatureDistanceIsTheNearerClassInSpreadUnits) {
  ModelInfo info;
  info.ood_means = {0, 0, 10, 10};  // cat at (0, 0), dog at (10, 10)
  info.ood_inv_var = {1, 0.25f};    // spreads 1 and 2
  const float f[2] = {9, 12};       // dog: (1 + 4 * 0.25) / 2 = 1
  EXPECT_FLOAT_EQ(catdog::FeatureDistance(info, f, 2), 1.f);
  EXPECT_TRUE(std::isnan(catdog::FeatureDistance(info, f, 3)));
  EXPECT_TRUE(std::isnan(catdog::FeatureDistance(info, nullptr, 2)));
}

TEST(Ood, FeatureDistanceMetadataRoundTripAndDecision) {
  std::unique_ptr<Model> m = Load({{"ood", {{"method", "feature-distance"}, {"threshold", 2.0},
                                            {"means", {{0, 0}, {10, 10}}}, {"inv_var", {1, 0.25}}}}});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->feature_size(), 2u);
  EXPECT_EQ(m->info().ood_method, "feature-distance");
  EXPECT_EQ(m->info().ood_means, (std::vector<float>{0, 0, 10, 10}));
  // The features are d1's output (= the input here), whatever the output says.
  float raw = RunOne(*m, 9, 12);
  ASSERT_NE(m->features(0), nullptr);
  EXPECT_FLOAT_EQ(m->features(0)[1], 12.f);
  EXPECT_EQ(m->features(1), nullptr);  // outside the last batch
  EXPECT_FLOAT_EQ(catdog::ModelOodScore(*m, 0, raw), 1.f);
  EXPECT_FALSE(catdog::IsOutOfDistribution(*m, 0, raw));
  raw = RunOne(*m, 5, 5);  // halfway: (25 + 25 * 0.25) / 2 = 15.6 from either class
  EXPECT_TRUE(catdog::IsOutOfDistribution(*m, 0, raw));
}

TEST(Ood, NoBlockFlagsNothing) {
  for (const json& c : {json(nullptr), json{{"threshold", 0.5}}}) {
    std::unique_ptr<Model> m = Load(c);
    ASSERT_TRUE(m);
    EXPECT_FALSE(m->info().has_ood);
    EXPECT_FALSE(catdog::IsOutOfDistribution(*m, 0, RunOne(*m, 0, 0)));  // a coin toss stays today's "unsure"
  }
}

TEST(Ood, BadBlocksNameTheFileAndTheValue) {
  struct Case {
    json ood;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {json("yes"), {"userDefinedMetadata.catdog.ood", "\"yes\"", "not an object"}},
      {json{{"method", "energy"}, {"threshold", 0.1}}, {"ood.method", "\"energy\"", "max-prob", "feature-distance"}},
      {json{{"threshold", 0.1}}, {"ood.method", "(missing)"}},
      {json{{"method", "max-prob"}}, {"ood.threshold", "(missing)"}},
      {json{{"method", "max-prob"}, {"threshold", "0.1"}}, {"ood.threshold", "\"0.1\"", "[0, 0.5]"}},
      {json{{"method", "max-prob"}, {"threshold", 0.7}}, {"ood.threshold", "0.7", "[0, 0.5]"}},
      {json{{"method", "max-prob"}, {"threshold", -0.01}}, {"ood.threshold", "-0.01", "[0, 0.5]"}},
      {json{{"method", "feature-distance"}, {"threshold", 3}, {"means", {{0, 0}, {1, 1}}}},
       {"ood.inv_var", "(missing)"}},
      {json{{"method", "feature-distance"}, {"threshold", 3}, {"means", {{0, 0}, {1, 1}}}, {"inv_var", {1, "x"}}},
       {"ood.inv_var", "\"x\""}},
      {json{{"method", "feature-distance"}, {"threshold", 3}, {"means", {{0, 0}, {1}}}, {"inv_var", {1, 1}}},
       {"ood.means", "two arrays (cat, dog) of 2"}},
      {json{{"method", "feature-distance"}, {"threshold", -1}, {"means", {{0, 0}, {1, 1}}}, {"inv_var", {1, 1}}},
       {"ood.threshold", "-1", ">= 0"}},
      // statistics for 3 features, the model has 2
      {json{{"method", "feature-distance"}, {"threshold", 3}, {"means", {{0, 0, 0}, {1, 1, 1}}}, {"inv_var", {1, 1, 1}}},
       {"statistics for 3 features, the model has 2"}},
  };
  for (const Case& c : cases) {
    std::unique_ptr<Model> m;
    const catdog::Status s = Parse(Doc({{"ood", c.ood}}), &m);
    ASSERT_FALSE(s.ok()) << "accepted " << c.ood.dump();
    EXPECT_NE(s.message().find(kSource), std::string::npos) << s.message();
    for (const std::string& w : c.want) EXPECT_NE(s.message().find(w), std::string::npos) << "want '" << w << "' in: " << s.message();
  }
}

}  // namespace

// The out-of-distribution score and its metadata (catdog.h "out of distribution", issue 16 item 5):
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

// Dense(1, sigmoid) on 3 inputs, with `catdog` as userDefinedMetadata.catdog (null: none).
std::string Doc(const json& catdog) {
  json topo = {{"class_name", "Sequential"},
               {"config",
                {{"name", "seq"},
                 {"layers", {{{"class_name", "Dense"},
                              {"config", {{"name", "d1"}, {"units", 1}, {"activation", "sigmoid"},
                                          {"batch_input_shape", {nullptr, 3}}}}}}}}}};
  json manifest = json::array({{{"paths", {"w.bin"}},
                                {"weights", {{{"name", "d1/kernel"}, {"shape", {3, 1}}, {"dtype", "float32"}},
                                             {{"name", "d1/bias"}, {"shape", {1}}, {"dtype", "float32"}}}}}});
  json d = {{"format", "layers-model"}, {"modelTopology", topo}, {"weightsManifest", manifest}};
  if (!catdog.is_null()) d["userDefinedMetadata"] = {{"catdog", catdog}};
  return d.dump();
}

catdog::Status Parse(const std::string& text, std::unique_ptr<Model>* m) { return Model::Parse(text, m, {}, kSource); }

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

TEST(Ood, MetadataRoundTripAndDecision) {
  std::unique_ptr<Model> m;
  ASSERT_TRUE(Parse(Doc({{"calibration", {{"temperature", 2.0}}},
                         {"ood", {{"method", "max-prob"}, {"threshold", 0.2}, {"split", "val"}}}}),
                    &m))
      << "";
  const ModelInfo& info = m->info();
  EXPECT_TRUE(info.has_ood);
  EXPECT_EQ(info.ood_method, "max-prob");
  EXPECT_DOUBLE_EQ(info.ood_threshold, 0.2);
  EXPECT_TRUE(catdog::IsOutOfDistribution(info, 0.9f));    // calibrated 0.75: score 0.25 > 0.2
  EXPECT_FALSE(catdog::IsOutOfDistribution(info, 0.99f));  // calibrated ~0.91: score ~0.09
  EXPECT_TRUE(catdog::IsOutOfDistribution(info, std::numeric_limits<float>::quiet_NaN()));
}

TEST(Ood, NoBlockFlagsNothing) {
  for (const json& c : {json(nullptr), json{{"threshold", 0.5}}}) {
    std::unique_ptr<Model> m;
    ASSERT_TRUE(Parse(Doc(c), &m));
    EXPECT_FALSE(m->info().has_ood);
    EXPECT_FALSE(catdog::IsOutOfDistribution(m->info(), 0.5f));  // a coin toss stays today's "unsure"
  }
}

TEST(Ood, BadBlocksNameTheFileAndTheValue) {
  struct Case {
    json ood;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {json("yes"), {"userDefinedMetadata.catdog.ood", "\"yes\"", "not an object"}},
      {json{{"method", "energy"}, {"threshold", 0.1}}, {"ood.method", "\"energy\"", "max-prob"}},
      {json{{"threshold", 0.1}}, {"ood.method", "(missing)"}},
      {json{{"method", "max-prob"}}, {"ood.threshold", "(missing)"}},
      {json{{"method", "max-prob"}, {"threshold", "0.1"}}, {"ood.threshold", "\"0.1\"", "[0, 0.5]"}},
      {json{{"method", "max-prob"}, {"threshold", 0.7}}, {"ood.threshold", "0.7", "[0, 0.5]"}},
      {json{{"method", "max-prob"}, {"threshold", -0.01}}, {"ood.threshold", "-0.01", "[0, 0.5]"}},
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

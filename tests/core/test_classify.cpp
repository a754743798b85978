// The answer for K classes (catdog/classify.h, DESIGN contract 2): calibration on the logits, the
// decision, labels, and what Model::Parse says about K-class models.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catdog/catdog.h"
#include "catdog/classify.h"

namespace {

using catdog::Classify;
using catdog::Decide;
using catdog::LabelProblem;
using catdog::Model;
using catdog::ModelInfo;
using json = nlohmann::json;

ModelInfo Info(std::vector<std::string> labels, double temperature = 1.0, double threshold = 0.5) {
  ModelInfo info;
  info.labels = std::move(labels);
  info.temperature = temperature;
  info.threshold = threshold;
  return info;
}

TEST(Classify, OneSigmoidUnitIsTheSecondClass) {
  float probs[2];
  ModelInfo info = Info({"cat", "dog"});
  EXPECT_EQ(Classify(info, std::vector<float>{0.7f}.data(), 1, probs), 1);
  EXPECT_FLOAT_EQ(probs[1], 0.7f);
  EXPECT_FLOAT_EQ(probs[0], 0.3f);
  EXPECT_EQ(Classify(info, std::vector<float>{0.2f}.data(), 1, probs), 0);
  info.threshold = 0.8;  // the model's own threshold decides a two-class model
  EXPECT_EQ(Classify(info, std::vector<float>{0.7f}.data(), 1, probs), 0);
  EXPECT_EQ(Classify(info, std::vector<float>{0.8f}.data(), 1, probs), 1);
}

TEST(Classify, TemperatureOnASigmoidIsApplyCalibration) {
  const ModelInfo info = Info({"cat", "dog"}, 1.7);
  for (float p : {0.01f, 0.3f, 0.5f, 0.93f, 0.9999f}) {
    float probs[2];
    Classify(info, &p, 1, probs);
    EXPECT_EQ(probs[1], catdog::ApplyCalibration(info, p)) << p;
    if (p != 0.5f) EXPECT_NE(probs[1], p) << "the temperature moved it";
  }
}

// softmax(log(p) / T) computed here in double: p_i^(1/T) / sum_j p_j^(1/T).
std::vector<double> Tempered(const std::vector<float>& p, double t) {
  std::vector<double> q;
  double sum = 0;
  for (float v : p) sum += std::pow(std::max(double(v), 1e-7), 1 / t);
  for (float v : p) q.push_back(std::pow(std::max(double(v), 1e-7), 1 / t) / sum);
  return q;
}

TEST(Classify, SoftmaxOfKClassesWithATemperature) {
  const std::vector<float> raw = {0.05f, 0.15f, 0.8f};
  float probs[3];
  EXPECT_EQ(Classify(Info({"cat", "dog", "neither"}), raw.data(), 3, probs), 2);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(probs[i], raw[i]) << "T = 1 keeps the model's probabilities";
  for (double t : {0.5, 1.3, 2.0, 4.0}) {
    EXPECT_EQ(Classify(Info({"cat", "dog", "neither"}, t), raw.data(), 3, probs), 2);
    const std::vector<double> want = Tempered(raw, t);
    double sum = 0;
    for (int i = 0; i < 3; ++i) {
      EXPECT_NEAR(probs[i], want[i], 1e-6) << "T " << t << " class " << i;
      sum += probs[i];
    }
    EXPECT_NEAR(sum, 1.0, 1e-6);
  }
  // A probability of 0 (a saturated softmax) is clamped, as a sigmoid's is.
  const std::vector<float> hard = {0.f, 1.f, 0.f};
  EXPECT_EQ(Classify(Info({"a", "b", "c"}, 2.0), hard.data(), 3, probs), 1);
  EXPECT_NEAR(probs[0], Tempered(hard, 2.0)[0], 1e-9);
  EXPECT_GT(probs[0], 0.f);
}

TEST(Classify, ClassOffsetsAreAddedToTheCalibratedLogits) {
  // neither leads (0.5 against 0.3 and 0.2); an offset of -0.6 on it: log(0.5) - 0.6 < log(0.3).
  const std::vector<float> raw = {0.3f, 0.2f, 0.5f};
  ModelInfo info = Info({"cat", "dog", "neither"}, 1.5);
  float probs[3];
  EXPECT_EQ(Classify(info, raw.data(), 3, probs), 2);
  info.class_bias = {0.f, 0.f, -0.6f};
  info.temperature = 1.0;
  EXPECT_EQ(Classify(info, raw.data(), 3, probs), 0) << "the offset moved the decision";
  // softmax(log p / T + b) in double.
  for (double t : {1.0, 0.7, 2.0}) {
    info.temperature = t;
    std::vector<double> z;
    double sum = 0;
    for (int i = 0; i < 3; ++i) sum += std::exp(std::log(double(raw[i])) / t + info.class_bias[i]);
    Classify(info, raw.data(), 3, probs);
    for (int i = 0; i < 3; ++i)
      EXPECT_NEAR(probs[i], std::exp(std::log(double(raw[i])) / t + info.class_bias[i]) / sum, 1e-6) << "T " << t;
  }
}

TEST(Classify, TwoSoftmaxUnitsUseTheThreshold) {
  const std::vector<float> raw = {0.35f, 0.65f};
  float probs[2];
  EXPECT_EQ(Classify(Info({"cat", "dog"}), raw.data(), 2, probs), 1);
  EXPECT_EQ(Classify(Info({"cat", "dog"}, 1.0, 0.7), raw.data(), 2, probs), 0);
}

TEST(Classify, NoAnswerForNaNOrAWrongSize) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  float probs[3] = {1, 1, 1};
  const std::vector<float> bad = {0.2f, nan, 0.3f};
  EXPECT_EQ(Classify(Info({"a", "b", "c"}), bad.data(), 3, probs), -1);
  for (float p : probs) EXPECT_TRUE(std::isnan(p));
  EXPECT_EQ(Classify(Info({"cat", "dog"}), &nan, 1, probs), -1);
  const std::vector<float> four = {0.1f, 0.2f, 0.3f, 0.4f};
  EXPECT_EQ(Classify(Info({"a", "b", "c"}), four.data(), 4, probs), -1) << "4 outputs for 3 labels";
  EXPECT_EQ(Classify(Info({"a", "b", "c"}), four.data(), 1, probs), -1) << "one sigmoid unit is two classes";
}

TEST(Classify, MirroredAveragesTheCalibratedProbabilitiesThenDecides) {
  const ModelInfo info = Info({"cat", "dog", "neither"}, 1.5);
  const std::vector<float> a = {0.2f, 0.5f, 0.3f}, b = {0.1f, 0.2f, 0.7f};
  float pa[3], pb[3], probs[6];
  Classify(info, a.data(), 3, pa);
  Classify(info, b.data(), 3, pb);
  EXPECT_EQ(catdog::ClassifyMirrored(info, a.data(), b.data(), 3, probs), 2);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(probs[i], catdog::MirrorAverage(pa[i], pb[i]));
  const std::vector<float> bad = {0.2f, std::nanf(""), 0.3f};
  EXPECT_EQ(catdog::ClassifyMirrored(info, a.data(), bad.data(), 3, probs), -1);
  EXPECT_TRUE(std::isnan(probs[0]));
}

TEST(Classify, DecideTakesTheLargestAndTheLowerIndexOnATie) {
  const ModelInfo info = Info({"a", "b", "c", "d"});
  EXPECT_EQ(Decide(info, std::vector<float>{0.1f, 0.4f, 0.4f, 0.1f}.data()), 1);
  EXPECT_EQ(Decide(info, std::vector<float>{0.1f, 0.2f, 0.3f, 0.4f}.data()), 3);
  EXPECT_EQ(Decide(info, std::vector<float>{0.1f, std::nanf(""), 0.3f, 0.4f}.data()), -1);
}

TEST(Labels, WhatANameMayHold) {
  for (const char* ok : {"cat", "Rabbit", "neither", "perro ñandú", "猫", "a b-c_d.e"}) EXPECT_EQ(LabelProblem(ok), "") << ok;
  EXPECT_NE(LabelProblem(""), "");
  EXPECT_NE(LabelProblem(std::string(65, 'x')), "");
  EXPECT_EQ(LabelProblem(std::string(64, 'x')), "");
  EXPECT_NE(LabelProblem("dog/puppy"), "");
  EXPECT_NE(LabelProblem("dog\\puppy"), "");
  EXPECT_NE(LabelProblem("."), "");
  EXPECT_NE(LabelProblem(".."), "");
  EXPECT_NE(LabelProblem("tab\there"), "");
  EXPECT_NE(LabelProblem("del\x7f"), "");
  EXPECT_EQ(LabelProblem("\xff\xfe"), "is not valid UTF-8");
  EXPECT_EQ(LabelProblem("\xc0\xaf"), "is not valid UTF-8") << "overlong '/'";
  EXPECT_EQ(LabelProblem("\xed\xa0\x80"), "is not valid UTF-8") << "a surrogate";
  EXPECT_EQ(LabelProblem("\xf4\x90\x80\x80"), "is not valid UTF-8") << "above U+10FFFF";
  EXPECT_EQ(LabelProblem("caf\xc3"), "is not valid UTF-8") << "cut short";
}

// A Dense(units, softmax) model on 2 inputs, with `meta` as userDefinedMetadata.
std::string SoftmaxModel(int units, json meta) {
  json dense = {{"class_name", "Dense"},
                {"config", {{"name", "d"}, {"units", units}, {"activation", "softmax"}, {"batch_input_shape", {nullptr, 2}}}}};
  json topo = {{"class_name", "Sequential"}, {"config", {{"name", "seq"}, {"layers", json::array({dense})}}}};
  json manifest = json::array({{{"paths", {"w.bin"}},
                                {"weights",
                                 {{{"name", "d/kernel"}, {"shape", {2, units}}, {"dtype", "float32"}},
                                  {{"name", "d/bias"}, {"shape", {units}}, {"dtype", "float32"}}}}}});
  json doc = {{"format", "layers-model"}, {"modelTopology", topo}, {"weightsManifest", manifest}};
  if (!meta.is_null()) doc["userDefinedMetadata"] = std::move(meta);
  return doc.dump();
}

TEST(Labels, AKClassModelHasKLabels) {
  std::unique_ptr<Model> m;
  catdog::Status s = Model::Parse(SoftmaxModel(3, {{"catdog", {{"labels", {"Cat", "Dog", "Rabbit"}}}}}), &m);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(m->info().labels, (std::vector<std::string>{"Cat", "Dog", "Rabbit"}));
  EXPECT_EQ(catdog::ClassCount(m->info()), 3);
  // Another tool's K-class model without labels: numbered names, one per output.
  s = Model::Parse(SoftmaxModel(5, nullptr), &m);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(m->info().labels, (std::vector<std::string>{"class 0", "class 1", "class 2", "class 3", "class 4"}));
  s = Model::Parse(SoftmaxModel(3, {{"catdog", {{"labels", {"Cat", "Dog"}}}}}), &m);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("labels has 2 names, the model's output [3] has 3 classes"), std::string::npos) << s.message();
  // A K-class model has a class for "neither": an ood threshold on top of it is refused.
  s = Model::Parse(SoftmaxModel(3, {{"catdog", {{"labels", {"cat", "dog", "neither"}},
                                                {"ood", {{"method", "max-prob"}, {"threshold", 0.3}}}}}}), &m);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("ood is for a two-class model"), std::string::npos) << s.message();
}

TEST(Labels, ClassOffsetsOnePerClassOfASoftmaxModel) {
  std::unique_ptr<Model> m;
  auto with_bias = [](json bias) {
    return json{{"catdog", {{"labels", {"cat", "dog", "neither"}},
                            {"calibration", {{"method", "temperature"}, {"temperature", 1.2}, {"class_bias", bias}}}}}};
  };
  catdog::Status s = Model::Parse(SoftmaxModel(3, with_bias({0, 0, -0.75})), &m);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(m->info().class_bias, (std::vector<float>{0.f, 0.f, -0.75f}));
  s = Model::Parse(SoftmaxModel(3, with_bias({0, -0.75})), &m);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("class_bias has 2 offsets"), std::string::npos) << s.message();
  for (json bad : {json{0, "x", 0}, json{0, 0, 1e9}, json("0"), json::array()}) {
    s = Model::Parse(SoftmaxModel(3, with_bias(bad)), &m);
    ASSERT_FALSE(s.ok()) << bad.dump();
    EXPECT_NE(s.message().find("calibration.class_bias"), std::string::npos) << s.message();
  }
}

}  // namespace

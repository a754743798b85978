// Temperature scaling: the fit (calibrate.h), catdog::ApplyCalibration, the metadata round trip
// through Model::Parse, and `catdog calibrate` / `catdog evaluate [--uncalibrated]` on a tiny
// pack of real photos.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "calibrate.h"
#include "catdog/catdog.h"
#include "fsutil.h"
#include "metrics.h"
#include "test_util.h"

namespace stdfs = std::filesystem;
using catdog::test::TempDir;
using json = nlohmann::json;

namespace {

// A minimal layers model.json (Flatten -> Dense(1, sigmoid) on 2x2x1) with `meta` as its
// userDefinedMetadata.
std::string TinyModelJson(const json& meta) {
  json layers = json::array({
      {{"class_name", "InputLayer"},
       {"config", {{"batch_input_shape", {nullptr, 2, 2, 1}}, {"dtype", "float32"}, {"sparse", false}, {"name", "in"}}}},
      {{"class_name", "Flatten"}, {"config", {{"name", "flatten"}, {"dtype", "float32"}, {"data_format", "channels_last"}}}},
      {{"class_name", "Dense"},
       {"config", {{"name", "dense"}, {"dtype", "float32"}, {"units", 1}, {"activation", "sigmoid"}, {"use_bias", true}}}},
  });
  json model = {
      {"format", "layers-model"},
      {"modelTopology", {{"class_name", "Sequential"}, {"config", {{"name", "s"}, {"layers", layers}}}}},
      {"weightsManifest", json::array({{{"paths", {"w.bin"}},
                                        {"weights", json::array({{{"name", "dense/kernel"}, {"shape", {4, 1}}, {"dtype", "float32"}},
                                                                 {{"name", "dense/bias"}, {"shape", {1}}, {"dtype", "float32"}}})}}})},
  };
  if (!meta.is_null()) model["userDefinedMetadata"] = meta;
  return model.dump();
}

}  // namespace

TEST(Calibrate, FitRecoversKnownTemperature) {
  // Labels drawn from sigmoid(z / 2.5): the NLL-optimal temperature is 2.5 (up to sampling noise).
  std::mt19937_64 rng(12345);
  std::normal_distribution<double> normal(0.0, 4.0);
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  std::vector<double> z(200000);
  std::vector<uint8_t> y(z.size());
  for (size_t i = 0; i < z.size(); ++i) {
    z[i] = normal(rng);
    y[i] = uni(rng) < 1.0 / (1.0 + std::exp(-z[i] / 2.5)) ? 1 : 0;
  }
  const double t = catdog::calibrate::FitTemperature(z, y);
  EXPECT_NEAR(t, 2.5, 0.05);
  // It is a minimum, and deterministic.
  const double nll = catdog::calibrate::TemperatureNll(z, y, t);
  EXPECT_LT(nll, catdog::calibrate::TemperatureNll(z, y, t * 1.05));
  EXPECT_LT(nll, catdog::calibrate::TemperatureNll(z, y, t / 1.05));
  EXPECT_LT(nll, catdog::calibrate::TemperatureNll(z, y, 1.0));
  EXPECT_EQ(t, catdog::calibrate::FitTemperature(z, y));
  // Under-confident logits (labels from sigmoid(2 z)) give T < 1.
  for (size_t i = 0; i < z.size(); ++i) y[i] = uni(rng) < 1.0 / (1.0 + std::exp(-z[i] * 2.0)) ? 1 : 0;
  EXPECT_NEAR(catdog::calibrate::FitTemperature(z, y), 0.5, 0.02);
  EXPECT_EQ(catdog::calibrate::FitTemperature({}, {}), 1.0);
}

// K classes: log-probabilities of a softmax whose labels were drawn from softmax(z / 2.5) give T near
// 2.5; the NLL there is a minimum; for K = 2 it is the sigmoid fit on the logit difference.
TEST(Calibrate, FitRecoversKnownTemperatureForKClasses) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal(0.0, 3.0);
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  const size_t n = 20000, k = 4;
  std::vector<double> logp(n * k);
  std::vector<uint8_t> y(n);
  for (size_t i = 0; i < n; ++i) {
    double z[k], norm = 0, norm_t = 0;
    for (size_t c = 0; c < k; ++c) z[c] = normal(rng), norm += std::exp(z[c]), norm_t += std::exp(z[c] / 2.5);
    for (size_t c = 0; c < k; ++c) logp[i * k + c] = z[c] - std::log(norm);  // the model's log softmax
    double u = uni(rng), acc = 0;
    y[i] = uint8_t(k - 1);
    for (size_t c = 0; c < k; ++c)
      if ((acc += std::exp(z[c] / 2.5) / norm_t) > u) {
        y[i] = uint8_t(c);
        break;
      }
  }
  const double t = catdog::calibrate::FitTemperatureK(logp, k, y);
  EXPECT_NEAR(t, 2.5, 0.08);
  const double nll = catdog::calibrate::TemperatureNllK(logp, k, y, t);
  EXPECT_LT(nll, catdog::calibrate::TemperatureNllK(logp, k, y, t * 1.05));
  EXPECT_LT(nll, catdog::calibrate::TemperatureNllK(logp, k, y, t / 1.05));
  EXPECT_LT(nll, catdog::calibrate::TemperatureNllK(logp, k, y, 1.0));
  // Two classes: softmax(log p / T) of [1 - p, p] is sigmoid(logit(p) / T), the binary fit.
  std::vector<double> z2, lp2;
  std::vector<uint8_t> y2;
  for (size_t i = 0; i < 4000; ++i) {
    const double z = normal(rng), p = 1 / (1 + std::exp(-z));
    z2.push_back(z);
    lp2.push_back(std::log(1 - p));
    lp2.push_back(std::log(p));
    y2.push_back(uni(rng) < 1 / (1 + std::exp(-z / 1.7)) ? 1 : 0);
  }
  EXPECT_NEAR(catdog::calibrate::FitTemperatureK(lp2, 2, y2), catdog::calibrate::FitTemperature(z2, y2), 1e-6);
}

// a split the model gets all right with room to spare runs the fit to the lower
// bound (it was written as T = 0.001 silently): DegenerateFit names it; an interior fit is fine.
TEST(Calibrate, DegenerateFitsAreNamed) {
  std::vector<double> z = {-6, -4, -3, 3, 5, 7};
  std::vector<uint8_t> y = {0, 0, 0, 1, 1, 1};
  const double t = catdog::calibrate::FitTemperature(z, y);
  EXPECT_LT(t, 1.01e-3);
  EXPECT_NE(std::string(catdog::calibrate::DegenerateFit(t)).find("lower end"), std::string::npos);
  // Labels unrelated to the logits: the NLL falls towards log 2 as T grows, to the upper bound.
  y = {1, 0, 1, 0, 1, 0};
  z = {-6, -4, -3, 3, 5, 7};
  const double t_hi = catdog::calibrate::FitTemperature(z, y);
  EXPECT_GT(t_hi, 990.0);
  EXPECT_NE(std::string(catdog::calibrate::DegenerateFit(t_hi)).find("upper end"), std::string::npos);
  EXPECT_STREQ(catdog::calibrate::DegenerateFit(0.7), "");
}

// The max-prob threshold rescaled to a new temperature makes the same decision on every raw output.
TEST(Calibrate, RescaledOodThresholdKeepsTheDecisions) {
  const double t_old = 1.12, t_new = 0.5, th = 0.1;
  const double th_new = catdog::calibrate::RescaleMaxProbThreshold(th, t_old, t_new);
  auto score = [](double z, double t) { return std::min(1 / (1 + std::exp(-z / t)), 1 / (1 + std::exp(z / t))); };
  int flips = 0;
  for (double z = -12; z <= 12; z += 0.001) flips += (score(z, t_old) > th) != (score(z, t_new) > th_new);
  EXPECT_LE(flips, 2) << "decisions changed (rounding at the boundary aside)";
  EXPECT_LT(th_new, th);  // a sharper temperature: the same |logit| is further from 0.5
  EXPECT_EQ(catdog::calibrate::RescaleMaxProbThreshold(0.5, t_old, t_new), 0.5);
  EXPECT_EQ(catdog::calibrate::RescaleMaxProbThreshold(0.0, t_old, t_new), 0.0);
}

TEST(Calibrate, ApplyCalibrationMath) {
  catdog::ModelInfo info;
  EXPECT_EQ(info.temperature, 1.0);
  EXPECT_EQ(catdog::ApplyCalibration(info, 0.93f), 0.93f);  // T = 1: unchanged, bit for bit
  info.temperature = 2.0;
  for (float p : {0.01f, 0.2f, 0.5f, 0.7f, 0.999f}) {
    const double z = std::log(double(p) / (1.0 - double(p)));
    EXPECT_NEAR(catdog::ApplyCalibration(info, p), 1.0 / (1.0 + std::exp(-z / 2.0)), 1e-6) << p;
  }
  EXPECT_NEAR(catdog::ApplyCalibration(info, 0.5f), 0.5f, 1e-7);  // the 0.5 threshold is kept
  // T > 1 pulls towards 0.5, T < 1 pushes away; monotone; clamped ends stay finite.
  EXPECT_LT(catdog::ApplyCalibration(info, 0.9f), 0.9f);
  EXPECT_GT(catdog::ApplyCalibration(info, 0.1f), 0.1f);
  EXPECT_LT(catdog::ApplyCalibration(info, 0.6f), catdog::ApplyCalibration(info, 0.61f));
  EXPECT_NEAR(catdog::ApplyCalibration(info, 1.0f), 1.0 / (1.0 + std::exp(-std::log((1 - 1e-7) / 1e-7) / 2)), 1e-6);
  EXPECT_NEAR(catdog::ApplyCalibration(info, 0.0f), 1.0 / (1.0 + std::exp(std::log((1 - 1e-7) / 1e-7) / 2)), 1e-6);
  EXPECT_TRUE(std::isnan(catdog::ApplyCalibration(info, NAN)));
  info.temperature = 0.5;
  EXPECT_GT(catdog::ApplyCalibration(info, 0.9f), 0.9f);
  EXPECT_EQ(catdog::ApplyTemperature(0.5, 0.9f), catdog::ApplyCalibration(info, 0.9f));
  EXPECT_NEAR(catdog::calibrate::Logit(0.0), std::log(1e-7 / (1 - 1e-7)), 1e-9);
}

TEST(Calibrate, MetadataRoundTripThroughParse) {
  std::unique_ptr<catdog::Model> m;
  ASSERT_TRUE(catdog::Model::Parse(TinyModelJson(nullptr), &m));
  EXPECT_EQ(m->info().temperature, 1.0);
  ASSERT_TRUE(catdog::Model::Parse(TinyModelJson({{"catdog", {{"threshold", 0.5}}}}), &m));
  EXPECT_EQ(m->info().temperature, 1.0);
  json meta = {{"catdog", {{"calibration", {{"method", "temperature"}, {"temperature", 1.734}, {"split", "val"}}}}}};
  catdog::Status s = catdog::Model::Parse(TinyModelJson(meta), &m);
  ASSERT_TRUE(s) << s.message();
  EXPECT_DOUBLE_EQ(m->info().temperature, 1.734);
  EXPECT_NE(m->info().user_metadata_json.find("\"calibration\""), std::string::npos);
  // null counts as absent
  meta["catdog"]["calibration"]["temperature"] = nullptr;
  ASSERT_TRUE(catdog::Model::Parse(TinyModelJson(meta), &m));
  EXPECT_EQ(m->info().temperature, 1.0);
}

TEST(Calibrate, BadTemperatureRejectedWithMessage) {
  // (JSON has no Infinity/NaN, and nlohmann rejects out-of-range literals such as 1e400 as invalid
  // JSON, so non-finite values cannot reach the check from a file; it is there for the C++ API.)
  for (const json& bad : {json(0), json(-1.5), json(-0.0), json("2"), json(true), json::array({2}), json::object()}) {
    json meta = {{"catdog", {{"calibration", {{"temperature", bad}}}}}};
    const std::string text = TinyModelJson(meta);
    std::unique_ptr<catdog::Model> m;
    catdog::Status s = catdog::Model::Parse(text, &m, {}, "cal/model.json");
    ASSERT_FALSE(s) << bad.dump();
    EXPECT_NE(s.message().find("cal/model.json"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("calibration.temperature"), std::string::npos) << s.message();
    EXPECT_FALSE(m);
    if (bad.is_number_integer()) EXPECT_NE(s.message().find(bad.dump()), std::string::npos) << s.message();
  }
}

#ifdef CATDOG_CLI
namespace {
using catdog::test::Ran;

Ran Catdog(const TempDir& tmp, const std::string& args) { return catdog::test::RunCli(CATDOG_CLI, tmp, args); }

std::string Q(const std::string& s) { return "'" + s + "'"; }
}  // namespace

TEST(CalibrateCli, WritesMetadataAndEvaluateHonoursIt) {
  TempDir tmp;
  // A tiny pack of real photos: the first 80 cats and 80 dogs (sorted names), half of them val.
  ASSERT_TRUE(catdog::test::CopyFirstPhotos(tmp, 80));
  Ran r = Catdog(tmp, "prepare --images " + Q(tmp.path("img")) + " --out " + Q(tmp.path("pack")) +
                          " --seed 7 --val-fraction 0.5 --test-fraction 0");
  ASSERT_EQ(r.code, 0) << r.err;

  const std::string shipped = std::string(CATDOG_SOURCE_DIR) + "/web/models/catnet-aug";
  std::string before_text;
  ASSERT_TRUE(catdog::fs::ReadTextFile(shipped + "/model.json", &before_text));
  r = Catdog(tmp, "calibrate --model " + Q(shipped) + " --pack " + Q(tmp.path("pack")) + " --out " + Q(tmp.path("cal")) + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  std::string after_text;
  ASSERT_TRUE(catdog::fs::ReadTextFile(shipped + "/model.json", &after_text));
  EXPECT_EQ(before_text, after_text) << "--out must leave the source model alone";
  ASSERT_TRUE(stdfs::exists(tmp.path("cal/group1-shard1of1.bin")));

  json printed = json::parse(r.out);
  std::string text;
  ASSERT_TRUE(catdog::fs::ReadTextFile(tmp.path("cal/model.json"), &text));
  json doc = json::parse(text);
  const json& cal = doc["userDefinedMetadata"]["catdog"]["calibration"];
  EXPECT_EQ(cal["method"], "temperature");
  EXPECT_EQ(cal["split"], "val");
  EXPECT_EQ(cal["n"], 80);
  EXPECT_EQ(cal["pack_hash"].get<std::string>().size(), 64u);
  const double t = cal["temperature"].get<double>();
  EXPECT_GT(t, 0);
  EXPECT_EQ(printed["temperature"], cal["temperature"]);
  EXPECT_LE(cal["nll_after"].get<double>(), cal["nll_before"].get<double>() + 1e-9);
  EXPECT_LE(cal["ece_after"].get<double>(), cal["ece_before"].get<double>() + 1e-9);
  // The rest of the metadata survives.
  EXPECT_EQ(doc["userDefinedMetadata"]["catdog"]["fit"], "stretch");
  EXPECT_TRUE(doc["userDefinedMetadata"]["catdog"].contains("arch"));
  // The core parses it and carries the temperature.
  std::unique_ptr<catdog::Model> m;
  ASSERT_TRUE(catdog::fs::LoadModelDir(tmp.path("cal"), {}, &m));
  EXPECT_DOUBLE_EQ(m->info().temperature, t);

  // evaluate: calibrated by default, raw with --uncalibrated; the numbers match calibrate's.
  r = Catdog(tmp, "evaluate --model " + Q(tmp.path("cal")) + " --pack " + Q(tmp.path("pack")) + " --split val --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json ev = json::parse(r.out);
  EXPECT_EQ(ev["calibrated"], true);
  EXPECT_NEAR(ev["ece"].get<double>(), cal["ece_after"].get<double>(), 1e-9);
  EXPECT_NEAR(ev["log_loss"].get<double>(), cal["nll_after"].get<double>(), 1e-9);
  r = Catdog(tmp, "evaluate --model " + Q(tmp.path("cal")) + " --pack " + Q(tmp.path("pack")) + " --split val --json --uncalibrated");
  ASSERT_EQ(r.code, 0) << r.err;
  json raw = json::parse(r.out);
  EXPECT_EQ(raw["calibrated"], false);
  EXPECT_NEAR(raw["ece"].get<double>(), cal["ece_before"].get<double>(), 1e-9);
  EXPECT_NEAR(raw["log_loss"].get<double>(), cal["nll_before"].get<double>(), 1e-9);
  EXPECT_EQ(raw["accuracy"], ev["accuracy"]);  // threshold 0.5 is invariant under temperature

  // Calibrating again (in place) fits the raw outputs, so it gives the same temperature.
  r = Catdog(tmp, "calibrate --model " + Q(tmp.path("cal")) + " --pack " + Q(tmp.path("pack")) + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["temperature"], cal["temperature"]);

  // A model.json the core loads but calibrate cannot extend: exit 2 naming the value, and nothing
  // left beside --out (no staging folder with a half-made copy).
  stdfs::copy(tmp.path("cal"), tmp.path("odd"), stdfs::copy_options::recursive);
  doc["userDefinedMetadata"]["catdog"] = 5;
  ASSERT_TRUE(catdog::fs::WriteFileAtomic(tmp.path("odd/model.json"), doc.dump()));
  stdfs::create_directories(tmp.path("outs"));
  r = Catdog(tmp, "calibrate --model " + Q(tmp.path("odd")) + " --pack " + Q(tmp.path("pack")) + " --out " +
                      Q(tmp.path("outs/odd-cal")));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("userDefinedMetadata.catdog 5"), std::string::npos) << r.err;
  EXPECT_TRUE(stdfs::is_empty(tmp.path("outs"))) << "a failed calibrate left files beside --out";
}

TEST(CalibrateCli, BadInputExitsTwoNamingTheValue) {
  TempDir tmp;
  const std::string shipped = std::string(CATDOG_SOURCE_DIR) + "/web/models/catnet-aug";
  Ran r = Catdog(tmp, "calibrate --model " + Q(tmp.path("nope")) + " --pack " + Q(tmp.path("nopack")));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("nope"), std::string::npos) << r.err;
  r = Catdog(tmp, "calibrate --model " + Q(shipped) + " --pack " + Q(tmp.path("nopack")));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("nopack"), std::string::npos) << r.err;
  r = Catdog(tmp, "calibrate --model " + Q(shipped) + " --pack " + Q(tmp.path("nopack")) + " --split holdout");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("holdout"), std::string::npos) << r.err;
  // A model whose stored temperature is bad is refused by every runtime, naming the value.
  stdfs::create_directories(tmp.path("bad"));
  std::string text;
  ASSERT_TRUE(catdog::fs::ReadTextFile(shipped + "/model.json", &text));
  json doc = json::parse(text);
  doc["userDefinedMetadata"]["catdog"]["calibration"] = {{"method", "temperature"}, {"temperature", -3}};
  std::ofstream(tmp.path("bad/model.json")) << doc.dump();
  stdfs::copy_file(shipped + "/group1-shard1of1.bin", tmp.path("bad/group1-shard1of1.bin"));
  r = Catdog(tmp, "calibrate --model " + Q(tmp.path("bad")) + " --pack " + Q(tmp.path("nopack")));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("temperature -3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bad/model.json"), std::string::npos) << r.err;
}

// a split of one class passed calibrate without a word (a temperature fitted on cats
// only). Refused with exit 2, naming the split; --out is not written.
TEST(CalibrateCli, OneClassSplitIsRefused) {
  TempDir tmp;
  const std::string data = catdog::test::RealDataDir();
  ASSERT_FALSE(data.empty());
  std::vector<std::string> names;
  for (const auto& e : stdfs::directory_iterator(data + "/PetImages/Cat")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  stdfs::create_directories(tmp.path("img/Cat"));
  for (size_t i = 0; i < 8 && i < names.size(); ++i)
    stdfs::copy_file(data + "/PetImages/Cat/" + names[i], tmp.path("img/Cat/" + names[i]));
  Ran r = Catdog(tmp, "prepare --images " + Q(tmp.path("img")) + " --out " + Q(tmp.path("pack")) +
                          " --val-fraction 0.5 --allow-one-class");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string shipped = std::string(CATDOG_SOURCE_DIR) + "/web/models/catnet-aug";
  r = Catdog(tmp, "calibrate --model " + Q(shipped) + " --pack " + Q(tmp.path("pack")) + " --out " + Q(tmp.path("cal")));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("holds one class only"), std::string::npos) << r.err;
  EXPECT_FALSE(stdfs::exists(tmp.path("cal")));
}
#endif

// The `catdog` binary: prepare / preview / predict — exit codes, outputs, messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "catdog/catdog.h"
#include "fsutil.h"
#include "imaging.h"
#include "pack.h"
#include "test_util.h"

namespace stdfs = std::filesystem;
using catdog::test::TempDir;
using json = nlohmann::json;

namespace {

using catdog::test::Ran;

// Runs `catdog ARGS` with CI=true (no progress bar), capturing stdout, stderr and the exit code.
Ran Catdog(const TempDir& tmp, const std::string& args) { return catdog::test::RunCli(CATDOG_CLI, tmp, args); }

std::string Q(const std::string& s) { return "'" + s + "'"; }

bool CopySubset(const std::string& root, size_t n) {
  std::string data = catdog::test::RealDataDir();
  if (data.empty()) return false;
  for (const char* cls : {"Cat", "Dog"}) {
    std::vector<std::string> names;
    for (const auto& e : stdfs::directory_iterator(data + "/PetImages/" + cls)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    stdfs::create_directories(root + "/" + cls);
    for (size_t i = 0; i < n && i < names.size(); ++i)
      stdfs::copy_file(data + "/PetImages/" + cls + "/" + names[i], root + "/" + cls + "/" + names[i]);
  }
  return true;
}

// A TF.js layers model written by hand: Flatten -> Dense(1, sigmoid) with every kernel weight
// 1/10000 and bias -0.5, so P(dog) = sigmoid(mean pixel - 0.5) for a 100x100x1 input.
// `left_only`: the mean of the left half of the image instead (a model a mirror changes).
void WriteMeanModel(const std::string& dir, double threshold, bool left_only = false) {
  stdfs::create_directories(dir);
  json layers = json::array({
      {{"class_name", "InputLayer"},
       {"config", {{"batch_input_shape", {nullptr, 100, 100, 1}}, {"dtype", "float32"}, {"sparse", false}, {"name", "input_1"}}}},
      {{"class_name", "Flatten"}, {"config", {{"name", "flatten"}, {"trainable", true}, {"dtype", "float32"}, {"data_format", "channels_last"}}}},
      {{"class_name", "Dense"},
       {"config", {{"name", "dense"}, {"trainable", true}, {"dtype", "float32"}, {"units", 1}, {"activation", "sigmoid"}, {"use_bias", true}}}},
  });
  json model = {
      {"format", "layers-model"},
      {"generatedBy", "keras v2.15.0"},
      {"convertedBy", "TensorFlow.js Converter v4.22.0"},
      {"modelTopology", {{"class_name", "Sequential"}, {"config", {{"name", "sequential"}, {"layers", layers}}}, {"keras_version", "2.15.0"}, {"backend", "tensorflow"}}},
      {"weightsManifest", json::array({{{"paths", {"group1-shard1of1.bin"}},
                                        {"weights", json::array({{{"name", "dense/kernel"}, {"shape", {10000, 1}}, {"dtype", "float32"}},
                                                                 {{"name", "dense/bias"}, {"shape", {1}}, {"dtype", "float32"}}})}}})},
      {"userDefinedMetadata", {{"catdog", {{"threshold", threshold}, {"fit", "stretch"}, {"input_size", 100}}}}},
  };
  std::ofstream(dir + "/model.json") << model.dump();
  std::vector<float> w(10001, 1.0f / 10000.0f);
  if (left_only)  // Flatten of NHWC gray: index row * 100 + column
    for (int k = 0; k < 10000; ++k) w[size_t(k)] = k % 100 < 50 ? 2.0f / 10000.0f : 0.0f;
  w[10000] = -0.5f;
  std::ofstream(dir + "/group1-shard1of1.bin", std::ios::binary).write(reinterpret_cast<const char*>(w.data()), w.size() * 4);
}

// The mean of the preprocessed 100x100 input's left and right halves (what WriteMeanModel's
// left-only model and its mirror see).
std::pair<double, double> HalfMeans(const std::string& path) {
  catdog::imaging::Image img;
  catdog::imaging::Problem p;
  auto s = catdog::imaging::DecodeFile(path, {}, &img, &p);
  EXPECT_TRUE(s) << s.message();
  std::vector<float> x(10000);
  EXPECT_TRUE(catdog::preprocess(img.view(), catdog::Fit::kStretch, 100, x.data()));
  double left = 0, right = 0;
  for (int k = 0; k < 10000; ++k) (k % 100 < 50 ? left : right) += x[size_t(k)] / 5000.0;
  return {left, right};
}

// P(dog) of WriteMeanModel's whole-image model: sigmoid(mean - 0.5).
double ExpectedPDog(const std::string& path) {
  const auto [left, right] = HalfMeans(path);
  return 1.0 / (1.0 + std::exp(-(0.5 * (left + right) - 0.5)));
}

}  // namespace

TEST(DataCli, PrepareWritesPackReportAndSummary) {
  TempDir tmp;
  ASSERT_TRUE(CopySubset(tmp.path("data"), 20));
  std::ofstream(tmp.path("data/Cat/Thumbs.db")) << "junk";
  Ran r = Catdog(tmp, "prepare --images " + Q(tmp.path("data")) + " --out " + Q(tmp.path("pack")) + " --seed 3 --val-fraction 0.2");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("prepare: 40 images used (cat 20, dog 20; train 32, val 8, test 0), 1 skipped (not-an-image 1)"),
            std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("\r"), std::string::npos) << "no progress bar when CI=true";
  std::string text;
  ASSERT_TRUE(catdog::fs::ReadTextFile(tmp.path("pack/report.json"), &text));
  json rep = json::parse(text);
  EXPECT_EQ(rep["images_used"], 40);
  EXPECT_EQ(rep["per_class"]["dog"], 20);
  EXPECT_EQ(rep["skipped"]["not-an-image"], 1);
  EXPECT_EQ(rep["duplicates"], 0);
  catdog::pack::Pack p;
  ASSERT_TRUE(catdog::pack::ReadPack(tmp.path("pack"), &p));
  EXPECT_EQ(rep["pack"]["content_hash"], p.content_hash);
  EXPECT_EQ(p.seed, 3u);
  // An explicit --report path.
  r = Catdog(tmp, "prepare --images " + Q(tmp.path("data")) + " --out " + Q(tmp.path("pack2")) + " --report " + Q(tmp.path("r.json")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(stdfs::exists(tmp.path("r.json")));
}

TEST(DataCli, PrepareBadInputExitsTwo) {
  TempDir tmp;
  ASSERT_TRUE(CopySubset(tmp.path("data"), 2));
  stdfs::create_directories(tmp.path("data/Hamsters"));
  Ran r = Catdog(tmp, "prepare --images " + Q(tmp.path("data")) + " --out " + Q(tmp.path("p")));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("Hamsters"), std::string::npos) << r.err;
  EXPECT_FALSE(stdfs::exists(tmp.path("p/pack.json")));
  stdfs::remove(tmp.path("data/Hamsters"));
  for (const char* bad : {"--max-shard-mb 61", "--val-fraction 1.5", "--fit squash", "--size 0", "--zstd-level 30"}) {
    r = Catdog(tmp, "prepare --images " + Q(tmp.path("data")) + " --out " + Q(tmp.path("p")) + " " + bad);
    EXPECT_EQ(r.code, 2) << bad << "\n" << r.err;
  }
  // Nothing usable: exit 2, and the explicit report still lists why.
  stdfs::create_directories(tmp.path("junk/Cat"));
  stdfs::create_directories(tmp.path("junk/Dog"));
  std::ofstream(tmp.path("junk/Dog/a.jpg")) << "not really a jpeg";
  r = Catdog(tmp, "prepare --images " + Q(tmp.path("junk")) + " --out " + Q(tmp.path("pj")) + " --report " + Q(tmp.path("rj.json")));
  EXPECT_EQ(r.code, 2);
  std::string text;
  ASSERT_TRUE(catdog::fs::ReadTextFile(tmp.path("rj.json"), &text));
  EXPECT_EQ(json::parse(text)["skipped"]["not-an-image"], 1);
}

TEST(DataCli, PreviewDrawsTheGrid) {
  TempDir tmp;
  ASSERT_TRUE(CopySubset(tmp.path("data"), 20));
  ASSERT_EQ(Catdog(tmp, "prepare --images " + Q(tmp.path("data")) + " --out " + Q(tmp.path("pack"))).code, 0);
  Ran r = Catdog(tmp, "preview --pack " + Q(tmp.path("pack")) + " --out " + Q(tmp.path("grid.png")) + " --seed 4");
  ASSERT_EQ(r.code, 0) << r.err;
  cv::Mat grid = cv::imread(tmp.path("grid.png"));
  ASSERT_FALSE(grid.empty());
  EXPECT_EQ(grid.cols, 5 * (200 + 6) + 6);
  EXPECT_GT(grid.rows, 5 * 200);
  // The first tile shows a real sample, scaled 2x with nearest neighbour: 2x2 blocks are uniform.
  cv::Vec3b a = grid.at<cv::Vec3b>(34 + 10, 6 + 10), b = grid.at<cv::Vec3b>(34 + 11, 6 + 11);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a[0], a[1]);  // gray
  // Different seeds show different samples.
  ASSERT_EQ(Catdog(tmp, "preview --pack " + Q(tmp.path("pack")) + " --out " + Q(tmp.path("grid2.png")) + " --seed 5").code, 0);
  cv::Mat grid2 = cv::imread(tmp.path("grid2.png"));
  EXPECT_GT(cv::norm(grid, grid2, cv::NORM_L1), 0.0);
  // Errors: empty split, missing pack, bad extension.
  r = Catdog(tmp, "preview --pack " + Q(tmp.path("pack")) + " --out " + Q(tmp.path("g.png")) + " --split test");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("test split holds no images"), std::string::npos) << r.err;
  r = Catdog(tmp, "preview --pack " + Q(tmp.path("nope")) + " --out " + Q(tmp.path("g.png")));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("nope"), std::string::npos) << r.err;
  r = Catdog(tmp, "preview --pack " + Q(tmp.path("pack")) + " --out " + Q(tmp.path("g.txt")));
  EXPECT_EQ(r.code, 2);
  // --augment: works where an augmenter is registered, else says what it needs.
  r = Catdog(tmp, "preview --pack " + Q(tmp.path("pack")) + " --out " + Q(tmp.path("ga.png")) + " --augment");
  if (r.code != 0) {
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("--augment needs the torch build"), std::string::npos) << r.err;
  } else {
    cv::Mat aug = cv::imread(tmp.path("ga.png"));
    ASSERT_FALSE(aug.empty());
    EXPECT_GT(cv::norm(grid, aug, cv::NORM_L1), 0.0) << "augmented grid identical to the plain one";
  }
}

TEST(DataCli, PredictGivesTheModelsAnswerPerImage) {
  TempDir tmp;
  ASSERT_TRUE(CopySubset(tmp.path("data"), 3));
  WriteMeanModel(tmp.path("model"), 0.5);
  std::vector<std::string> imgs;
  for (const char* cls : {"Cat", "Dog"})
    for (const auto& e : stdfs::directory_iterator(tmp.path(std::string("data/") + cls))) imgs.push_back(e.path().string());
  std::sort(imgs.begin(), imgs.end());
  std::string args = "predict --json --model " + Q(tmp.path("model"));
  for (const auto& p : imgs) args += " " + Q(p);
  Ran r = Catdog(tmp, args);
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  json doc = json::parse(r.out);
  EXPECT_EQ(doc["threshold"], 0.5);
  EXPECT_EQ(doc["fit"], "stretch");
  ASSERT_EQ(doc["results"].size(), imgs.size());
  EXPECT_TRUE(doc["errors"].empty());
  for (size_t i = 0; i < imgs.size(); ++i) {
    const json& res = doc["results"][i];
    EXPECT_EQ(res["path"], imgs[i]);
    double want = ExpectedPDog(imgs[i]);
    EXPECT_NEAR(res["p_dog"].get<double>(), want, 1e-5) << imgs[i];
    EXPECT_EQ(res["label"], want >= 0.5 ? "dog" : "cat");
    EXPECT_GE(res["ms"].get<double>(), 0.0);
  }
  // The model's threshold decides the label: at 0.999 everything is a cat.
  WriteMeanModel(tmp.path("strict"), 0.999);
  r = Catdog(tmp, "predict --json --model " + Q(tmp.path("strict")) + " " + Q(imgs[0]));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["results"][0]["label"], "cat");
  // Plain text: one line per image.
  r = Catdog(tmp, "predict --model " + Q(tmp.path("model")) + " " + Q(imgs[0]));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("P(dog)="), std::string::npos) << r.out;
}

TEST(DataCli, PredictListsBadImagesAndExitsTwo) {
  TempDir tmp;
  ASSERT_TRUE(CopySubset(tmp.path("data"), 1));
  WriteMeanModel(tmp.path("model"), 0.5);
  std::ofstream(tmp.path("notes.txt")) << "hello";
  std::ofstream(tmp.path("empty.jpg")).close();
  std::string good;
  for (const auto& e : stdfs::directory_iterator(tmp.path("data/Cat"))) good = e.path().string();
  Ran r = Catdog(tmp, "predict --json --model " + Q(tmp.path("model")) + " " + Q(good) + " " + Q(tmp.path("notes.txt")) + " " +
                          Q(tmp.path("empty.jpg")) + " " + Q(tmp.path("missing.png")));
  EXPECT_EQ(r.code, 2);
  json doc = json::parse(r.out);
  EXPECT_EQ(doc["results"].size(), 1u);
  ASSERT_EQ(doc["errors"].size(), 3u);
  EXPECT_EQ(doc["errors"][0]["reason"], "not-an-image");
  EXPECT_EQ(doc["errors"][1]["reason"], "zero-byte");
  EXPECT_EQ(doc["errors"][2]["reason"], "unreadable");
  // A broken model directory is bad input too, with the file named.
  r = Catdog(tmp, "predict --model " + Q(tmp.path("nomodel")) + " " + Q(good));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("nomodel"), std::string::npos) << r.err;
}

// `evaluate --corruptions` on a tiny real-photo pack and the mean-pixel model: severity
// 0 gives plain evaluate's accuracy for every kind, the same seed gives the same numbers, and a
// corruption reaches the model (low light at severity 3 makes every image dark, so the mean-pixel
// model calls all of them cats: accuracy = the share of cats).
TEST(DataCli, EvaluateCorruptionsIsSeededAndSeverityZeroIsPlainEvaluate) {
  TempDir tmp;
  ASSERT_TRUE(CopySubset(tmp.path("data"), 12));
  WriteMeanModel(tmp.path("model"), 0.5);
  Ran r = Catdog(tmp, "prepare --images " + Q(tmp.path("data")) + " --out " + Q(tmp.path("pack")) +
                          " --seed 1 --val-fraction 0 --test-fraction 0.5");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string base = "evaluate --json --model " + Q(tmp.path("model")) + " --pack " + Q(tmp.path("pack"));
  r = Catdog(tmp, base);
  ASSERT_EQ(r.code, 0) << r.err;
  const json plain = json::parse(r.out);
  EXPECT_FALSE(plain.contains("corruptions"));
  // The split and the pack's content hash as fields of their own (scripts/make-report.mjs reads them).
  EXPECT_EQ(plain["split"], "test") << r.out;
  {
    std::ifstream pj(tmp.path("pack/pack.json"));
    const json pack = json::parse(pj);
    EXPECT_EQ(plain["pack_hash"], pack["content_hash"]) << r.out;
  }
  const std::string corr = base + " --corruptions --severities 0,1,2,3 --corruption-seed 3";
  r = Catdog(tmp, corr);
  ASSERT_EQ(r.code, 0) << r.err;
  const json a = json::parse(r.out);
  ASSERT_TRUE(a.contains("corruptions")) << r.out;
  const json& c = a["corruptions"];
  EXPECT_EQ(c["seed"], 3);
  EXPECT_EQ(c["results"].size(), 8u * 4u);
  const size_t n = c["images"].get<size_t>();
  size_t cats = 0;
  for (const json& row : plain["confusion"][0]) cats += row.get<size_t>();
  ASSERT_GT(n, 0u);
  for (const json& row : c["results"]) {
    if (row["severity"] == 0) {
      EXPECT_EQ(row["accuracy"].get<double>(), plain["accuracy"].get<double>()) << row.dump();
    }
    if (row["corruption"] == "low_light" && row["severity"] == 3) {
      EXPECT_DOUBLE_EQ(row["accuracy"].get<double>(), double(cats) / double(n)) << row.dump();
    }
  }
  EXPECT_NEAR(c["mean_by_severity"]["0"].get<double>(), plain["accuracy"].get<double>(), 1e-12);  // a mean of 8 equal values
  // Same seed, same numbers.
  r = Catdog(tmp, corr);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["corruptions"], c);
  // The text report has the table; bad severities and --images are refused with exit 2.
  r = Catdog(tmp, "evaluate --model " + Q(tmp.path("model")) + " --pack " + Q(tmp.path("pack")) + " --corruptions");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("gaussian_blur"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mean"), std::string::npos) << r.out;
  r = Catdog(tmp, base + " --corruptions --severities 4");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--severities"), std::string::npos) << r.err;  // CLI11's range check names flag and value
  EXPECT_NE(r.err.find(" 4 "), std::string::npos) << r.err;
  r = Catdog(tmp, "evaluate --model " + Q(tmp.path("model")) + " --images " + Q(tmp.path("data")) + " --corruptions");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--corruptions needs --pack"), std::string::npos) << r.err;
}

// `evaluate --flip`: each image averaged with its mirror. A model that sees only the
// left half gives other scores with it; the whole-image mean model, which a mirror cannot change,
// gives the same report.
TEST(DataCli, EvaluateFlipAveragesTheMirror) {
  TempDir tmp;
  ASSERT_TRUE(CopySubset(tmp.path("data"), 12));
  WriteMeanModel(tmp.path("mean"), 0.5);
  WriteMeanModel(tmp.path("left"), 0.5, /*left_only=*/true);
  Ran r = Catdog(tmp, "prepare --images " + Q(tmp.path("data")) + " --out " + Q(tmp.path("pack")) +
                          " --seed 1 --val-fraction 0 --test-fraction 0.5");
  ASSERT_EQ(r.code, 0) << r.err;
  auto eval = [&](const char* model, bool flip) {
    Ran e = Catdog(tmp, std::string("evaluate --json --worst 100 --model ") + Q(tmp.path(model)) + " --pack " +
                            Q(tmp.path("pack")) + (flip ? " --flip" : ""));
    EXPECT_EQ(e.code, 0) << e.err;
    return json::parse(e.out);
  };
  const json mean0 = eval("mean", false), mean1 = eval("mean", true);
  EXPECT_EQ(mean0["flip_averaging"], false);
  EXPECT_EQ(mean1["flip_averaging"], true);
  EXPECT_EQ(mean0["accuracy"], mean1["accuracy"]);
  EXPECT_NEAR(mean0["ece"].get<double>(), mean1["ece"].get<double>(), 1e-6);
  const json left0 = eval("left", false), left1 = eval("left", true);
  double moved = std::fabs(left0["ece"].get<double>() - left1["ece"].get<double>());
  for (const json& w0 : left0["worst"])
    for (const json& w1 : left1["worst"])
      if (w0["path"] == w1["path"]) moved = std::max(moved, std::fabs(w0["p_dog"].get<double>() - w1["p_dog"].get<double>()));
  EXPECT_GT(moved, 1e-4) << "mirroring should change what a left-half model sees";
}

// `predict --flip` (the page's mirror averaging): P(dog) is the mean of the image's and
// its mirror's. The left-half model sees the left half of the image, and of the mirror the right
// half (reversed, which a mean does not see), so the answer is known from the preprocessed pixels.
TEST(DataCli, PredictFlipAveragesTheImageAndItsMirror) {
  TempDir tmp;
  ASSERT_TRUE(CopySubset(tmp.path("data"), 2));
  WriteMeanModel(tmp.path("left"), 0.5, /*left_only=*/true);
  std::vector<std::string> imgs;
  for (const char* cls : {"Cat", "Dog"})
    for (const auto& e : stdfs::directory_iterator(tmp.path(std::string("data/") + cls))) imgs.push_back(e.path().string());
  std::sort(imgs.begin(), imgs.end());
  auto predict = [&](bool flip) {
    std::string args = std::string("predict --json") + (flip ? " --flip" : "") + " --model " + Q(tmp.path("left"));
    for (const auto& p : imgs) args += " " + Q(p);
    Ran r = Catdog(tmp, args);
    EXPECT_EQ(r.code, 0) << r.err << r.out;
    return json::parse(r.out);
  };
  const json plain = predict(false), flipped = predict(true);
  EXPECT_EQ(plain["flip_averaging"], false);
  EXPECT_EQ(flipped["flip_averaging"], true);
  ASSERT_EQ(flipped["results"].size(), imgs.size());
  auto sig = [](double z) { return 1.0 / (1.0 + std::exp(-z)); };
  double moved = 0;
  for (size_t i = 0; i < imgs.size(); ++i) {
    const auto [left, right] = HalfMeans(imgs[i]);
    const double p_plain = sig(left - 0.5), p_flip = 0.5 * (sig(left - 0.5) + sig(right - 0.5));
    EXPECT_NEAR(plain["results"][i]["p_dog"].get<double>(), p_plain, 1e-5) << imgs[i];
    EXPECT_NEAR(flipped["results"][i]["p_dog"].get<double>(), p_flip, 1e-5) << imgs[i];
    EXPECT_EQ(flipped["results"][i]["label"], p_flip >= 0.5 ? "dog" : "cat") << imgs[i];
    moved = std::max(moved, std::fabs(p_flip - p_plain));
  }
  EXPECT_GT(moved, 1e-3) << "the photos' halves should differ, or this checks nothing";
}

// `predict` and the model's "neither cat nor dog" block (`catdog ood-fit`): each
// result says whether the page would show "No cat or dog" (the core's IsOutOfDistribution on the image's
// own run, also with --flip), with the score; a model without the block says nothing of it.
TEST(DataCli, PredictSaysNeitherCatNorDogAboveTheModelsThreshold) {
  TempDir tmp;
  ASSERT_TRUE(CopySubset(tmp.path("data"), 3));
  std::vector<std::string> imgs;
  for (const char* cls : {"Cat", "Dog"})
    for (const auto& e : stdfs::directory_iterator(tmp.path(std::string("data/") + cls))) imgs.push_back(e.path().string());
  std::sort(imgs.begin(), imgs.end());
  // The left-half mean model: P(dog) = sigmoid(left mean - 0.5), so its max-prob score is known, and
  // its mirror sees the other half (a different P(dog) with --flip, the same decision).
  WriteMeanModel(tmp.path("plain"), 0.5, /*left_only=*/true);
  std::vector<double> score;
  for (const auto& path : imgs) {
    const double pd = 1.0 / (1.0 + std::exp(-(HalfMeans(path).first - 0.5)));
    score.push_back(std::min(pd, 1.0 - pd));
  }
  std::vector<double> sorted = score;
  std::sort(sorted.begin(), sorted.end());
  ASSERT_GT(sorted[sorted.size() / 2] - sorted[sorted.size() / 2 - 1], 1e-5) << "the photos should score apart";
  const double thr = 0.5 * (sorted[sorted.size() / 2] + sorted[sorted.size() / 2 - 1]);
  stdfs::create_directories(tmp.path("ood"));
  stdfs::copy(tmp.path("plain"), tmp.path("ood"), stdfs::copy_options::recursive | stdfs::copy_options::overwrite_existing);
  {
    std::ifstream in(tmp.path("ood/model.json"));
    json m = json::parse(in);
    m["userDefinedMetadata"]["catdog"]["ood"] = {{"method", "max-prob"}, {"threshold", thr}};
    std::ofstream(tmp.path("ood/model.json")) << m.dump();
  }
  auto predict = [&](const std::string& model, const std::string& flags) {
    std::string args = "predict " + flags + " --model " + Q(tmp.path(model));
    for (const auto& p : imgs) args += " " + Q(p);
    Ran r = Catdog(tmp, args);
    EXPECT_EQ(r.code, 0) << r.err << r.out;
    return r;
  };
  const json plain = json::parse(predict("plain", "--json").out);
  EXPECT_TRUE(plain["ood"].is_null());
  for (const json& res : plain["results"]) EXPECT_FALSE(res.contains("neither")) << res.dump();
  const json doc = json::parse(predict("ood", "--json").out), flipped = json::parse(predict("ood", "--json --flip").out);
  EXPECT_EQ(doc["ood"]["method"], "max-prob");
  EXPECT_DOUBLE_EQ(doc["ood"]["threshold"].get<double>(), thr);
  const std::string text = predict("ood", "").out;
  size_t flagged = 0;
  for (size_t i = 0; i < imgs.size(); ++i) {
    const json& res = doc["results"][i];
    const bool want = score[i] > thr;
    flagged += want;
    EXPECT_EQ(res["neither"], want) << imgs[i] << " score " << score[i] << " threshold " << thr;
    EXPECT_NEAR(res["ood_score"].get<double>(), score[i], 1e-5) << imgs[i];
    EXPECT_EQ(flipped["results"][i]["neither"], want) << "--flip keeps the image's own decision: " << imgs[i];
    const size_t line = text.find(imgs[i] + ":");
    ASSERT_NE(line, std::string::npos) << text;
    const std::string row = text.substr(line, text.find('\n', line) - line);
    EXPECT_EQ(row.find("neither cat nor dog (max-prob score") != std::string::npos, want) << row;
  }
  EXPECT_GT(flagged, 0u);
  EXPECT_LT(flagged, imgs.size());
}

// ---- prepare's --out: what it may remove and lock, and its messages ---------------------

// `prepare` once deleted every "*.tmp<digits>" file and folder in --out. A user's files of any
// name survive a prepare into their folder.
TEST(DataCli, PrepareKeepsUserFilesThatLookLikeTemporaries) {
  TempDir tmp;
  ASSERT_TRUE(CopySubset(tmp.path("data"), 2));
  stdfs::create_directories(tmp.path("o/album.tmp7"));
  std::ofstream(tmp.path("o/album.tmp7/photo.jpg")) << "mine";
  std::ofstream(tmp.path("o/thesis.tmp1")) << "mine";
  Ran r = Catdog(tmp, "prepare --images " + Q(tmp.path("data")) + " --out " + Q(tmp.path("o")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(stdfs::exists(tmp.path("o/thesis.tmp1")));
  EXPECT_TRUE(stdfs::exists(tmp.path("o/album.tmp7/photo.jpg")));
  EXPECT_TRUE(stdfs::exists(tmp.path("o/pack.json")));
  for (const auto& e : stdfs::directory_iterator(tmp.path("o")))
    EXPECT_NE(e.path().filename().string().rfind(catdog::fs::kStagingPrefix, 0), 0u) << e.path() << " left behind";
}

// Two prepares into one --out both exited 0 (and could interleave shards). The second is refused
// (exit 2, naming the folder) while the first holds the lock; here the test holds it.
TEST(DataCli, PrepareRefusesAnOutFolderInUse) {
  TempDir tmp;
  ASSERT_TRUE(CopySubset(tmp.path("data"), 2));
  stdfs::create_directories(tmp.path("o"));
  {
    catdog::fs::DirLock held;
    ASSERT_TRUE(held.Lock(tmp.path("o"), "held by the test"));
    Ran r = Catdog(tmp, "prepare --images " + Q(tmp.path("data")) + " --out " + Q(tmp.path("o")));
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find("another `catdog prepare`"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(tmp.path("o")), std::string::npos) << r.err;
    EXPECT_FALSE(stdfs::exists(tmp.path("o/pack.json")));
  }
  Ran r = Catdog(tmp, "prepare --images " + Q(tmp.path("data")) + " --out " + Q(tmp.path("o")));
  EXPECT_EQ(r.code, 0) << r.err;  // the lock dies with its holder
}

// --out as a file ("...: Success", exit 1), --out "" (exit 0, nothing written), a read-only
// parent ("No such file or directory"), a report that cannot be written (exit 0).
TEST(DataCli, PrepareOutAndReportMessages) {
  TempDir tmp;
  ASSERT_TRUE(CopySubset(tmp.path("data"), 2));
  const std::string images = " --images " + Q(tmp.path("data"));
  std::ofstream(tmp.path("file")) << "x";
  Ran r = Catdog(tmp, "prepare" + images + " --out " + Q(tmp.path("file")));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("exists and is not a folder"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("Success"), std::string::npos) << r.err;

  r = Catdog(tmp, "prepare" + images + " --out ''");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--out is empty"), std::string::npos) << r.err;

  // Root writes anywhere: run the binary as "nobody" for the read-only parent.
  stdfs::create_directories(tmp.path("ro"));
  ASSERT_EQ(::chmod(tmp.path("ro").c_str(), 0555), 0);
  if (::geteuid() == 0) {
    const std::string err_file = tmp.path("stderr.txt");
    const std::string cmd = std::string("CI=true setpriv --reuid=65534 --regid=65534 --clear-groups '") + CATDOG_CLI +
                            "' prepare" + images + " --out " + Q(tmp.path("ro/pack")) + " 2>'" + err_file + "' >/dev/null";
    const int status = std::system(cmd.c_str());
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    catdog::fs::ReadTextFile(err_file, &r.err);
  } else {
    r = Catdog(tmp, "prepare" + images + " --out " + Q(tmp.path("ro/pack")));
  }
  EXPECT_NE(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("No such file"), std::string::npos) << r.err;

  // A report path inside a file cannot be written: the pack is whole, the exit code says it failed.
  r = Catdog(tmp, "prepare" + images + " --out " + Q(tmp.path("p")) + " --report " + Q(tmp.path("file/report.json")));
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("--report"), std::string::npos) << r.err;
  EXPECT_TRUE(stdfs::exists(tmp.path("p/pack.json")));
}

// One class only: refused with exit 2 naming the flag that allows it.
TEST(DataCli, PrepareRefusesOneClassUnlessAllowed) {
  TempDir tmp;
  ASSERT_TRUE(CopySubset(tmp.path("src"), 2));
  stdfs::create_directories(tmp.path("data"));
  stdfs::copy(tmp.path("src/Dog"), tmp.path("data/Dog"));
  Ran r = Catdog(tmp, "prepare --images " + Q(tmp.path("data")) + " --out " + Q(tmp.path("p")));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("no usable image of class cat"), std::string::npos) << r.err;
  EXPECT_FALSE(stdfs::exists(tmp.path("p/pack.json")));
  r = Catdog(tmp, "prepare --images " + Q(tmp.path("data")) + " --out " + Q(tmp.path("p")) + " --allow-one-class");
  EXPECT_EQ(r.code, 0) << r.err;
}

// evaluate --images read `ln -s .. Cat/up` as cats (every dog scored as a cat, the real Dog/
// skipped). It shares prepare's scan: the link is skipped and named, the labels stay right.
TEST(DataCli, EvaluateImagesRefusesASymlinkOutOfTheClassFolder) {
  TempDir tmp;
  ASSERT_TRUE(CopySubset(tmp.path("data"), 3));
  ASSERT_EQ(::symlink("..", tmp.path("data/Cat/up").c_str()), 0);
  WriteMeanModel(tmp.path("mean"), 0.5);
  Ran r = Catdog(tmp, "evaluate --model " + Q(tmp.path("mean")) + " --images " + Q(tmp.path("data")) + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_TRUE(j["split"].is_null() && j["pack_hash"].is_null()) << "folders have no split or pack: " << r.out;
  const json& c = j["confusion"];  // rows: true cat, true dog
  EXPECT_EQ(c[0][0].get<int>() + c[0][1].get<int>(), 3) << r.out;
  EXPECT_EQ(c[1][0].get<int>() + c[1][1].get<int>(), 3) << r.out;
  bool named = false;
  for (const json& s : j["skipped"])
    named = named || (s["path"].get<std::string>().find("Cat/up") != std::string::npos &&
                      s["reason"] == "symlink-outside-class-folder");
  EXPECT_TRUE(named) << j["skipped"].dump();
}

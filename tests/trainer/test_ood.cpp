// "Neither cat nor dog": the threshold math (ood.h), and `catdog ood-fit` /
// `catdog evaluate --ood-images` on a tiny pack of real photos and a folder of made-up non-animal
// images (the Debian photos of data/ood/manifest.tsv are not needed here).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "catdog/catdog.h"
#include "fsutil.h"
#include "model_files.h"
#include "ood.h"
#include "test_util.h"

namespace stdfs = std::filesystem;
using catdog::test::Ran;
using catdog::test::TempDir;
using json = nlohmann::json;

TEST(OodMath, ThresholdAcceptsTheAskedShare) {
  std::vector<float> s;
  for (int i = 1; i <= 100; ++i) s.push_back(float(i) / 200.f);  // 0.005 .. 0.5
  const double t = catdog::ood::ThresholdAtTpr(s, 0.95);
  EXPECT_FLOAT_EQ(float(t), 0.475f);  // the 95th smallest: 95 of 100 at or below it
  EXPECT_EQ(catdog::ood::Accepted(s, t).accepted, 95u);
  EXPECT_EQ(catdog::ood::Accepted(s, std::nextafter(t, 0.0)).accepted, 94u);
  // NaN scores are never accepted, so they push the threshold up.
  s[0] = std::nanf("");
  EXPECT_FLOAT_EQ(float(catdog::ood::ThresholdAtTpr(s, 0.95)), 0.48f);
  EXPECT_TRUE(std::isnan(catdog::ood::ThresholdAtTpr({}, 0.95)));
  EXPECT_TRUE(std::isnan(catdog::ood::ThresholdAtTpr(s, 1.5)));
}

// Auto writes the score that accepts the fewest choose photos, unless it calls more than 1% of the
// split's sure-and-right cats and dogs "neither" (the page would show the clearest cats as "No cat or
// dog") while another score does not.
TEST(OodMath, AutoSkipsAScoreThatRejectsTheSureImages) {
  using catdog::ood::OodCandidate;
  auto cand = [](const char* method, size_t choose_accepted, double auroc, size_t sure_rejected) {
    OodCandidate c;
    c.method = method;
    c.choose = {21, choose_accepted};
    c.auroc = auroc;
    c.sure_rejected = sure_rejected;
    return c;
  };
  const size_t sure = 2548;  // 1% of it: 25.48
  // catnet-s2's numbers: feature distance accepts 9 photos to max-prob's 11, but rejects 94 sure images.
  std::vector<OodCandidate> c = {cand("max-prob", 11, 0.867, 0), cand("feature-distance", 9, 0.866, 94)};
  EXPECT_EQ(catdog::ood::PickCandidate(c, "auto", sure)->method, "max-prob");
  c[1].sure_rejected = 25;  // within 1%: the fewer photos win
  EXPECT_EQ(catdog::ood::PickCandidate(c, "auto", sure)->method, "feature-distance");
  c[1].sure_rejected = 26;
  EXPECT_EQ(catdog::ood::PickCandidate(c, "auto", sure)->method, "max-prob");
  // When every score rejects too many, the photos decide as before; equal photos: the higher AUROC.
  c[0].sure_rejected = 30;
  EXPECT_EQ(catdog::ood::PickCandidate(c, "auto", sure)->method, "feature-distance");
  c[0].choose.accepted = 9;
  c[0].auroc = 0.9;
  EXPECT_EQ(catdog::ood::PickCandidate(c, "auto", sure)->method, "max-prob");
  // A named method is written whatever the numbers; an absent one gives nothing.
  EXPECT_EQ(catdog::ood::PickCandidate(c, "feature-distance", sure)->method, "feature-distance");
  EXPECT_EQ(catdog::ood::PickCandidate({c[0]}, "feature-distance", sure), nullptr);
  EXPECT_EQ(catdog::ood::PickCandidate({}, "auto", sure), nullptr);
}

TEST(OodMath, AurocCountsTiesAsHalf) {
  EXPECT_DOUBLE_EQ(catdog::ood::Auroc({0.1f, 0.2f}, {0.3f, 0.4f}), 1.0);
  EXPECT_DOUBLE_EQ(catdog::ood::Auroc({0.3f, 0.4f}, {0.1f, 0.2f}), 0.0);
  EXPECT_DOUBLE_EQ(catdog::ood::Auroc({0.2f}, {0.2f}), 0.5);
  EXPECT_DOUBLE_EQ(catdog::ood::Auroc({0.1f, 0.3f}, {0.2f}), 0.5);
}

namespace {
Ran Catdog(const TempDir& tmp, const std::string& args) { return catdog::test::RunCli(CATDOG_CLI, tmp, args); }
std::string Q(const std::string& s) { return "'" + s + "'"; }

// A pack of the first 60 cats and 60 dogs (sorted names), half of them val, in tmp/pack.
void MakePack(const TempDir& tmp) {
  ASSERT_TRUE(catdog::test::CopyFirstPhotos(tmp, 60));
  Ran r = Catdog(tmp, "prepare --images " + Q(tmp.path("img")) + " --out " + Q(tmp.path("pack")) +
                          " --seed 7 --val-fraction 0.5 --test-fraction 0");
  ASSERT_EQ(r.code, 0) << r.err;
}

// Four made-up non-animal images (flat gray, a gradient, stripes, noise), a text file and a
// broken JPEG (both reported as skipped) in tmp/ood.
void MakeOodFolder(const TempDir& tmp) {
  stdfs::create_directories(tmp.path("ood"));
  cv::Mat flat(120, 160, CV_8UC3, cv::Scalar(128, 128, 128)), grad(120, 160, CV_8UC3), stripes(120, 160, CV_8UC3),
      noise(120, 160, CV_8UC3);
  for (int y = 0; y < 120; ++y)
    for (int x = 0; x < 160; ++x) {
      grad.at<cv::Vec3b>(y, x) = cv::Vec3b(uchar(x), uchar(y * 2), 90);
      stripes.at<cv::Vec3b>(y, x) = (x / 8) % 2 ? cv::Vec3b(250, 250, 250) : cv::Vec3b(10, 10, 10);
    }
  cv::randu(noise, cv::Scalar::all(0), cv::Scalar::all(255));
  ASSERT_TRUE(cv::imwrite(tmp.path("ood/flat.png"), flat));
  ASSERT_TRUE(cv::imwrite(tmp.path("ood/gradient.jpg"), grad));
  ASSERT_TRUE(cv::imwrite(tmp.path("ood/stripes.png"), stripes));
  ASSERT_TRUE(cv::imwrite(tmp.path("ood/noise.png"), noise));
  std::ofstream(tmp.path("ood/notes.txt")) << "not an image";
  std::ofstream(tmp.path("ood/broken.jpg")) << "\xff\xd8\xff\xe0 truncated";
}

// A shipped model copied to tmp/m without its ood block (the shipped ones have one).
void CopyModelWithoutOod(const TempDir& tmp) {
  const std::string shipped = std::string(CATDOG_SOURCE_DIR) + "/web/models/catnet-aug";
  stdfs::copy(shipped, tmp.path("m"), stdfs::copy_options::recursive);
  std::string text;
  ASSERT_TRUE(catdog::fs::ReadTextFile(tmp.path("m/model.json"), &text));
  json doc = json::parse(text);
  doc["userDefinedMetadata"]["catdog"].erase("ood");
  ASSERT_TRUE(catdog::fs::WriteFileAtomic(tmp.path("m/model.json"), doc.dump()));
}
}  // namespace

TEST(OodCli, FitWritesTheThresholdAndEvaluateReportsTprAndFpr) {
  TempDir tmp;
  MakePack(tmp);
  MakeOodFolder(tmp);
  CopyModelWithoutOod(tmp);
  std::string before;
  ASSERT_TRUE(catdog::fs::ReadTextFile(tmp.path("m/model.json"), &before));

  Ran r = Catdog(tmp, "ood-fit --model " + Q(tmp.path("m")) + " --pack " + Q(tmp.path("pack")) + " --ood-images " +
                          Q(tmp.path("ood")) + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const json printed = json::parse(r.out);
  std::string text;
  ASSERT_TRUE(catdog::fs::ReadTextFile(tmp.path("m/model.json"), &text));
  const json doc = json::parse(text);
  const json& o = doc["userDefinedMetadata"]["catdog"]["ood"];
  // Both scores were compared on the photos; the one written accepts the fewest of them among
  // those that reject at most 1% of the split's sure-and-right images (all, if none does).
  ASSERT_EQ(o["compared"].size(), 2u);
  const size_t sure = o["sure_right"].get<size_t>();
  EXPECT_GT(sure, 0u);
  EXPECT_LE(sure, o["n"].get<size_t>());
  auto keeps = [&](const json& c) { return c["sure_right_rejected"].get<double>() <= 0.01 * double(sure); };
  const bool any_keeps = keeps(o["compared"][0]) || keeps(o["compared"][1]);
  size_t fewest = 1000;
  for (const json& c : o["compared"]) {
    // A sure-and-right image rejected is an image rejected.
    EXPECT_LE(c["sure_right_rejected"].get<size_t>(), o["n"].get<size_t>() - c["val_accepted"].get<size_t>()) << c;
    if (!any_keeps || keeps(c)) fewest = std::min(fewest, c["choose_accepted"].get<size_t>());
  }
  EXPECT_EQ(o["choose"]["accepted"], fewest);
  EXPECT_TRUE(!any_keeps || o["sure_right_rejected"].get<double>() <= 0.01 * double(sure)) << o;
  // Max-prob's threshold lies above kSure here, so it never rejects a sure image.
  for (const json& c : o["compared"])
    if (c["method"] == "max-prob" && c["threshold"].get<double>() > catdog::ood::kSure)
      EXPECT_EQ(c["sure_right_rejected"], 0) << c;
  EXPECT_TRUE(o["method"] == "max-prob" || o["method"] == "feature-distance") << o["method"];
  if (o["method"] == "feature-distance") {
    EXPECT_EQ(o["stats_split"], "train");
    EXPECT_EQ(o["means"].size(), 2u);
    EXPECT_EQ(o["inv_var"].size(), o["means"][0].size());
  }
  EXPECT_EQ(o["split"], "val");
  EXPECT_EQ(o["threshold"], printed["threshold"]);
  const size_t n = o["n"].get<size_t>();
  EXPECT_EQ(n, 60u);
  EXPECT_GE(o["accepted"].get<size_t>(), size_t(std::ceil(0.95 * double(n))));
  EXPECT_EQ(o["choose"]["images"], 4);
  EXPECT_EQ(o["choose"]["skipped"], 2);
  EXPECT_EQ(printed["choose"]["skipped_files"].size(), 2u);
  // Everything else in model.json survives.
  json old_doc = json::parse(before), new_doc = doc;
  new_doc["userDefinedMetadata"]["catdog"].erase("ood");
  EXPECT_EQ(new_doc, old_doc);
  // The core reads it back.
  std::unique_ptr<catdog::Model> m;
  ASSERT_TRUE(catdog::fs::LoadModelDir(tmp.path("m"), {}, &m));
  EXPECT_TRUE(m->info().has_ood);
  EXPECT_DOUBLE_EQ(m->info().ood_threshold, o["threshold"].get<double>());

  r = Catdog(tmp, "evaluate --model " + Q(tmp.path("m")) + " --pack " + Q(tmp.path("pack")) +
                      " --split val --json --ood-images " + Q(tmp.path("ood")));
  ASSERT_EQ(r.code, 0) << r.err;
  const json ev = json::parse(r.out)["ood"];
  EXPECT_EQ(ev["split_images"], n);
  EXPECT_EQ(ev["split_accepted"], o["accepted"]);  // same split, same threshold, same core
  EXPECT_EQ(ev["ood_images"], 4);
  EXPECT_EQ(ev["skipped"].size(), 2u);
  EXPECT_EQ(ev["ood_accepted"], o["choose"]["accepted"]);
  EXPECT_EQ(ev["accepted_as_cat_or_dog"].size(), ev["ood_accepted"].get<size_t>());
  EXPECT_DOUBLE_EQ(ev["fpr"].get<double>(), ev["ood_accepted"].get<double>() / 4.0);
  r = Catdog(tmp, "evaluate --model " + Q(tmp.path("m")) + " --pack " + Q(tmp.path("pack")) + " --split val --ood-images " +
                      Q(tmp.path("ood")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("neither cat nor dog (" + o["method"].get<std::string>() + " score"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("of 4 non-animal photos"), std::string::npos) << r.out;

  // --method picks one score whatever the photos say.
  for (const char* method : {"max-prob", "feature-distance"}) {
    r = Catdog(tmp, "ood-fit --model " + Q(tmp.path("m")) + " --pack " + Q(tmp.path("pack")) + " --ood-images " +
                        Q(tmp.path("ood")) + " --json --method " + method);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(json::parse(r.out)["method"], method);
    ASSERT_TRUE(catdog::fs::LoadModelDir(tmp.path("m"), {}, &m));
    EXPECT_EQ(m->info().ood_method, method);
  }
  // The text output says what auto weighed: each score's photos and its sure-and-right rejections.
  r = Catdog(tmp, "ood-fit --model " + Q(tmp.path("m")) + " --pack " + Q(tmp.path("pack")) + " --ood-images " +
                      Q(tmp.path("ood")));
  ASSERT_EQ(r.code, 0) << r.err;
  for (const json& c : o["compared"])
    EXPECT_NE(r.out.find(c["method"].get<std::string>() + " "), std::string::npos) << r.out;
  for (const json& c : o["compared"])
    EXPECT_NE(r.out.find("rejects " + std::to_string(c["sure_right_rejected"].get<size_t>()) + " of " +
                         std::to_string(sure) + " sure-and-right val images"),
              std::string::npos)
        << r.out;
}

TEST(OodCli, BadInputExitsTwoNamingTheValueAndWritesNothing) {
  TempDir tmp;
  MakePack(tmp);
  MakeOodFolder(tmp);
  CopyModelWithoutOod(tmp);
  std::string before;
  ASSERT_TRUE(catdog::fs::ReadTextFile(tmp.path("m/model.json"), &before));
  const std::string fit = "ood-fit --model " + Q(tmp.path("m")) + " --pack " + Q(tmp.path("pack"));
  stdfs::create_directories(tmp.path("empty"));
  std::ofstream(tmp.path("empty/readme.md")) << "no photos here";
  struct Case {
    std::string args, want;
  };
  for (const Case& c : std::vector<Case>{
           {fit + " --ood-images " + Q(tmp.path("missing")), "missing: not a folder"},
           // the skipped entries are named with their reason
           {fit + " --ood-images " + Q(tmp.path("empty")),
            "empty: no decodable images (1 skipped: " + tmp.path("empty/readme.md") + ": not an image name)"},
           {fit + " --ood-images " + Q(tmp.path("ood")) + " --tpr 1.5", "--tpr 1.5"},
           {fit + " --ood-images " + Q(tmp.path("ood")) + " --split holdout", "holdout"},
           {fit + " --ood-images " + Q(tmp.path("ood")) + " --method energy", "--method 'energy'"},
           // a model without an ood block: evaluate cannot report it
           {"evaluate --model " + Q(tmp.path("m")) + " --pack " + Q(tmp.path("pack")) + " --split val --ood-images " +
                Q(tmp.path("ood")),
            "no userDefinedMetadata.catdog.ood; run `catdog ood-fit` first"},
           {"evaluate --model " + Q(tmp.path("m")) + " --pack " + Q(tmp.path("pack")) + " --split val --uncalibrated --ood-images " +
                Q(tmp.path("ood")),
            "drop --uncalibrated"},
       }) {
    Ran r = Catdog(tmp, c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.want), std::string::npos) << "want '" << c.want << "' in: " << r.err;
  }
  std::string after;
  ASSERT_TRUE(catdog::fs::ReadTextFile(tmp.path("m/model.json"), &after));
  EXPECT_EQ(before, after) << "a failed ood-fit changed model.json";
}

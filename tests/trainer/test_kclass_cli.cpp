// K classes end to end through the `catdog` binary (DESIGN contract 2), on real photos: three class
// folders (cat, dog and "neither" photos of ../shared/data/Other) -> prepare --classes -> train (a
// Dense(3, softmax) head) -> export -> real TF.js agrees -> predict and evaluate through the core;
// and the K inputs a user can get wrong, each a clear error (exit 2) naming the value.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace {
namespace stdfs = std::filesystem;
using json = nlohmann::json;
using catdog::test::ReadAll;
using catdog::test::Ran;
using catdog::test::TempDir;

Ran Cli(const TempDir& tmp, const std::string& args) { return catdog::test::RunCli(CATDOG_CLI, tmp, args, 900); }

// The first `n` files (sorted names) of `from`, copied into `to`.
void CopyFirst(const std::string& from, size_t n, const std::string& to) {
  std::vector<std::string> names;
  for (const auto& e : stdfs::directory_iterator(from))
    if (e.is_regular_file()) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  stdfs::create_directories(to);
  ASSERT_GE(names.size(), n) << from;
  for (size_t i = 0; i < n; ++i) stdfs::copy_file(from + "/" + names[i], to + "/" + names[i]);
}

// tmp/img/{cat,dog,neither}: n photos each, the neither ones from the "other" photos (objects).
bool ThreeFolders(const TempDir& tmp, size_t n) {
  const std::string data = catdog::test::RealDataDir();
  if (data.empty()) return false;
  CopyFirst(data + "/PetImages/Cat", n, tmp.path("img/cat"));
  CopyFirst(data + "/PetImages/Dog", n, tmp.path("img/dog"));
  CopyFirst(data + "/Other/objects", n, tmp.path("img/neither"));
  return !::testing::Test::HasFailure();
}

json ReadJson(const std::string& path) { return json::parse(ReadAll(path), nullptr, false); }

const std::vector<std::string> kLabels = {"cat", "dog", "neither"};

TEST(KClasses, ThreeFoldersThroughPrepareTrainExportTfjsPredictEvaluate) {
  TempDir tmp;
  ASSERT_TRUE(ThreeFolders(tmp, 20));
  Ran r = Cli(tmp, "prepare --images " + tmp.path("img") + " --out " + tmp.path("pack") +
                       " --size 32 --val-fraction 0.25 --seed 3 --classes cat,dog,neither");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("cat 20, dog 20, neither 20"), std::string::npos) << r.out;
  const json pj = ReadJson(tmp.path("pack/pack.json"));
  EXPECT_EQ(pj["labels"], json(kLabels));
  EXPECT_EQ(pj["counts"]["val"], json({{"cat", 5}, {"dog", 5}, {"neither", 5}}));
  EXPECT_EQ(pj["counts"]["train"], json({{"cat", 15}, {"dog", 15}, {"neither", 15}}));

  r = Cli(tmp, "train --pack " + tmp.path("pack") + " --arch cnn --epochs 3 --batch 8 --device cpu --threads 1 --seed 1 "
               "--out " + tmp.path("run"));
  ASSERT_EQ(r.code, 0) << r.err;
  const json run = ReadJson(tmp.path("run/run.json"));
  EXPECT_EQ(run["labels"], json(kLabels)) << run.dump();
  EXPECT_EQ(run["loss"], "categorical_crossentropy");
  EXPECT_NE(run["arch_description"].get<std::string>().find("Dense 3 softmax"), std::string::npos);
  r = Cli(tmp, "export --checkpoint " + tmp.path("run") + " --out " + tmp.path("case/m") + " --allow-chance");
  ASSERT_EQ(r.code, 0) << r.err;

  // The model file: Dense(3, softmax), the labels, no two-class threshold, goldens of 3 values.
  const json mj = ReadJson(tmp.path("case/m/model.json"));
  const json& last = mj["modelTopology"]["model_config"]["config"]["layers"].back();
  EXPECT_EQ(last["class_name"], "Dense");
  EXPECT_EQ(last["config"]["units"], 3);
  EXPECT_EQ(last["config"]["activation"], "softmax");
  const json& cd = mj["userDefinedMetadata"]["catdog"];
  EXPECT_EQ(cd["labels"], json(kLabels));
  EXPECT_FALSE(cd.contains("threshold"));
  ASSERT_FALSE(cd["golden"].empty());
  for (const json& g : cd["golden"]) {
    ASSERT_EQ(g["expected"].size(), 3u) << g.dump();
    double sum = 0;
    for (const json& v : g["expected"]) sum += v.get<double>();
    EXPECT_NEAR(sum, 1.0, 1e-5) << "softmax probabilities";
  }

  // Real TF.js loads it and agrees with libtorch within 1e-4 on the model's goldens (tfjs_load.mjs).
  r = catdog::test::RunCli(CATDOG_NODE, tmp, "--no-experimental-fetch '" + std::string(CATDOG_TFJS_SCRIPT) + "' " + tmp.path("case"), 300);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  const json tj = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(tj.is_object()) << r.out;
  EXPECT_TRUE(tj["ok"].get<bool>()) << r.out;
  EXPECT_LE(tj["golden_max_abs_diff"].get<double>(), 1e-4) << r.out;

  // predict through the core: the label is one of the model's, probabilities per class sum to 1, and
  // the model's self-check (libtorch's goldens through the core) passes.
  std::vector<std::string> files;
  for (const std::string& c : kLabels)
    for (const auto& e : stdfs::directory_iterator(tmp.path("img/" + c))) {
      files.push_back(e.path().string());
      break;
    }
  r = Cli(tmp, "predict --json --model " + tmp.path("case/m") + " " + files[0] + " " + files[1] + " " + files[2]);
  ASSERT_EQ(r.code, 0) << r.err;
  const json pr = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(pr.is_object()) << r.out;
  EXPECT_EQ(pr["labels"], json(kLabels));
  EXPECT_TRUE(pr["threshold"].is_null());
  EXPECT_TRUE(pr["selfcheck"]["verified"].get<bool>()) << pr["selfcheck"].dump();
  ASSERT_EQ(pr["results"].size(), 3u);
  for (const json& res : pr["results"]) {
    const std::string label = res["label"];
    EXPECT_NE(std::find(kLabels.begin(), kLabels.end(), label), kLabels.end()) << label;
    double sum = 0, top = -1;
    std::string best;
    for (const std::string& c : kLabels) {
      const double p = res["probs"][c].get<double>();
      sum += p;
      if (p > top) top = p, best = c;
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
    EXPECT_EQ(label, best) << "a K-class model answers its most probable class";
    EXPECT_EQ(kLabels[res["class"].get<size_t>()], label);
    EXPECT_FALSE(res.contains("p_dog")) << "P(dog) is a two-class model's output";
  }

  // evaluate: a 3 x 3 confusion matrix over the validation split, per-class recall.
  r = Cli(tmp, "evaluate --model " + tmp.path("case/m") + " --pack " + tmp.path("pack") + " --split val --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const json ev = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(ev.is_object()) << r.out;
  EXPECT_EQ(ev["labels"], json(kLabels));
  EXPECT_EQ(ev["split"], "val") << r.out;
  EXPECT_TRUE(ev["pack_hash"].is_string() && ev["pack_hash"].get<std::string>().size() == 64) << r.out;
  ASSERT_EQ(ev["confusion"].size(), 3u);
  int64_t total = 0, diag = 0;
  for (size_t i = 0; i < 3; ++i) {
    int64_t row = 0;
    for (size_t j = 0; j < 3; ++j) row += ev["confusion"][i][j].get<int64_t>();
    EXPECT_EQ(row, 5) << "row " << i << " holds the split's images of class " << kLabels[i];
    EXPECT_EQ(ev["per_class"][i]["label"], kLabels[i]);
    total += row;
    diag += ev["confusion"][i][i].get<int64_t>();
  }
  EXPECT_EQ(total, 15);
  EXPECT_NEAR(ev["accuracy"].get<double>(), double(diag) / 15.0, 1e-12);
  // Its text form names every class.
  r = Cli(tmp, "evaluate --model " + tmp.path("case/m") + " --pack " + tmp.path("pack") + " --split val");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const std::string& c : kLabels) EXPECT_NE(r.out.find(c), std::string::npos) << r.out;

  // calibrate --keep-recall cat,dog=1: an offset on "neither" so that every pet of the split is
  // called cat or dog; evaluate (through the core's Classify) then calls none of them neither.
  r = Cli(tmp, "calibrate --model " + tmp.path("case/m") + " --pack " + tmp.path("pack") +
               " --split val --keep-recall cat,dog=1 --json --out " + tmp.path("cal"));
  ASSERT_EQ(r.code, 0) << r.err;
  const json cj = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(cj.is_object()) << r.out;
  EXPECT_EQ(cj["keep_recall"]["classes"], "cat,dog");
  EXPECT_EQ(cj["keep_recall"]["kept_after"].get<double>(), 1.0) << cj.dump();
  const json bias = ReadJson(tmp.path("cal/model.json"))["userDefinedMetadata"]["catdog"]["calibration"]["class_bias"];
  ASSERT_EQ(bias.size(), 3u);
  EXPECT_EQ(bias[0].get<double>(), 0.0);
  EXPECT_EQ(bias[1].get<double>(), 0.0);
  EXPECT_LE(bias[2].get<double>(), 0.0);
  EXPECT_EQ(bias[2].get<double>(), -cj["keep_recall"]["offset"].get<double>());
  r = Cli(tmp, "evaluate --model " + tmp.path("cal") + " --pack " + tmp.path("pack") + " --split val --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const json ec = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(ec.is_object()) << r.out;
  EXPECT_EQ(ec["confusion"][0][2].get<int64_t>() + ec["confusion"][1][2].get<int64_t>(), 0) << ec["confusion"].dump();
  // What --keep-recall cannot take, each refused naming the value, nothing written.
  for (const auto& [spec, want] : std::vector<std::pair<std::string, std::string>>{
           {"cat,dog,neither=0.9", "names every class"},
           {"rabbit=0.9", "'rabbit' is not one of the model's labels"},
           {"cat,cat=0.9", "'cat' is named twice"},
           {"cat,dog=1.5", "is not a number in (0, 1]"},
           {"cat,dog", "expected LABEL[,LABEL...]=RATE"}}) {
    r = Cli(tmp, "calibrate --model " + tmp.path("case/m") + " --pack " + tmp.path("pack") + " --keep-recall '" + spec +
                 "' --out " + tmp.path("bad"));
    EXPECT_EQ(r.code, 2) << spec << ": " << r.err;
    EXPECT_NE(r.err.find(want), std::string::npos) << spec << ": " << r.err;
    EXPECT_FALSE(stdfs::exists(tmp.path("bad"))) << spec;
  }
}

TEST(KClasses, WhatAUserCanGetWrongIsAClearError) {
  TempDir tmp;
  ASSERT_TRUE(ThreeFolders(tmp, 6));
  const std::string prep = "prepare --images " + tmp.path("img") + " --size 16 --val-fraction 0.34 --seed 1 ";
  auto refused = [&](const std::string& args, const std::string& says) {
    Ran r = Cli(tmp, args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(says), std::string::npos) << args << "\nwant: " << says << "\ngot: " << r.err;
  };
  // Without --classes the third folder is named, and the fix with it.
  refused(prep + "--out " + tmp.path("p0"), "--classes");
  refused(prep + "--out " + tmp.path("p1") + " --classes cat", "1 class given");
  std::string many;
  for (int i = 0; i < 65; ++i) many += (i ? "," : "") + std::string("c") + std::to_string(i);
  refused(prep + "--out " + tmp.path("p2") + " --classes " + many, "65 classes given");
  refused(prep + "--out " + tmp.path("p3") + " --classes 'cat,dog/puppy,neither'", "'dog/puppy'");
  refused(prep + "--out " + tmp.path("p4") + " --classes \"$(printf 'cat,\\377\\376,neither')\"", "not valid UTF-8");
  refused(prep + "--out " + tmp.path("p5") + " --classes cat,Cats,neither", "would read the same folders");
  refused(prep + "--out " + tmp.path("p6") + " --classes cat,dog,train", "split folder");
  // A class whose folder is empty (or missing) has no image: named, with the way out.
  stdfs::create_directories(tmp.path("img2/cat"));
  stdfs::create_directories(tmp.path("img2/neither"));
  for (const auto& e : stdfs::directory_iterator(tmp.path("img/cat"))) stdfs::copy(e.path(), tmp.path("img2/cat"));
  refused("prepare --images " + tmp.path("img2") + " --size 16 --out " + tmp.path("p7") + " --classes cat,dog,neither",
          "no usable image of class dog, neither");
  for (const std::string& p : {"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"})
    EXPECT_FALSE(stdfs::exists(tmp.path(p))) << p << ": nothing is written for a refused prepare";

  // A run on cat/dog/neither, then a pack of the same photos whose third class is named otherwise:
  // the same content hash, other labels. --resume and --finetune refuse it by name.
  Ran r = Cli(tmp, prep + "--out " + tmp.path("pk") + " --classes cat,dog,neither");
  ASSERT_EQ(r.code, 0) << r.err;
  stdfs::rename(tmp.path("img/neither"), tmp.path("img/other"));
  r = Cli(tmp, prep + "--out " + tmp.path("pk_other") + " --classes cat,dog,other");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(ReadJson(tmp.path("pk/pack.json"))["content_hash"], ReadJson(tmp.path("pk_other/pack.json"))["content_hash"]);
  r = Cli(tmp, "train --pack " + tmp.path("pk") + " --arch dense --epochs 1 --batch 4 --device cpu --threads 1 --out " +
                   tmp.path("run") + " --allow-chance --export " + tmp.path("model"));
  ASSERT_EQ(r.code, 0) << r.err;
  refused("train --pack " + tmp.path("pk_other") + " --arch dense --epochs 2 --batch 4 --device cpu --threads 1 --resume --out " +
              tmp.path("run"),
          "was trained on the classes [\"cat\",\"dog\",\"neither\"]");
  refused("train --finetune " + tmp.path("model") + " --pack " + tmp.path("pk_other") +
              " --epochs 1 --batch 4 --device cpu --threads 1 --out " + tmp.path("ft"),
          "the model's classes are [\"cat\",\"dog\",\"neither\"]");
  // A two-class pack cannot fine-tune a three-class model.
  stdfs::remove_all(tmp.path("img/other"));
  r = Cli(tmp, prep + "--out " + tmp.path("pk2"));
  ASSERT_EQ(r.code, 0) << r.err;
  refused("train --finetune " + tmp.path("model") + " --pack " + tmp.path("pk2") +
              " --epochs 1 --batch 4 --device cpu --threads 1 --out " + tmp.path("ft2"),
          "the model has 3 classes");
  // The same K-class model fine-tunes on a pack of its own classes.
  r = Cli(tmp, "train --finetune " + tmp.path("model") + " --pack " + tmp.path("pk") +
                   " --epochs 1 --batch 4 --device cpu --threads 1 --out " + tmp.path("ft3"));
  EXPECT_EQ(r.code, 0) << r.err;
}

}  // namespace

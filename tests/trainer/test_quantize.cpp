// `catdog quantize` (quantize.h): a shipped float32 model quantized by the binary, loaded back with
// the core (verifies, outputs within the quantization's tolerance of the float model's), the
// page's index.json updated; bad input exits 2 naming the flag and value and writes nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catdog/catdog.h"
#include "fsutil.h"
#include "model_files.h"
#include "seal.h"
#include "test_util.h"

namespace stdfs = std::filesystem;
using catdog::test::TempDir;
using json = nlohmann::json;

namespace {

catdog::test::Ran Catdog(const TempDir& tmp, const std::string& args) {
  return catdog::test::RunCli(CATDOG_CLI, tmp, args);
}

json ReadJson(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

// A copy of the shipped float model catnet-v2 and of the page's index.json in TMP/models.
void CopyShipped(const TempDir& tmp) {
  const std::string web = std::string(CATDOG_SOURCE_DIR) + "/web/models";
  stdfs::create_directories(tmp.path("models"));
  stdfs::copy(web + "/catnet-v2", tmp.path("models/catnet-v2"), stdfs::copy_options::recursive);
  stdfs::copy_file(web + "/index.json", tmp.path("models/index.json"));
}

// The bytes the page downloads: dot files (the .catdog-output marker) are not part of the site.
uint64_t FolderBytes(const std::string& dir, const std::string& ext = "") {
  uint64_t n = 0;
  for (const auto& e : stdfs::directory_iterator(dir))
    if ((ext.empty() || e.path().extension() == ext) && e.path().filename().string()[0] != '.') n += e.file_size();
  return n;
}

// Outputs of the model in `dir` (loaded with its self-check) on `n` seeded random images.
std::vector<float> Outputs(const std::string& dir, int n, catdog::SelfCheckReport* rep) {
  std::unique_ptr<catdog::Model> m;
  catdog::Status s = catdog::cli::LoadModelDirChecked(dir, {}, &m, rep);
  EXPECT_TRUE(s) << s.message();
  if (!s) return {};
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<float> in(m->input_size() * size_t(n)), out(m->output_size() * size_t(n));
  for (float& v : in) v = u(rng);
  EXPECT_TRUE(m->Run(in.data(), n, out.data()));
  return out;
}

// fs::OpenModel, the one way a command opens a model folder: weights loaded and self-checked on the
// bytes it read (a changed weight byte fails the check, not the load), or parsed only (weights false).
TEST(OpenModel, LoadsChecksOrOnlyParses) {
  TempDir tmp;
  CopyShipped(tmp);
  const std::string dir = tmp.path("models/catnet-v2");
  catdog::SelfCheckReport rep;
  catdog::fs::OpenOptions o;
  o.selfcheck_report = &rep;
  catdog::fs::ModelFiles files;
  catdog::Status s = catdog::fs::OpenModel(dir, o, &files);
  ASSERT_TRUE(s) << s.message();
  EXPECT_TRUE(rep.present && rep.verified()) << rep.Summary();
  EXPECT_EQ(files.json_path, dir + "/model.json");
  EXPECT_FALSE(files.text.empty());
  ASSERT_EQ(files.blobs.size(), files.model->shard_paths().size());
  std::vector<float> in(files.model->input_size(), 0.5f), out(files.model->output_size());
  EXPECT_TRUE(files.model->Run(in.data(), 1, out.data()));

  // Parse only: the files are read, the weights are not loaded.
  catdog::fs::ModelFiles parsed;
  catdog::fs::OpenOptions po;
  po.weights = false;
  ASSERT_TRUE(catdog::fs::OpenModel(dir, po, &parsed));
  EXPECT_EQ(parsed.text, files.text);
  EXPECT_FALSE(parsed.model->Run(in.data(), 1, out.data())) << "no weights were loaded";

  // One weight byte changed: it still loads (the shapes are right) and the self-check says so.
  const std::string shard = dir + "/" + files.model->shard_paths()[0];
  std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(100);
  char c = 0;
  f.read(&c, 1);
  c = char(c ^ 0x40);
  f.seekp(100);
  f.write(&c, 1);
  f.close();
  catdog::SelfCheckReport bad;
  o.selfcheck_report = &bad;
  catdog::fs::ModelFiles changed;
  s = catdog::fs::OpenModel(dir, o, &changed);
  ASSERT_TRUE(s) << s.message();
  EXPECT_TRUE(bad.present);
  EXPECT_FALSE(bad.verified()) << bad.Summary();
}

TEST(Quantize, FloatModelToEachDtypeLoadsVerifiesAndUpdatesTheIndex) {
  TempDir tmp;
  CopyShipped(tmp);
  catdog::SelfCheckReport rep;
  const std::vector<float> want = Outputs(tmp.path("models/catnet-v2"), 16, &rep);
  ASSERT_EQ(want.size(), 16u);
  const json index_before = ReadJson(tmp.path("models/index.json"));
  struct Case { const char* dtype; double tol; uint64_t bytes_per_weight; };
  for (const Case c : {Case{"uint8", 0.05, 1}, Case{"uint16", 1e-3, 2}, Case{"float16", 1e-2, 2}}) {
    const std::string id = std::string("catnet-v2-") + c.dtype;
    const std::string out = tmp.path("models/" + id);
    auto r = Catdog(tmp, "quantize '" + tmp.path("models/catnet-v2") + "' --dtype " + c.dtype + " --out '" + out +
                             "' --index '" + tmp.path("models/index.json") + "'");
    ASSERT_EQ(r.code, 0) << c.dtype << ": " << r.err;
    // The manifest says how every weight is stored; the shards shrank accordingly.
    const json mj = ReadJson(out + "/model.json");
    for (const json& w : mj["weightsManifest"][0]["weights"]) {
      ASSERT_TRUE(w.contains("quantization")) << w.dump();
      EXPECT_EQ(w["quantization"]["dtype"], c.dtype);
      if (std::string(c.dtype) != "float16") EXPECT_TRUE(w["quantization"].contains("scale"));
    }
    EXPECT_EQ(mj["userDefinedMetadata"]["catdog"]["quantization"], c.dtype);
    EXPECT_EQ(mj["userDefinedMetadata"]["catdog"]["selfcheck"]["source"], "catdog-core");
    EXPECT_EQ(FolderBytes(out, ".bin") * 4, FolderBytes(tmp.path("models/catnet-v2"), ".bin") * c.bytes_per_weight) << c.dtype;
    // The core loads it, its re-sealed self-check passes, outputs stay near the float model's.
    catdog::SelfCheckReport qrep;
    const std::vector<float> got = Outputs(out, 16, &qrep);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_TRUE(qrep.verified()) << c.dtype << ": " << qrep.Summary();
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(double(got[i]) - double(want[i])));
    EXPECT_LE(worst, c.tol) << c.dtype;
    EXPECT_GT(worst, 0.0) << c.dtype << ": outputs identical to float32, nothing was quantized";
    // index.json: the new entry (from the source's entry), every other entry as it was.
    const json index = ReadJson(tmp.path("models/index.json"));
    const json* entry = nullptr;
    for (const json& e : index["models"])
      if (e["id"] == id) entry = &e;
    ASSERT_NE(entry, nullptr) << index.dump(2);
    EXPECT_EQ((*entry)["path"], id + "/model.json");
    EXPECT_EQ((*entry)["quantization"], c.dtype);
    EXPECT_EQ((*entry)["arch"], "catnet");
    EXPECT_EQ((*entry)["size_bytes"].get<uint64_t>(), FolderBytes(out));
    EXPECT_FALSE(entry->contains("test_accuracy")) << "the float model's accuracy copied onto the quantized one";
    EXPECT_NE((*entry)["title"].get<std::string>().find(c.dtype), std::string::npos);
    EXPECT_EQ(index["default"], index_before["default"]);
    for (const json& e : index_before["models"]) {
      bool same = false;
      for (const json& f : index["models"]) same = same || f == e;
      EXPECT_TRUE(same) << "entry changed: " << e.dump();
    }
  }
  EXPECT_EQ(ReadJson(tmp.path("models/index.json"))["models"].size(), index_before["models"].size() + 3);
  // Quantizing again to the same folder replaces its entry instead of adding a second one.
  auto r = Catdog(tmp, "quantize '" + tmp.path("models/catnet-v2") + "' --dtype uint8 --out '" +
                           tmp.path("models/catnet-v2-uint8") + "' --index '" + tmp.path("models/index.json") +
                           "' --title 'CatNet v2 8-bit'");
  ASSERT_EQ(r.code, 0) << r.err;
  const json index = ReadJson(tmp.path("models/index.json"));
  EXPECT_EQ(index["models"].size(), index_before["models"].size() + 3);
  int titled = 0;
  for (const json& e : index["models"]) titled += e["title"] == "CatNet v2 8-bit" ? 1 : 0;
  EXPECT_EQ(titled, 1);
}

TEST(Quantize, BadInputExitsTwoNamingTheValueAndWritesNothing) {
  TempDir tmp;
  CopyShipped(tmp);
  const std::string src = tmp.path("models/catnet-v2");
  const std::string index = tmp.path("models/index.json");
  const std::string index_text = ReadJson(index).dump();
  // First an already quantized model, for "quantizing twice".
  ASSERT_EQ(Catdog(tmp, "quantize '" + src + "' --dtype uint8 --out '" + tmp.path("models/u8") + "'").code, 0);
  std::ofstream(tmp.path("not-index.json")) << "{\"default\": \"x\"}";
  struct Bad { std::string args, needle; };
  const std::string out = tmp.path("models/never");
  const std::vector<Bad> cases = {
      {"'" + src + "' --dtype int4 --out '" + out + "'", "int4"},
      {"'" + tmp.path("no-such-model") + "' --dtype uint8 --out '" + out + "'", "no-such-model"},
      {"'" + tmp.path("models/u8") + "' --dtype uint16 --out '" + out + "'", "stored as uint8"},
      {"'" + src + "' --dtype uint8 --out '" + out + "' --index '" + tmp.path("not-index.json") + "'", "not-index.json"},
      {"'" + src + "' --dtype uint8 --out '" + tmp.path("elsewhere/m") + "' --index '" + index + "'", "elsewhere/m"},
      {"'" + src + "' --dtype uint8 --out '" + out + "' --index '" + index + "' --metrics '" + index + "'", "accuracy"},
  };
  for (const Bad& b : cases) {
    auto r = Catdog(tmp, "quantize " + b.args);
    EXPECT_EQ(r.code, 2) << b.args << "\n" << r.err;
    EXPECT_NE(r.err.find(b.needle), std::string::npos) << b.args << "\n" << r.err;
    EXPECT_FALSE(stdfs::exists(out)) << b.args;
    EXPECT_FALSE(stdfs::exists(tmp.path("elsewhere/m"))) << b.args;
    EXPECT_EQ(ReadJson(index).dump(), index_text) << b.args;
  }
}

// A model whose run card says it does not beat chance (learning_check.h) is not quantized for
// shipping unless --allow-chance; a model without the check (older runs, other tools) is.
TEST(Quantize, AModelAtChanceIsRefusedUnlessAllowed) {
  TempDir tmp;
  CopyShipped(tmp);
  const std::string src = tmp.path("models/catnet-v2");
  json doc = ReadJson(src + "/model.json");
  doc["userDefinedMetadata"]["catdog"]["run_card"]["learning_check"] = {
      {"known", true}, {"images", 60}, {"accuracy", 0.5}, {"chance", 0.5}, {"bar", 0.65},
      {"spread", 0.0004}, {"beats_chance", false}, {"collapsed", true}};
  std::ofstream(src + "/model.json") << doc.dump();
  const std::string out = tmp.path("models/u8");
  auto r = Catdog(tmp, "quantize '" + src + "' --dtype uint8 --out '" + out + "'");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("does not beat chance"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("50.0%"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--allow-chance"), std::string::npos) << r.err;
  EXPECT_FALSE(stdfs::exists(out));
  r = Catdog(tmp, "quantize '" + src + "' --dtype uint8 --out '" + out + "' --allow-chance");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("quantized anyway"), std::string::npos) << r.err;
  EXPECT_TRUE(stdfs::exists(out + "/model.json"));
}

}  // namespace

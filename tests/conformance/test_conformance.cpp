// Checks the core against TensorFlow.js 4.22: every fixture written by gen_fixtures.mjs (model.json +
// shards + TF.js's outputs for seeded inputs), with every backend this build has, within
// |core - tfjs| <= 1e-4 * max(1, |tfjs|). One test per fixture x backend, registered at start-up
// from fixtures.json (env CATDOG_CONFORMANCE_DIR overrides the build-time folder). And the other
// way round: every Keras class and activation the core registers (shared/src/layers/registry.inc)
// must be in a fixture, so nothing the core claims to run goes unchecked against TF.js.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catdog/catdog.h"

namespace {

using nlohmann::json;

std::string FixtureDir() {
  const char* env = std::getenv("CATDOG_CONFORMANCE_DIR");
  return env && *env ? env : CATDOG_CONFORMANCE_DIR;
}

bool ReadBytes(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

struct Case {
  int batch;
  std::vector<float> input, output;
};

struct Fixture {
  std::string name, dir;
  std::vector<int64_t> input_shape;
  std::vector<Case> cases;
  std::vector<std::string> layer_aliases;  // "NAME=CLASS", as the CLI's --layer-alias takes them
};

std::string ReadModelJson(const Fixture& fx) {
  std::string text;
  ReadBytes(FixtureDir() + "/" + fx.dir + "/model.json", &text);
  return text;
}

class ConformanceTest : public testing::Test {
 public:
  ConformanceTest(const Fixture* fx, catdog::Backend b) : fx_(fx), backend_(b) {}
  void TestBody() override {
    const std::string dir = FixtureDir() + "/" + fx_->dir;
    std::string text;
    ASSERT_TRUE(ReadBytes(dir + "/model.json", &text)) << "cannot read " << dir << "/model.json";
    catdog::LoadOptions opt;
    opt.backend = backend_;
    for (const std::string& a : fx_->layer_aliases) ASSERT_TRUE(catdog::ParseLayerAlias(a, &opt).ok()) << a;
    std::unique_ptr<catdog::Model> model;
    catdog::Status s = catdog::Model::Parse(text, &model, opt, dir + "/model.json");
    ASSERT_TRUE(s.ok()) << s.message();
    std::vector<std::string> blobs;
    std::vector<catdog::ShardBytes> shards;
    blobs.reserve(model->shard_paths().size());
    for (const std::string& p : model->shard_paths()) {
      blobs.emplace_back();
      ASSERT_TRUE(ReadBytes(dir + "/" + p, &blobs.back())) << "cannot read shard " << dir << "/" << p;
      shards.push_back({reinterpret_cast<const uint8_t*>(blobs.back().data()), blobs.back().size()});
    }
    s = model->LoadWeights(shards);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(model->info().input_shape, fx_->input_shape);
    EXPECT_EQ(model->backend(), backend_);
    for (const Case& c : fx_->cases) {
      std::vector<int64_t> shape{c.batch};
      shape.insert(shape.end(), fx_->input_shape.begin(), fx_->input_shape.end());
      ASSERT_TRUE(model->CheckInputShape(shape).ok());
      ASSERT_EQ(c.input.size(), model->input_size() * static_cast<size_t>(c.batch));
      ASSERT_EQ(c.output.size(), model->output_size() * static_cast<size_t>(c.batch)) << "output size differs from TF.js";
      std::vector<float> out(c.output.size(), std::nanf(""));
      s = model->Run(c.input.data(), c.batch, out.data());
      ASSERT_TRUE(s.ok()) << s.message();
      size_t bad = 0, worst = 0;
      double worst_err = 0;
      for (size_t i = 0; i < out.size(); ++i) {
        double ref = c.output[i];
        double err = std::fabs(double(out[i]) - ref) / std::max(1.0, std::fabs(ref));
        if (!(err <= 1e-4)) ++bad;
        if (!(err <= worst_err)) {
          worst_err = err;
          worst = i;
        }
      }
      EXPECT_EQ(bad, 0u) << fx_->name << " [" << catdog::BackendName(backend_) << "] batch " << c.batch << ": " << bad
                         << " of " << out.size() << " outputs off; worst at " << worst << ": core " << out[worst]
                         << " vs tfjs " << c.output[worst] << " (rel err " << worst_err << ")";
    }
  }

 private:
  const Fixture* fx_;
  catdog::Backend backend_;
};

class MissingFixtures : public testing::Test {
 public:
  explicit MissingFixtures(std::string why) : why_(std::move(why)) {}
  void TestBody() override { FAIL() << why_; }

 private:
  std::string why_;
};

std::vector<Fixture>* LoadFixtures(std::string* error) {
  static std::vector<Fixture> fixtures;  // lives for the whole run (tests point into it)
  static bool loaded = false;
  std::vector<Fixture>* list = &fixtures;
  if (loaded) return list;
  loaded = true;
  std::string text;
  const std::string path = FixtureDir() + "/fixtures.json";
  if (!ReadBytes(path, &text)) {
    *error = path + " is missing: the build generates it with `node tests/conformance/gen_fixtures.mjs DIR` "
             "(needs node and npm install at the repo root)";
    return list;
  }
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.contains("fixtures")) {
    *error = path + " is not valid fixtures JSON";
    return list;
  }
  for (const json& f : doc["fixtures"]) {
    Fixture fx;
    fx.name = f["name"].get<std::string>();
    fx.dir = f["dir"].get<std::string>();
    fx.input_shape = f["input_shape"].get<std::vector<int64_t>>();
    for (const json& c : f["cases"]) fx.cases.push_back({c["batch"].get<int>(), c["input"].get<std::vector<float>>(), c["output"].get<std::vector<float>>()});
    if (f.contains("layer_aliases"))
      for (const auto& [name, cls] : f["layer_aliases"].items()) fx.layer_aliases.push_back(name + "=" + cls.get<std::string>());
    list->push_back(std::move(fx));
  }
  if (list->empty()) *error = path + " lists no fixtures";
  return list;
}

// ---- the registry against the fixtures -----------------------------------------------------------

struct Registered {
  const char* class_name;
  const char* fixture;
};
constexpr Registered kRegisteredLayers[] = {
#define CATDOG_LAYER(cls, family, fixture) {#cls, #fixture},
#include "layers/registry.inc"
};
constexpr const char* kRegisteredActivations[] = {
#define CATDOG_ACTIVATION(e, str) str,
#include "layers/registry.inc"
};

// Keras spells activations in snake_case, TF.js some in camelCase (hardSigmoid).
std::string ToSnake(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') {
      if (!r.empty()) r += '_';
      r += static_cast<char>(c - 'A' + 'a');
    } else {
      r += c;
    }
  }
  return r;
}

// Every class_name and activation in a model.json, at any depth (nested models, Keras 3 objects).
void Collect(const json& j, std::set<std::string>* classes, std::set<std::string>* acts) {
  if (j.is_object()) {
    if (auto c = j.find("class_name"); c != j.end() && c->is_string()) classes->insert(c->get<std::string>());
    if (auto a = j.find("activation"); a != j.end()) {
      if (a->is_string()) acts->insert(ToSnake(a->get<std::string>()));
      if (a->is_object())
        for (const char* k : {"config", "class_name"})
          if (auto v = a->find(k); v != a->end() && v->is_string()) acts->insert(ToSnake(v->get<std::string>()));
    }
  }
  if (j.is_structured())
    for (const json& v : j) Collect(v, classes, acts);
}

struct FixtureContents {
  std::set<std::string> classes, activations;
  bool has_reference = false;  // TF.js outputs to compare with: Conformance.<name>_<backend> runs
};

FixtureContents ReadContents(const Fixture& fx) {
  FixtureContents c;
  std::string text;
  if (!ReadBytes(FixtureDir() + "/" + fx.dir + "/model.json", &text)) return c;
  const json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) return c;
  Collect(doc, &c.classes, &c.activations);
  c.has_reference = !fx.cases.empty() &&
                    std::all_of(fx.cases.begin(), fx.cases.end(), [](const Case& k) { return !k.output.empty(); });
  return c;
}

// Each CATDOG_LAYER line names the fixture that runs its class: that fixture must exist, hold the
// class in its model.json and carry TF.js's outputs (so its reference test runs on every backend).
TEST(Conformance, EveryRegisteredLayerHasAFixture) {
  std::string error;
  const std::vector<Fixture>* fixtures = LoadFixtures(&error);
  ASSERT_TRUE(error.empty()) << error;
  std::vector<std::string> missing;
  for (const Registered& r : kRegisteredLayers) {
    auto fx = std::find_if(fixtures->begin(), fixtures->end(), [&](const Fixture& f) { return f.name == r.fixture; });
    if (fx == fixtures->end()) {
      missing.push_back(std::string(r.class_name) + ": fixture '" + r.fixture + "' is not in fixtures.json");
      continue;
    }
    const FixtureContents c = ReadContents(*fx);
    if (!c.classes.count(r.class_name))
      missing.push_back(std::string(r.class_name) + ": fixture '" + r.fixture + "' has no layer of that class");
    else if (!c.has_reference)
      missing.push_back(std::string(r.class_name) + ": fixture '" + r.fixture + "' has no TF.js outputs");
  }
  std::string list;
  for (const std::string& m : missing) list += "\n  " + m;
  EXPECT_TRUE(missing.empty()) << missing.size() << " registered layer classes (shared/src/layers/registry.inc) "
                               << "without a conformance fixture (tests/conformance/gen_fixtures.mjs):" << list;
}

// Every CATDOG_ACTIVATION name is used by some fixture (gen_fixtures.mjs builds its activation
// model from registry.inc).
TEST(Conformance, EveryRegisteredActivationHasAFixture) {
  std::string error;
  const std::vector<Fixture>* fixtures = LoadFixtures(&error);
  ASSERT_TRUE(error.empty()) << error;
  std::set<std::string> used;
  for (const Fixture& fx : *fixtures) {
    const FixtureContents c = ReadContents(fx);
    if (c.has_reference) used.insert(c.activations.begin(), c.activations.end());
  }
  std::string list;
  for (const char* a : kRegisteredActivations)
    if (!used.count(a)) list += std::string(" ") + a;
  EXPECT_TRUE(list.empty()) << "registered activations (shared/src/layers/registry.inc) in no conformance fixture:" << list;
}

// A fixture that loads only with a layer alias is refused without it, and the message names the
// layer, its class and the alias that loads it.
TEST(Conformance, AliasedFixturesAreRefusedWithoutTheirAliasNamingIt) {
  std::string error;
  const std::vector<Fixture>* fixtures = LoadFixtures(&error);
  ASSERT_TRUE(error.empty()) << error;
  int aliased = 0;
  for (const Fixture& fx : *fixtures) {
    if (fx.layer_aliases.empty()) continue;
    ++aliased;
    std::unique_ptr<catdog::Model> model;
    catdog::Status s = catdog::Model::Parse(ReadModelJson(fx), &model, {}, fx.dir + "/model.json");
    ASSERT_FALSE(s.ok()) << fx.name << " loads without its alias";
    for (const std::string& a : fx.layer_aliases) {
      const std::string custom = a.substr(0, a.find('='));
      EXPECT_NE(s.message().find("unsupported class '" + custom + "'"), std::string::npos) << s.message();
      EXPECT_NE(s.message().find("--layer-alias " + a), std::string::npos) << s.message();
    }
  }
  EXPECT_GT(aliased, 0) << "no fixture in fixtures.json needs a layer alias (gen_fixtures.mjs keras3_nested_subclass)";
}

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  std::string error;
  std::vector<Fixture>* fixtures = LoadFixtures(&error);
  if (!error.empty()) {
    testing::RegisterTest("Conformance", "FixturesPresent", nullptr, nullptr, __FILE__, __LINE__,
                          [error]() -> testing::Test* { return new MissingFixtures(error); });
  }
  for (catdog::Backend b : {catdog::Backend::kReference, catdog::Backend::kSimd, catdog::Backend::kXnnpack}) {
    if (!catdog::BackendAvailable(b)) continue;
    for (const Fixture& fx : *fixtures) {
      const Fixture* p = &fx;
      testing::RegisterTest("Conformance", (fx.name + "_" + catdog::BackendName(b)).c_str(), nullptr, nullptr, __FILE__,
                            __LINE__, [p, b]() -> testing::Test* { return new ConformanceTest(p, b); });
    }
  }
  return RUN_ALL_TESTS();
}

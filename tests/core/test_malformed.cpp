// Malformed models, table-driven: every variant is made here from a valid model (a 2-layer Dense
// Sequential or a small Functional graph) by one mutation of its model.json or its weight shard,
// and must be refused by Model::Parse / LoadWeights with its own message naming the file, the
// layer or weight, and the bad value. Runs natively and compiled to wasm under node.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catdog/catdog.h"

namespace {

using nlohmann::json;
using catdog::Backend;
using catdog::LoadOptions;
using catdog::Model;
using catdog::ShardBytes;
using catdog::Status;

constexpr char kSource[] = "bad/model.json";

json Layer(const std::string& cls, json config) { return json{{"class_name", cls}, {"config", std::move(config)}}; }

// Valid: Dense(2, relu) on 3 inputs, then Dense(1); weights d1/kernel [3,2], d1/bias [2],
// d2/kernel [2,1], d2/bias [1] in one float32 shard.
json DenseDoc() {
  json topo = {{"class_name", "Sequential"},
               {"config",
                {{"name", "seq"},
                 {"layers",
                  {Layer("Dense", {{"name", "d1"}, {"units", 2}, {"activation", "relu"}, {"batch_input_shape", {nullptr, 3}}}),
                   Layer("Dense", {{"name", "d2"}, {"units", 1}, {"activation", "linear"}})}}}}};
  json manifest = json::array({{{"paths", {"group1-shard1of1.bin"}},
                                {"weights",
                                 {{{"name", "d1/kernel"}, {"shape", {3, 2}}, {"dtype", "float32"}},
                                  {{"name", "d1/bias"}, {"shape", {2}}, {"dtype", "float32"}},
                                  {{"name", "d2/kernel"}, {"shape", {2, 1}}, {"dtype", "float32"}},
                                  {{"name", "d2/bias"}, {"shape", {1}}, {"dtype", "float32"}}}}}});
  return {{"format", "layers-model"}, {"generatedBy", "test"}, {"modelTopology", topo}, {"weightsManifest", manifest}};
}
std::vector<float> DenseWeights() { return {1, -1, 2, 0.5f, -1, 1, 0.1f, -0.2f, 2, -3, 0.25f}; }

// Valid: Functional x -> ReLU a -> ReLU b (no weights).
json Inbound(std::vector<const char*> from) {
  json node = json::array();
  for (const char* f : from) node.push_back({f, 0, 0, json::object()});
  return json::array({node});
}
json FunctionalDoc() {
  json layers = {
      {{"class_name", "InputLayer"}, {"name", "x"}, {"config", {{"name", "x"}, {"batch_input_shape", {nullptr, 2}}}}, {"inbound_nodes", json::array()}},
      {{"class_name", "ReLU"}, {"name", "a"}, {"config", {{"name", "a"}}}, {"inbound_nodes", Inbound({"x"})}},
      {{"class_name", "ReLU"}, {"name", "b"}, {"config", {{"name", "b"}}}, {"inbound_nodes", Inbound({"a"})}}};
  json topo = {{"class_name", "Functional"},
               {"config", {{"name", "f"}, {"layers", layers}, {"input_layers", {{"x", 0, 0}}}, {"output_layers", {{"b", 0, 0}}}}}};
  return {{"format", "layers-model"}, {"modelTopology", topo}, {"weightsManifest", json::array()}};
}

struct Variant {
  const char* name;
  std::function<std::string()> model_json;                  // the broken (or valid) model.json text
  std::function<std::vector<std::vector<uint8_t>>()> shards;  // nullptr: Parse must fail already
  std::vector<const char*> expect;                           // substrings of the message
  LoadOptions options = {};
};

std::vector<uint8_t> Bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}
// model.json text from the dense model after `edit`.
std::function<std::string()> Dense(std::function<void(json&)> edit) {
  return [edit] {
    json d = DenseDoc();
    edit(d);
    return d.dump();
  };
}
std::function<std::string()> Functional(std::function<void(json&)> edit) {
  return [edit] {
    json d = FunctionalDoc();
    edit(d);
    return d.dump();
  };
}
std::function<std::string()> Text(std::string t) {
  return [t] { return t; };
}
std::function<std::vector<std::vector<uint8_t>>()> Shard(std::function<void(std::vector<uint8_t>&)> edit) {
  return [edit] {
    std::vector<uint8_t> b = Bytes(DenseWeights());
    edit(b);
    return std::vector<std::vector<uint8_t>>{b};
  };
}
std::function<std::vector<std::vector<uint8_t>>()> Weights(std::function<void(std::vector<float>&)> edit) {
  return [edit] {
    std::vector<float> w = DenseWeights();
    edit(w);
    return std::vector<std::vector<uint8_t>>{Bytes(w)};
  };
}
json& L(json& d, int i) { return d["modelTopology"]["config"]["layers"][i]; }
json& W(json& d, int i) { return d["weightsManifest"][0]["weights"][i]; }
json& FL(json& d) { return d["modelTopology"]["config"]["layers"]; }

const std::vector<Variant>& Variants() {
  static const std::vector<Variant> v = [] {
    std::vector<Variant> t;
    // ---- the file itself
    t.push_back({"empty_file", Text(""), nullptr, {"invalid JSON", "line 1"}});
    t.push_back({"bad_json", Text("{\"modelTopology\": {\"class_name\": \"Sequential\",,}}"), nullptr, {"invalid JSON", "column"}});
    t.push_back({"top_level_not_object", Text("[1, 2]"), nullptr, {"not a TF.js model.json", "not a JSON object"}});
    t.push_back({"graph_model", Dense([](json& d) { d["format"] = "graph-model"; }), nullptr, {"'graph-model'", "not a layers model"}});
    t.push_back({"missing_topology", Dense([](json& d) { d.erase("modelTopology"); }), nullptr, {"missing 'modelTopology'"}});
    t.push_back({"missing_manifest", Dense([](json& d) { d.erase("weightsManifest"); }), nullptr, {"missing 'weightsManifest'"}});
    t.push_back({"topology_wrong_type", Dense([](json& d) { d["modelTopology"] = 5; }), nullptr, {"'modelTopology' is not an object"}});
    t.push_back({"topology_wrong_class", Dense([](json& d) { d["modelTopology"]["class_name"] = "Dense"; }), nullptr,
                 {"modelTopology is a 'Dense'", "not a layers model"}});
    // ---- the weights manifest
    t.push_back({"manifest_wrong_type", Dense([](json& d) { d["weightsManifest"] = {{"paths", 1}}; }), nullptr,
                 {"weightsManifest must be a list of groups", "\"paths\""}});
    t.push_back({"group_missing_paths", Dense([](json& d) { d["weightsManifest"][0].erase("paths"); }), nullptr,
                 {"weightsManifest[0]", "missing 'paths'"}});
    t.push_back({"group_missing_weights", Dense([](json& d) { d["weightsManifest"][0].erase("weights"); }), nullptr,
                 {"weightsManifest[0]", "missing 'weights'"}});
    t.push_back({"shard_path_wrong_type", Dense([](json& d) { d["weightsManifest"][0]["paths"] = {42}; }), nullptr,
                 {"shard path is not a non-empty string", "42"}});
    t.push_back({"weight_missing_name", Dense([](json& d) { W(d, 1).erase("name"); }), nullptr, {"weightsManifest[0].weights[1]", "missing 'name'"}});
    t.push_back({"weight_missing_shape", Dense([](json& d) { W(d, 2).erase("shape"); }), nullptr, {"weight 'd2/kernel'", "missing 'shape'"}});
    t.push_back({"negative_dimension", Dense([](json& d) { W(d, 0)["shape"] = {3, -2}; }), nullptr, {"weight 'd1/kernel'", "bad dimension -2"}});
    t.push_back({"huge_weight_dimensions", Dense([](json& d) { W(d, 0)["shape"] = {4294967296LL, 4294967296LL, 4}; }), nullptr,
                 {"weight 'd1/kernel'", "[4294967296,4294967296,4]", "overflows"}});
    t.push_back({"wrong_dtype", Dense([](json& d) { W(d, 1)["dtype"] = "int32"; }), nullptr, {"weight 'd1/bias'", "unsupported dtype 'int32'"}});
    t.push_back({"dtype_wrong_type", Dense([](json& d) { W(d, 1)["dtype"] = 7; }), nullptr, {"weight 'd1/bias'", "'dtype' is not a string"}});
    t.push_back({"quantization_unknown_dtype", Dense([](json& d) { W(d, 0)["quantization"] = {{"dtype", "int4"}, {"min", 0}, {"scale", 1}}; }),
                 nullptr, {"weight 'd1/kernel'", "unsupported quantization dtype 'int4'"}});
    t.push_back({"quantization_missing_scale", Dense([](json& d) { W(d, 0)["quantization"] = {{"dtype", "uint8"}, {"min", 0}}; }), nullptr,
                 {"weight 'd1/kernel'", "uint8 quantization needs numeric 'min' and 'scale'"}});
    t.push_back({"swapped_shape", Dense([](json& d) { W(d, 0)["shape"] = {2, 3}; }), nullptr,
                 {"layer 'd1' (Dense)", "shape [2,3]", "needs [3,2]"}});
    t.push_back({"wrong_bias_shape", Dense([](json& d) { W(d, 3)["shape"] = {2}; }), nullptr, {"layer 'd2' (Dense)", "shape [2]", "needs [1]"}});
    t.push_back({"missing_weight", Dense([](json& d) { d["weightsManifest"][0]["weights"].erase(3); }), nullptr,
                 {"layer 'd2' (Dense)", "'d2/bias'", "not in the weightsManifest"}});
    t.push_back({"weight_of_no_layer", Dense([](json& d) { d["weightsManifest"][0]["weights"].push_back({{"name", "ghost/kernel"}, {"shape", {1}}}); }),
                 nullptr, {"'ghost/kernel'", "belongs to no layer"}});
    // ---- layers
    t.push_back({"unknown_layer_class", Dense([](json& d) { L(d, 1)["class_name"] = "Dense2"; }), nullptr, {"layer 'd2'", "unsupported class 'Dense2'"}});
    t.push_back({"layer_without_class", Dense([](json& d) { L(d, 1).erase("class_name"); }), nullptr, {"a layer has no class_name", "\"d2\""}});
    t.push_back({"unsupported_activation", Dense([](json& d) { L(d, 1)["config"]["activation"] = "crelu"; }), nullptr,
                 {"layer 'd2' (Dense)", "unsupported activation 'crelu'"}});
    t.push_back({"negative_units", Dense([](json& d) { L(d, 0)["config"]["units"] = -3; }), nullptr,
                 {"layer 'd1' (Dense)", "'units' must be a positive integer", "-3"}});
    t.push_back({"units_wrong_type", Dense([](json& d) { L(d, 0)["config"]["units"] = "2"; }), nullptr,
                 {"layer 'd1' (Dense)", "'units' must be a positive integer", "\"2\""}});
    t.push_back({"config_wrong_type", Dense([](json& d) { L(d, 1)["config"] = {1, 2}; }), nullptr, {"a Dense layer has no name", "\"config\":[1,2]"}});
    t.push_back({"huge_input_dimensions", Dense([](json& d) { L(d, 0)["config"]["batch_input_shape"] = {nullptr, 3037000500LL, 3037000500LL, 3}; }),
                 nullptr, {"out-of-range dimension 3037000500"}});
    t.push_back({"input_dimension_wrong_type", Dense([](json& d) { L(d, 0)["config"]["batch_input_shape"] = {nullptr, "three"}; }), nullptr,
                 {"non-integer dimension", "\"three\""}});
    t.push_back({"no_input_shape", Dense([](json& d) { L(d, 0)["config"].erase("batch_input_shape"); }), nullptr, {"no input shape", "'d1'"}});
    t.push_back({"no_layers", Dense([](json& d) { d["modelTopology"]["config"]["layers"] = json::array(); }), nullptr, {"has no layers"}});
    t.push_back({"duplicate_layer_names", Dense([](json& d) { L(d, 1)["config"]["name"] = "d1"; }), nullptr, {"duplicate layer name 'd1'"}});
    {
      Variant big{"weights_over_byte_limit", Dense([](json&) {}), nullptr, {"weights need more than the limit of 40 bytes"}};
      big.options.max_total_bytes = 40;  // the 11 weights are 44 bytes
      t.push_back(big);
    }
    t.push_back({"bad_calibration_temperature",
                 Dense([](json& d) { d["userDefinedMetadata"] = {{"catdog", {{"calibration", {{"temperature", -2}}}}}}; }), nullptr,
                 {"calibration.temperature", "-2"}});
    // ---- the model's facts (ModelInfo): one reader, every bad value named
    auto facts = [](json value, const char* key) {
      return Dense([value, key](json& d) { d["userDefinedMetadata"] = {{"catdog", {{key, value}}}}; });
    };
    t.push_back({"threshold_out_of_range", facts(1.5, "threshold"), nullptr, {"catdog.threshold 1.5", "(0, 1)"}});
    t.push_back({"threshold_wrong_type", facts("0.5", "threshold"), nullptr, {"catdog.threshold \"0.5\""}});
    t.push_back({"fit_unknown", facts("center_crop", "fit"), nullptr, {"catdog.fit \"center_crop\"", "\"stretch\" or \"crop\""}});
    t.push_back({"labels_not_a_list", facts("cat,dog", "labels"), nullptr, {"catdog.labels \"cat,dog\"", "2 to 64 class names"}});
    t.push_back({"labels_empty_name", facts(json::array({"cat", ""}), "labels"), nullptr, {"catdog.labels[1] \"\""}});
    t.push_back({"labels_count_not_the_output", facts(json::array({"cat", "dog", "neither"}), "labels"), nullptr,
                 {"catdog.labels has 3 names", "output [1] has 2 classes"}});
    t.push_back({"labels_with_a_slash", facts(json::array({"cat", "dog/puppy"}), "labels"), nullptr,
                 {"catdog.labels[1] \"dog/puppy\"", "'/'"}});
    t.push_back({"labels_dot_dot", facts(json::array({"..", "dog"}), "labels"), nullptr, {"catdog.labels[0] \"..\"", "folder name"}});
    t.push_back({"labels_control_character", facts(json::array({"cat", "do\tg"}), "labels"), nullptr, {"catdog.labels[1]", "control character"}});
    t.push_back({"labels_twice", facts(json::array({"cat", "cat"}), "labels"), nullptr, {"catdog.labels[1] \"cat\"", "labels[0] again"}});
    t.push_back({"labels_65", facts(json(std::vector<std::string>(65, "x")), "labels"), nullptr, {"2 to 64 class names"}});
    t.push_back({"input_size_not_the_input", facts(100, "input_size"), nullptr, {"catdog.input_size 100", "input layer [3]"}});
    // ---- functional graphs
    t.push_back({"cyclic_graph", Functional([](json& d) { FL(d)[1]["inbound_nodes"] = Inbound({"b"}); }), nullptr,
                 {"model 'f'", "'a', 'b'", "cycle"}});
    t.push_back({"unknown_inbound_layer", Functional([](json& d) { FL(d)[2]["inbound_nodes"] = Inbound({"ghost"}); }), nullptr,
                 {"layer 'b' takes input from 'ghost'", "not a layer of this model"}});
    t.push_back({"unknown_output_layer", Functional([](json& d) { d["modelTopology"]["config"]["output_layers"] = {{"zzz", 0, 0}}; }), nullptr,
                 {"output layer 'zzz' is not in its layers"}});
    t.push_back({"duplicate_functional_names", Functional([](json& d) { FL(d)[2]["name"] = "a"; FL(d)[2]["config"]["name"] = "a"; }), nullptr,
                 {"model 'f'", "duplicate layer name 'a'"}});
    t.push_back({"inbound_nodes_wrong_type", Functional([](json& d) { FL(d)[1]["inbound_nodes"] = "x"; }), nullptr,
                 {"layer 'a'", "'inbound_nodes' is not a list"}});
    t.push_back({"two_model_inputs", Functional([](json& d) { d["modelTopology"]["config"]["input_layers"] = {{"x", 0, 0}, {"a", 0, 0}}; }), nullptr,
                 {"has 2 inputs", "only single-input"}});
    t.push_back({"second_output_tensor", Functional([](json& d) { d["modelTopology"]["config"]["output_layers"] = {{"b", 0, 1}}; }), nullptr,
                 {"names output 1 of layer 'b'"}});
    // ---- the shard bytes (Parse succeeds, LoadWeights refuses)
    auto ok = Dense([](json&) {});
    t.push_back({"missing_shard_file", ok, [] { return std::vector<std::vector<uint8_t>>{}; }, {"1 shard(s)", "0 were given", "group1-shard1of1.bin"}});
    t.push_back({"empty_shard_file", ok, Shard([](std::vector<uint8_t>& b) { b.clear(); }), {"short", "group1-shard1of1.bin", "d1/kernel"}});
    t.push_back({"truncated_shard", ok, Shard([](std::vector<uint8_t>& b) { b.resize(b.size() - 3); }), {"short", "'group1-shard1of1.bin'", "d2/bias"}});
    t.push_back({"extra_shard_bytes", ok, Shard([](std::vector<uint8_t>& b) { b.insert(b.end(), 5, 0); }),
                 {"'group1-shard1of1.bin'", "5 extra bytes"}});
    t.push_back({"nan_weight", ok, Weights([](std::vector<float>& w) { w[3] = std::numeric_limits<float>::quiet_NaN(); }),
                 {"weight 'd1/kernel'", "NaN", "[1,1]"}});
    t.push_back({"inf_weight", ok, Weights([](std::vector<float>& w) { w[10] = -std::numeric_limits<float>::infinity(); }),
                 {"weight 'd2/bias'", "Inf"}});
    return t;
  }();
  return v;
}

class MalformedModel : public ::testing::TestWithParam<size_t> {};

Status Try(const Variant& v) {
  LoadOptions opt = v.options;
  opt.backend = Backend::kReference;
  std::unique_ptr<Model> m;
  Status s = Model::Parse(v.model_json(), &m, opt, kSource);
  if (!s) {
    if (v.shards) return Status::Error("Parse refused a model only its shard breaks: " + s.message());
    return s;
  }
  if (!v.shards) return Status::Ok();
  std::vector<std::vector<uint8_t>> bytes = v.shards();
  std::vector<ShardBytes> sb;
  for (const auto& b : bytes) sb.push_back({b.data(), b.size()});
  return m->LoadWeights(sb);
}

TEST_P(MalformedModel, IsRefusedWithItsOwnMessage) {
  const Variant& v = Variants()[GetParam()];
  Status s = Try(v);
  ASSERT_FALSE(s.ok()) << v.name << " was accepted";
  EXPECT_NE(s.message().find(kSource), std::string::npos) << v.name << ": message does not name the file: " << s.message();
  for (const char* part : v.expect)
    EXPECT_NE(s.message().find(part), std::string::npos) << v.name << ": message lacks '" << part << "': " << s.message();
}

INSTANTIATE_TEST_SUITE_P(Variants, MalformedModel, ::testing::Range<size_t>(0, Variants().size()),
                         [](const ::testing::TestParamInfo<size_t>& i) { return std::string(Variants()[i.param].name); });

// The bases themselves load (so each variant fails because of its one mutation) ...
TEST(MalformedModelTable, BasesAreValid) {
  LoadOptions opt;
  opt.backend = Backend::kReference;
  std::unique_ptr<Model> m;
  ASSERT_TRUE(Model::Parse(DenseDoc().dump(), &m, opt, kSource).ok());
  std::vector<uint8_t> b = Bytes(DenseWeights());
  ASSERT_TRUE(m->LoadWeights({ShardBytes{b.data(), b.size()}}).ok());
  std::unique_ptr<Model> f;
  Status s = Model::Parse(FunctionalDoc().dump(), &f, opt, kSource);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_TRUE(f->LoadWeights({}).ok());
}

// ... there are at least 30 of them, and no two give the same message.
TEST(MalformedModelTable, AtLeastThirtyDistinctMessages) {
  std::set<std::string> messages;
  for (const Variant& v : Variants()) messages.insert(Try(v).message());
  EXPECT_GE(Variants().size(), 30u);
  EXPECT_EQ(messages.size(), Variants().size()) << "two variants share a message";
}

}  // namespace

namespace {

// The facts every reader takes from ModelInfo: defaults when absent, the values when given.
TEST(ModelFacts, ParsedOnceWithDefaults) {
  std::unique_ptr<Model> m;
  ASSERT_TRUE(Model::Parse(Dense([](json&) {})(), &m).ok());
  EXPECT_EQ(m->info().fit, catdog::Fit::kStretch);
  EXPECT_FALSE(m->info().fit_given);
  EXPECT_EQ(m->info().threshold, 0.5);
  EXPECT_EQ(m->info().labels, (std::vector<std::string>{"cat", "dog"}));
  const std::string given = Dense([](json& d) {
    d["userDefinedMetadata"] = {{"catdog", {{"fit", "crop"}, {"threshold", 0.625}, {"labels", {"Katze", "Hund"}}, {"input_size", 3}}}};
  })();
  Status s = Model::Parse(given, &m);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(m->info().fit, catdog::Fit::kCenterCrop);
  EXPECT_TRUE(m->info().fit_given);
  EXPECT_EQ(m->info().threshold, 0.625);
  EXPECT_EQ(m->info().labels, (std::vector<std::string>{"Katze", "Hund"}));
}

}  // namespace

// Hostile model.json files, made by hand the way an attacker would, not by a fuzzer:
// JSON nested ~100,000 levels deep in every field the loader touches, shard paths that leave the
// model's folder or name one file twice, huge shard lists, very long and odd names. Each must be
// refused by Model::Parse with a message naming the file and the problem — never a stack
// overflow, never accepted. Runs natively, under ASan/UBSan and compiled to wasm under node.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catdog/catdog.h"
#include "catdog/json_bounded.h"

namespace {

using nlohmann::json;
using catdog::Model;
using catdog::ShardBytes;
using catdog::Status;

constexpr char kSource[] = "hostile/model.json";
constexpr char kMark[] = "@DEEP@";        // a field set to this string ...
constexpr char kDeep[] = "\"@DEEP@\"";  // ... is replaced in the text by the nested arrays

json Layer(const std::string& cls, json config) { return json{{"class_name", cls}, {"config", std::move(config)}}; }

// Valid: Dense(1) on 3 inputs; weights d1/kernel [3,1], d1/bias [1] in one float32 shard.
json DenseDoc() {
  json topo = {{"class_name", "Sequential"},
               {"config",
                {{"name", "seq"},
                 {"layers", {Layer("Dense", {{"name", "d1"}, {"units", 1}, {"activation", "linear"},
                                             {"batch_input_shape", {nullptr, 3}}})}}}}};
  json manifest = json::array({{{"paths", {"w.bin"}},
                                {"weights", {{{"name", "d1/kernel"}, {"shape", {3, 1}}, {"dtype", "float32"}},
                                             {{"name", "d1/bias"}, {"shape", {1}}, {"dtype", "float32"}}}}}});
  return {{"format", "layers-model"},
          {"modelTopology", topo},
          {"weightsManifest", manifest},
          {"userDefinedMetadata", {{"catdog", {{"calibration", {{"temperature", 1.5}}}}}}}};
}

std::string Nested(size_t depth, char open = '[', char close = ']') {
  return std::string(depth, open) + std::string(depth, close);
}

// The document's text with the placeholder string replaced by `depth` nested arrays.
std::string WithDeep(const json& doc, size_t depth) {
  std::string text = doc.dump();
  const size_t at = text.find(kDeep);
  EXPECT_NE(at, std::string::npos);
  return text.replace(at, std::strlen(kDeep), Nested(depth));
}

Status Parse(const std::string& text, std::unique_ptr<Model>* m = nullptr) {
  std::unique_ptr<Model> local;
  return Model::Parse(text, m ? m : &local, {}, kSource);
}

void ExpectRefused(const Status& s, std::vector<std::string> parts) {
  ASSERT_FALSE(s.ok()) << "accepted";
  EXPECT_NE(s.message().find(kSource), std::string::npos) << s.message();
  for (const std::string& p : parts) EXPECT_NE(s.message().find(p), std::string::npos) << "want '" << p << "' in: " << s.message();
}

// Every field the loader reads, replaced by (or holding) a value nested 100,000 levels deep.
struct DeepCase {
  const char* name;
  std::function<void(json&)> put;  // writes the placeholder somewhere
};
const DeepCase kDeepCases[] = {
    {"userDefinedMetadata", [](json& d) { d["userDefinedMetadata"]["x"] = kMark; }},
    {"metadata_catdog", [](json& d) { d["userDefinedMetadata"]["catdog"]["selfcheck"] = kMark; }},
    {"calibration_temperature", [](json& d) { d["userDefinedMetadata"]["catdog"]["calibration"]["temperature"] = kMark; }},
    {"manifest_path", [](json& d) { d["weightsManifest"][0]["paths"][0] = kMark; }},
    {"weight_shape", [](json& d) { d["weightsManifest"][0]["weights"][0]["shape"] = kMark; }},
    {"weight_dimension", [](json& d) { d["weightsManifest"][0]["weights"][0]["shape"][0] = kMark; }},
    {"weight_name", [](json& d) { d["weightsManifest"][0]["weights"][0]["name"] = kMark; }},
    {"quantization", [](json& d) { d["weightsManifest"][0]["weights"][0]["quantization"] = kMark; }},
    {"manifest", [](json& d) { d["weightsManifest"] = kMark; }},
    {"layer_config", [](json& d) { d["modelTopology"]["config"]["layers"][0]["config"]["units"] = kMark; }},
    {"batch_input_shape", [](json& d) { d["modelTopology"]["config"]["layers"][0]["config"]["batch_input_shape"] = kMark; }},
    {"activation", [](json& d) { d["modelTopology"]["config"]["layers"][0]["config"]["activation"] = kMark; }},
    {"format", [](json& d) { d["format"] = kMark; }},
    {"generatedBy", [](json& d) { d["generatedBy"] = kMark; }},
    {"unknown_key", [](json& d) { d["zzz"] = kMark; }},
};

TEST(HostileJson, DeepNestingInEveryFieldIsRefusedWithTheDepth) {
  for (const DeepCase& c : kDeepCases) {
    SCOPED_TRACE(c.name);
    json doc = DenseDoc();
    c.put(doc);
    ExpectRefused(Parse(WithDeep(doc, 100000)), {"nested deeper than 128 levels"});
  }
}

TEST(HostileJson, DeepObjectsAndTheWholeDocument) {
  ExpectRefused(Parse(Nested(100000)), {"nested deeper than 128"});
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  objects += "1" + std::string(100000, '}');
  ExpectRefused(Parse(objects), {"nested deeper than 128"});
  // Unterminated: still a depth message, not a walk to the end.
  ExpectRefused(Parse(std::string(1000000, '[')), {"nested deeper than 128"});
}

TEST(HostileJson, LimitIsExactly128Levels) {
  // The document is level 1, userDefinedMetadata level 2, "x" holds the arrays.
  json doc = DenseDoc();
  doc["userDefinedMetadata"]["x"] = kMark;
  std::unique_ptr<Model> m;
  Status ok = Parse(WithDeep(doc, 126), &m);
  ASSERT_TRUE(ok.ok()) << ok.message();
  // The metadata comes back whole (serialized: a recursive walk, now bounded).
  EXPECT_NE(m->info().user_metadata_json.find(Nested(126)), std::string::npos);
  ExpectRefused(Parse(WithDeep(doc, 127)), {"nested deeper than 128"});
}

TEST(HostileJson, BoundedParserForOrderedJsonToo) {
  nlohmann::ordered_json out;
  std::string why;
  EXPECT_FALSE(catdog::jsonb::Parse(Nested(5000), &out, &why, "pack.json"));
  EXPECT_EQ(why, "pack.json: JSON nested deeper than 128 levels (arrays/objects inside each other)");
  EXPECT_TRUE(out.is_null());
  EXPECT_TRUE(catdog::jsonb::Parse(std::string("{\"a\":[1,{\"b\":2}]}"), &out, &why, "x"));
  EXPECT_EQ(out.dump(), "{\"a\":[1,{\"b\":2}]}");
  EXPECT_TRUE(catdog::jsonb::Parse(Nested(3), &out, &why, "x", 3));
  EXPECT_FALSE(catdog::jsonb::Parse(Nested(4), &out, &why, "x", 3));
}

TEST(HostileJson, NonUtf8IsAnInvalidJsonMessageThatIsItselfAscii) {
  json doc = DenseDoc();
  std::string text = doc.dump();
  text.replace(text.find("seq"), 3, "s\xff\xfe");
  Status s = Parse(text);
  ExpectRefused(s, {"invalid JSON at line 1"});
  for (unsigned char c : s.message()) EXPECT_LT(c, 0x80) << s.message();
}

// ---- shard paths --------------------------------------------------------------------------------
std::string WithPaths(const json& paths) {
  json doc = DenseDoc();
  doc["weightsManifest"][0]["paths"] = paths;
  return doc.dump();
}

TEST(HostilePaths, EscapesAbsoluteAndUrlLikePathsAreRefused) {
  const struct {
    std::string path, want;
  } cases[] = {
      {"../outside.bin", "leaves the model's folder"},
      {"../../somewhere/outside.bin", "leaves the model's folder"},
      {"../../../../../../etc/passwd", "leaves the model's folder"},
      {"sub/../../w.bin", "leaves the model's folder"},
      {"./../w.bin", "leaves the model's folder"},
      {"..", "leaves the model's folder"},
      {".", "names the model's folder itself"},
      {"sub/..", "names the model's folder itself"},
      {"/etc/passwd", "is absolute"},
      {"//server/share/w.bin", "is absolute"},
      {"..\\..\\w.bin", "not allowed"},
      {"sub\\w.bin", "not allowed"},
      {"http://evil.example/w.bin", "not allowed"},
      {"file:///etc/passwd", "not allowed"},
      {"C:/w.bin", "not allowed"},
      {"%2e%2e/w.bin", "not allowed"},
      {"%252e%252e/w.bin", "not allowed"},
      {"w.bin?x=1", "not allowed"},
      {"w.bin#frag", "not allowed"},
      {std::string("w\x01.bin"), "not allowed"},
      {"w\n.bin", "not allowed"},
      {std::string(5000, 'a') + ".bin", "bytes long (the limit is 1024)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path.substr(0, 60));
    ExpectRefused(Parse(WithPaths({c.path})), {"shard path", c.want});
  }
}

TEST(HostilePaths, OneFileListedTwiceIsRefused) {
  for (const json& paths : {json{"w.bin", "w.bin"}, json{"w.bin", "./w.bin"}, json{"sub/../w.bin", "w.bin"},
                            json{"a//w.bin", "a/w.bin"}}) {
    SCOPED_TRACE(paths.dump());
    ExpectRefused(Parse(WithPaths(paths)), {"names a file listed before"});
  }
  // Across groups too.
  json doc = DenseDoc();
  doc["weightsManifest"].push_back({{"paths", {"./w.bin"}}, {"weights", json::array()}});
  ExpectRefused(Parse(doc.dump()), {"names a file listed before"});
  // The 20,000-times-the-same-shard manifest stops at the second entry.
  std::vector<std::string> many(20000, "group1-shard1of1.bin");
  ExpectRefused(Parse(WithPaths(many)), {"'group1-shard1of1.bin' names a file listed before"});
}

TEST(HostilePaths, HugeShardListsAreRefused) {
  std::vector<std::string> many;
  for (int i = 0; i < 5000; ++i) many.push_back("s" + std::to_string(i) + ".bin");
  ExpectRefused(Parse(WithPaths(many)), {"more than 4096 shard files"});
}

TEST(HostilePaths, PlainRelativePathsInsideTheFolderAreAccepted) {
  for (const json& paths : {json{"w.bin"}, json{"sub/w.bin"}, json{"sub/../w.bin"}, json{"./w.bin"},
                            json{"a b/w\xc3\xa9.bin"}, json{std::string(1000, 'n')}}) {
    SCOPED_TRACE(paths.dump());
    std::unique_ptr<Model> m;
    Status s = Parse(WithPaths(paths), &m);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(m->shard_paths(), paths.get<std::vector<std::string>>());
  }
}

TEST(HostilePaths, WeightBytesTellsAReaderHowMuchToReadAtMost) {
  std::unique_ptr<Model> m;
  ASSERT_TRUE(Parse(DenseDoc().dump(), &m).ok());
  EXPECT_EQ(m->info().weight_bytes, 16u);  // 3 + 1 float32
  json doc = DenseDoc();
  doc["weightsManifest"][0]["weights"][0]["quantization"] = {{"dtype", "uint8"}, {"min", 0}, {"scale", 1}};
  ASSERT_TRUE(Parse(doc.dump(), &m).ok());
  EXPECT_EQ(m->info().weight_bytes, 7u);  // 3 uint8 + 1 float32
  // The bytes themselves still load.
  std::vector<uint8_t> w(7, 0);
  EXPECT_TRUE(m->LoadWeights({ShardBytes{w.data(), w.size()}}).ok());
}

}  // namespace

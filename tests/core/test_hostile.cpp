// Hostile model.json files, made by hand the way an attacker would, not by a fuzzer:
// JSON nested ~100,000 levels deep in every field the loader touches, shard paths that leave the
// model's folder or name one file twice, huge shard lists, very long and odd names. Each must be
// refused by Model::Parse with a message naming the file and the problem — never a stack
// overflow, never accepted. Runs natively, under ASan/UBSan and compiled to wasm under node.
#include <gtest/gtest.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catdog/catdog.h"
#include "catdog/json_bounded.h"
#include "json_util.h"

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

// Numbers: the wasm core has its own strtod (shared/src/wasm_strtod.cpp, without musl's long double
// code); nlohmann's lexer calls it for every number with a point or an exponent. Correctly rounded
// like the C library's, on the hard cases (halfway, subnormal, 17 and 30+ digits, beyond 10^22).
TEST(HostileJson, NumbersAreCorrectlyRounded) {
  const struct { const char* text; double want; } cases[] = {
      {"0.9900000095367432", 0x1.fae1480000000p-1},
      {"0.0010000000474974513", 0x1.0624de0000000p-10},
      {"1e-05", 0x1.4f8b588e368f1p-17},
      {"0.1", 0x1.999999999999ap-4},
      {"0.3", 0x1.3333333333333p-2},
      {"-2.5e-3", -0x1.47ae147ae147bp-9},
      {"8.589973e9", 0x1.00004b0400000p+33},
      {"123.456e-2", 0x1.3c0c1fc8f3238p+0},
      {"2.2250738585072011e-308", 0x0.fffffffffffffp-1022},
      {"2.2250738585072014e-308", 0x1.0000000000000p-1022},
      {"4.9e-324", 0x0.0000000000001p-1022},
      {"2.4703282292062328e-324", 0x0.0000000000001p-1022},
      {"1.7976931348623157e308", 0x1.fffffffffffffp+1023},
      {"1.7976931348623158e308", 0x1.fffffffffffffp+1023},
      {"9007199254740993.0", 0x1.0000000000000p+53},
      {"9007199254740993.0000000001", 0x1.0000000000001p+53},
      {"9007199254740995.0", 0x1.0000000000002p+53},
      {"123456789012345678901234567890.0", 0x1.8ee90ff6c373ep+96},
      {"3.141592653589793238462643383279", 0x1.921fb54442d18p+1},
      {"1.00000000000000011102230246251565404236316680908203125", 0x1.0000000000000p+0},
      {"1.00000000000000011102230246251565404236316680908203126", 0x1.0000000000001p+0},
      {"1e23", 0x1.52d02c7e14af6p+76},
      {"8.988465674311579e307", 0x1.fffffffffffffp+1022},
      {"0.000000000000000000000000000000000000000000001e300", 0x1.10cb132c2ff63p+847},
      {"-0.0", -0.0},
      {"0e999", 0.0},
  };
  for (const auto& c : cases) {
    char* end = nullptr;
    const double v = std::strtod(c.text, &end);
    EXPECT_EQ(v, c.want) << c.text;
    EXPECT_EQ(std::signbit(v), std::signbit(c.want)) << c.text;
    EXPECT_EQ(end, c.text + std::strlen(c.text)) << c.text;
    json j;
    std::string why;
    ASSERT_TRUE(catdog::jsonb::Parse(std::string("[") + c.text + "]", &j, &why, "x")) << why;
    EXPECT_EQ(j[0].get<double>(), c.want) << c.text;
  }
  // Underflow and overflow: 0 / inf with ERANGE (and JSON refuses the overflow).
  for (const char* t : {"2.4703282292062327e-324", "1e-400", "1.7976931348623159e308", "-1e400"}) {
    errno = 0;
    const double v = std::strtod(t, nullptr);
    EXPECT_TRUE(v == 0 || std::isinf(v)) << t;
    EXPECT_EQ(errno, ERANGE) << t;
  }
  json j;
  std::string why;
  EXPECT_FALSE(catdog::jsonb::Parse(std::string("[1e400]"), &j, &why, "x"));
  // C syntax: leading white space, a partial read, words.
  const struct { const char* text; double want; size_t read; } syntax[] = {
      {" \t\n-1.5e3xyz", -1500, 9}, {"1e", 1, 1}, {"1e+", 1, 1}, {"2.e1", 20, 4}, {".5", 0.5, 2},
      {"-.5e-1", -0.05, 6}, {"+7", 7, 2}, {"007.50", 7.5, 6}, {"inf", HUGE_VAL, 3}, {"-Infinity!", -HUGE_VAL, 9},
      {"abc", 0, 0}, {".", 0, 0}, {"-", 0, 0}, {"", 0, 0},
  };
  for (const auto& c : syntax) {
    char* end = nullptr;
    EXPECT_EQ(std::strtod(c.text, &end), c.want) << c.text;
    EXPECT_EQ(size_t(end - c.text), c.read) << c.text;
  }
  char* end = nullptr;
  EXPECT_TRUE(std::isnan(std::strtod("NaN(123)x", &end)));
  EXPECT_EQ(*end, 'x');
}

// The core writes JSON and numbers without printf (jsonu::Dump, jsonu::FormatG7; the wasm module
// links no printf): the same text as nlohmann's dump() and printf("%.7g").
TEST(HostileJson, DumpWritesWhatNlohmannDumpWrites) {
  std::vector<json> docs = {
      json(nullptr), json(true), json(false), json(0), json(-7), json(INT64_MIN), json(UINT64_MAX), json(0.0), json(-0.0),
      json(1.0), json(0.1), json(1e-05), json(1e300), json(-2.5e-310), json(123456789.0), json(1e16), json(0.9900000095367432),
      json(std::nan("")), json(HUGE_VAL), json::array(), json::object(), json::binary({1, 2, 255}), json::binary({}, 7),
      json::parse(R"({"b":[1,2.5,{"c":null,"d":"x\"y\\z"}],"a":{"e":[]},"":"","\u00e9\u4e2d\ud83d\ude00":true})"),
  };
  std::string all;  // every byte, every control character
  for (int c = 0; c < 256; ++c) all.push_back(char(c));
  docs.push_back(json(all));
  // Valid and broken UTF-8: lead bytes without followers, overlongs, surrogates, cut sequences.
  for (const char* t : {"a\xc3\xa9z", "\xc3", "\xc3(", "\xe2\x82", "\xe2\x82\xac", "\xe2(\xa1", "\xf0\x9f\x98\x80", "\xf0\x9f\x98",
                        "\xf0\x9f(\x80", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf5\x80", "\x80\x80x",
                        "\xff\xfe", "x\xe0\xa0", "\xe0\xa0\x80\x80", "\xef\xbf\xbf\xc2", "\"\x1f\x7f\\"}) {
    docs.push_back(json(std::string(t)));
    docs.push_back(json{{std::string(t), std::string(t) + "tail"}});
  }
  uint32_t seed = 12345;  // random bytes, mostly high ones
  for (int i = 0; i < 2000; ++i) {
    std::string r;
    for (int k = 0, n = int(seed % 9); k < n; ++k) {
      seed = seed * 1664525u + 1013904223u;
      const uint32_t b = seed >> 24;
      r.push_back(char(b < 64 ? b : 0x80 | (b & 0x7f)));
    }
    docs.push_back(json(r));
  }
  for (const json& d : docs) {
    EXPECT_EQ(catdog::jsonu::Dump(d, std::string::npos), d.dump(-1, ' ', false, json::error_handler_t::replace));
  }
  EXPECT_EQ(catdog::jsonu::Dump(json(std::string(300, 'x'))), "\"" + std::string(199, 'x') + "...");
}

TEST(HostileJson, FormatG7WritesWhatPrintfWrites) {
  std::vector<double> v = {0.0, -0.0, 1.0, -1.0, 0.5, 0.1, 1e-4, 1e-5, 9.9999995e-5, 9.99999951e-5, 1234567.0, 12345675.0,
                           12345665.0, 9999999.5, 99999995.0, 0.00048828125, 1e7, 1e-7, 123456.75, 1.5e300, 5e-324,
                           2.2250738585072014e-308, 1.7976931348623157e308, HUGE_VAL, -HUGE_VAL, std::nan(""), 0.73105857,
                           1000000.5, 1000001.5, 100000.05, 3.0517578125e-05};
  uint64_t seed = 88172645463325252ull;
  for (int i = 0; i < 20000; ++i) {
    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
    double d;
    uint64_t bits = seed;
    std::memcpy(&d, &bits, 8);
    if (std::isfinite(d)) v.push_back(d);
    v.push_back(double(float(int64_t(seed % 20000001) - 10000000) / float(1 << (seed >> 59))));  // floats, as the outputs are
    v.push_back(double(int64_t(seed % 200000001)) * 0.5);  // exact ties at 7 digits
  }
  for (double d : v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.7g", d);
    EXPECT_EQ(catdog::jsonu::FormatG7(d), buf) << buf;
  }
}

TEST(HostileJson, ControlCharactersOfTheTokenAreNamedInTheMessage) {
  json j;
  std::string why;
  EXPECT_FALSE(catdog::jsonb::Parse(std::string("[\"a\x01\x1f"), &j, &why, "x.json"));
  EXPECT_NE(why.find("near '\"a<U+0001>'"), std::string::npos) << why;
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

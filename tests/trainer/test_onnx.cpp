// `catdog convert --to onnx` (export/onnx_export.h) and its protobuf writer (export/onnx_proto.h):
// known wire bytes for varints, tags and each ONNX message kind; a converted shipped model read
// back field by field; bad input exits 2 naming the file or flag and writes nothing; --out is never
// one of the model's own files and an existing one is replaced only with --force. Agreement with
// ONNX Runtime is tests/conformance/onnx.test.mjs (node).
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catdog/sha256.h"
#include "onnx_export.h"
#include "onnx_proto.h"
#include "test_util.h"

namespace stdfs = std::filesystem;
using catdog::test::TempDir;
using json = nlohmann::json;
namespace onnx = catdog::onnx;

namespace {

std::string Hex(const std::string& bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    if (!out.empty()) out += ' ';
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

std::string VarintBytes(uint64_t v) {
  onnx::ProtoWriter w;
  w.Varint(v);
  return Hex(w.bytes());
}

// ---- a reader for the tests: top-level fields of one message ----
struct Field {
  int number = 0, wire = 0;
  uint64_t value = 0;  // varint
  std::string bytes;   // length-delimited / fixed
};

bool ReadVarint(const std::string& b, size_t* pos, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= b.size()) return false;
    const auto c = static_cast<unsigned char>(b[(*pos)++]);
    *v |= static_cast<uint64_t>(c & 0x7f) << shift;
    if (!(c & 0x80)) return true;
  }
  return false;
}

std::vector<Field> Fields(const std::string& b) {
  std::vector<Field> out;
  size_t pos = 0;
  while (pos < b.size()) {
    uint64_t key = 0;
    if (!ReadVarint(b, &pos, &key)) { ADD_FAILURE() << "bad key at " << pos; return out; }
    Field f;
    f.number = static_cast<int>(key >> 3);
    f.wire = static_cast<int>(key & 7);
    if (f.wire == 0) {
      if (!ReadVarint(b, &pos, &f.value)) { ADD_FAILURE() << "bad varint"; return out; }
    } else if (f.wire == 2) {
      uint64_t n = 0;
      if (!ReadVarint(b, &pos, &n) || pos + n > b.size()) { ADD_FAILURE() << "bad length at " << pos; return out; }
      f.bytes = b.substr(pos, n);
      pos += n;
    } else if (f.wire == 5) {
      f.bytes = b.substr(pos, 4);
      pos += 4;
    } else {
      ADD_FAILURE() << "unexpected wire type " << f.wire;
      return out;
    }
    out.push_back(f);
  }
  return out;
}

std::vector<Field> All(const std::vector<Field>& fs, int number) {
  std::vector<Field> out;
  for (const Field& f : fs)
    if (f.number == number) out.push_back(f);
  return out;
}

std::string ReadFile(const std::string& path) { return catdog::test::ReadAll(path); }

catdog::test::Ran Catdog(const TempDir& tmp, const std::string& args) { return catdog::test::RunCli(CATDOG_CLI, tmp, args); }

// The first shard path model.json's manifest names.
std::string FirstShard(const std::string& dir) {
  return json::parse(catdog::test::ReadAll(dir + "/model.json"))["weightsManifest"][0]["paths"][0].get<std::string>();
}

std::string Q(const std::string& s) { return "'" + s + "'"; }

std::string Shipped(const std::string& id) { return std::string(CATDOG_SOURCE_DIR) + "/web/models/" + id; }

void CopyModel(const std::string& id, const std::string& dest) {
  stdfs::copy(Shipped(id), dest, stdfs::copy_options::recursive);
}

}  // namespace

// ---- the wire format ---------------------------------------------------------------------------------
TEST(OnnxProto, Varints) {
  EXPECT_EQ(VarintBytes(0), "00");
  EXPECT_EQ(VarintBytes(1), "01");
  EXPECT_EQ(VarintBytes(127), "7f");
  EXPECT_EQ(VarintBytes(128), "80 01");
  EXPECT_EQ(VarintBytes(300), "ac 02");
  EXPECT_EQ(VarintBytes(16384), "80 80 01");
  EXPECT_EQ(VarintBytes(UINT64_MAX), "ff ff ff ff ff ff ff ff ff 01");
}

TEST(OnnxProto, FieldsOfEachWireType) {
  onnx::ProtoWriter w;
  w.Int(1, 150);  // the protobuf documentation's example: 08 96 01
  EXPECT_EQ(Hex(w.bytes()), "08 96 01");
  onnx::ProtoWriter neg;
  neg.Int(3, -1);  // int64 -1: ten bytes
  EXPECT_EQ(Hex(neg.bytes()), "18 ff ff ff ff ff ff ff ff ff 01");
  onnx::ProtoWriter s;
  s.Bytes(2, "testing");
  EXPECT_EQ(Hex(s.bytes()), "12 07 74 65 73 74 69 6e 67");
  onnx::ProtoWriter f;
  f.Float(2, 1.0f);
  EXPECT_EQ(Hex(f.bytes()), "15 00 00 80 3f");
  onnx::ProtoWriter big;
  big.Int(20, 7);  // a field number past 15 takes a two-byte key
  EXPECT_EQ(Hex(big.bytes()), "a0 01 07");
  onnx::ProtoWriter nested;
  nested.Message(3, w);
  EXPECT_EQ(Hex(nested.bytes()), "1a 03 08 96 01");
  onnx::ProtoWriter empty;
  empty.Bytes(1, "");
  EXPECT_EQ(Hex(empty.bytes()), "0a 00");
}

TEST(OnnxProto, Messages) {
  // AttributeProto: name = 1, i = 3, ints = 8 (unpacked), f = 2, type = 20.
  EXPECT_EQ(Hex(onnx::SerializeAttribute(onnx::Attribute::Int("axis", 1))), "0a 04 61 78 69 73 18 01 a0 01 02");
  EXPECT_EQ(Hex(onnx::SerializeAttribute(onnx::Attribute::Ints("perm", {0, 3}))), "0a 04 70 65 72 6d 40 00 40 03 a0 01 07");
  EXPECT_EQ(Hex(onnx::SerializeAttribute(onnx::Attribute::Float("e", 0.5f))), "0a 01 65 15 00 00 00 3f a0 01 01");
  // NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5.
  onnx::Node n;
  n.op_type = "Relu";
  n.name = "r";
  n.inputs = {"x"};
  n.outputs = {"y"};
  EXPECT_EQ(Hex(onnx::SerializeNode(n)), "0a 01 78 12 01 79 1a 01 72 22 04 52 65 6c 75");
  // TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9 (little-endian floats).
  EXPECT_EQ(Hex(onnx::SerializeTensor(onnx::FloatTensor("w", {2}, {1.f, 2.f}))),
            "08 02 10 01 42 01 77 4a 08 00 00 80 3f 00 00 00 40");
  EXPECT_EQ(Hex(onnx::SerializeTensor(onnx::Int64Tensor("k", {}, {-2}))),
            "10 07 42 01 6b 4a 08 fe ff ff ff ff ff ff ff");
  // ValueInfoProto: name = 1, type = 2 { tensor_type = 1 { elem_type = 1, shape = 2 { dim = 1 {
  // dim_param = 2 | dim_value = 1 } } } }: dims of 5 and 4 bytes, shape 9, tensor_type 13, type 15.
  onnx::ValueInfo v{"in", onnx::kFloat, {{-1, "N"}, {3, ""}}};
  EXPECT_EQ(Hex(onnx::SerializeValueInfo(v)), "0a 02 69 6e 12 0f 0a 0d 08 01 12 09 0a 03 12 01 4e 0a 02 08 03");
}

TEST(OnnxProto, ModelReadsBack) {
  onnx::ModelDesc m;
  m.opsets = {{"", 13}};
  m.producer_name = "catdog";
  m.graph.name = "g";
  onnx::Node n;
  n.op_type = "Identity";
  n.inputs = {"input"};
  n.outputs = {"output"};
  m.graph.nodes = {n};
  m.graph.inputs = {{"input", onnx::kFloat, {{-1, "N"}, {1, ""}}}};
  m.graph.outputs = {{"output", onnx::kFloat, {{-1, "N"}, {1, ""}}}};
  m.graph.initializers = {onnx::FloatTensor("c", {1}, {0.25f})};
  m.metadata_props = {{"a", "1"}, {"b", "two"}};
  const std::string bytes = onnx::SerializeModel(m);
  EXPECT_EQ(Hex(bytes.substr(0, 2)), "08 07");  // ir_version 7 first
  const std::vector<Field> top = Fields(bytes);
  ASSERT_EQ(All(top, 2).size(), 1u);
  EXPECT_EQ(All(top, 2)[0].bytes, "catdog");
  ASSERT_EQ(All(top, 8).size(), 1u);  // opset_import { domain "", version 13 }
  const std::vector<Field> op = Fields(All(top, 8)[0].bytes);
  ASSERT_EQ(All(op, 2).size(), 1u);
  EXPECT_EQ(All(op, 2)[0].value, 13u);
  const std::vector<Field> meta = All(top, 14);
  ASSERT_EQ(meta.size(), 2u);
  EXPECT_EQ(All(Fields(meta[1].bytes), 1)[0].bytes, "b");
  EXPECT_EQ(All(Fields(meta[1].bytes), 2)[0].bytes, "two");
  ASSERT_EQ(All(top, 7).size(), 1u);
  const std::vector<Field> g = Fields(All(top, 7)[0].bytes);
  EXPECT_EQ(All(g, 1).size(), 1u);   // node
  EXPECT_EQ(All(g, 5).size(), 1u);   // initializer
  EXPECT_EQ(All(g, 11).size(), 1u);  // input
  EXPECT_EQ(All(g, 12).size(), 1u);  // output
  EXPECT_EQ(All(Fields(All(g, 1)[0].bytes), 4)[0].bytes, "Identity");
}

// ---- the command -------------------------------------------------------------------------------------
TEST(OnnxConvert, ShippedModelWithMetadata) {
  TempDir tmp;
  CopyModel("cnn-u8", tmp.path("m"));
  const std::string out = tmp.path("cnn.onnx");
  catdog::test::Ran r = Catdog(tmp, "convert " + Q(tmp.path("m")) + " --to onnx --out " + Q(out));
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string bytes = ReadFile(out);
  ASSERT_GT(bytes.size(), 1000000u);  // 1.37 M float32 weights
  const std::vector<Field> top = Fields(bytes);
  std::map<std::string, std::string> meta;
  for (const Field& f : All(top, 14)) meta[All(Fields(f.bytes), 1)[0].bytes] = All(Fields(f.bytes), 2)[0].bytes;
  const std::string model_json = ReadFile(tmp.path("m/model.json"));
  EXPECT_EQ(meta["catdog.source_model_json_sha256"], catdog::Sha256::Hex(model_json.data(), model_json.size()));
  EXPECT_EQ(meta["catdog.labels"], "[\"cat\",\"dog\"]");
  EXPECT_EQ(meta["catdog.input_size"], "100");
  EXPECT_EQ(meta["catdog.fit"], "stretch");
  EXPECT_EQ(meta["catdog.gray"], "bt601");
  EXPECT_EQ(meta["catdog.input_scale"], "u8 / 255");
  EXPECT_EQ(meta["catdog.threshold"], "0.5");
  EXPECT_NE(meta["catdog.source_quantization"].find("uint8"), std::string::npos);
  EXPECT_EQ(meta.count("catdog.calibration_temperature"), 0u);  // cnn-u8 has no calibration
  // Graph: the NHWC input, a Transpose to NCHW, a Transpose back before Flatten, Gemm for Dense.
  const std::vector<Field> g = Fields(All(top, 7)[0].bytes);
  std::vector<std::string> ops;
  for (const Field& n : All(g, 1)) ops.push_back(All(Fields(n.bytes), 4)[0].bytes);
  const std::vector<std::string> want = {"Transpose", "Conv", "Relu", "MaxPool", "Conv",    "Relu",   "MaxPool", "Conv", "Relu",
                                         "MaxPool",   "Transpose", "Flatten", "Gemm", "Relu", "Gemm", "Sigmoid", "Identity"};
  EXPECT_EQ(ops, want);
  EXPECT_EQ(All(g, 5).size(), 10u);  // 3 conv kernels + biases, 2 dense kernels + biases
  // Every initializer is float32 (uint8 dequantized), named after its Keras layer.
  for (const Field& t : All(g, 5)) EXPECT_EQ(All(Fields(t.bytes), 2)[0].value, 1u);
}

TEST(OnnxConvert, CalibratedModelCarriesItsTemperature) {
  TempDir tmp;
  const std::string out = tmp.path("s2.onnx");
  catdog::test::Ran r = Catdog(tmp, "convert " + Q(Shipped("catnet-s2")) + " --to onnx --out " + Q(out));
  ASSERT_EQ(r.code, 0) << r.err;
  std::map<std::string, std::string> meta;
  for (const Field& f : All(Fields(ReadFile(out)), 14)) meta[All(Fields(f.bytes), 1)[0].bytes] = All(Fields(f.bytes), 2)[0].bytes;
  const json mj = json::parse(ReadFile(Shipped("catnet-s2") + "/model.json"));
  ASSERT_TRUE(mj["userDefinedMetadata"]["catdog"].contains("calibration"));
  EXPECT_DOUBLE_EQ(std::stod(meta["catdog.calibration_temperature"]),
                   mj["userDefinedMetadata"]["catdog"]["calibration"]["temperature"].get<double>());
  EXPECT_NE(meta["catdog.ood"].find("max-prob"), std::string::npos);
}

// Keras' defaults when a config leaves strides out: a convolution's are 1, a pooling layer's its size.
TEST(OnnxConvert, AbsentStridesTakeKerasDefaults) {
  TempDir tmp;
  CopyModel("cnn-u8", tmp.path("m"));
  json mj = json::parse(ReadFile(tmp.path("m/model.json")));
  json& layers = mj["modelTopology"]["model_config"]["config"]["layers"];
  ASSERT_EQ(layers[0]["class_name"], "Conv2D");
  ASSERT_EQ(layers[1]["class_name"], "MaxPooling2D");
  layers[0]["config"].erase("strides");
  layers[1]["config"].erase("strides");
  std::ofstream(tmp.path("m/model.json"), std::ios::trunc) << mj.dump();
  catdog::test::Ran r = Catdog(tmp, "convert " + Q(tmp.path("m")) + " --to onnx --out " + Q(tmp.path("a.onnx")));
  ASSERT_EQ(r.code, 0) << r.err;
  const std::vector<Field> g = Fields(All(Fields(ReadFile(tmp.path("a.onnx"))), 7)[0].bytes);
  std::map<std::string, std::vector<uint64_t>> strides;  // first node of each op type -> its strides
  for (const Field& n : All(g, 1)) {
    const std::vector<Field> node = Fields(n.bytes);
    const std::string op = All(node, 4)[0].bytes;
    if (strides.count(op)) continue;
    for (const Field& a : All(node, 5)) {
      const std::vector<Field> attr = Fields(a.bytes);
      if (All(attr, 1)[0].bytes != "strides") continue;
      for (const Field& v : All(attr, 8)) strides[op].push_back(v.value);
    }
  }
  EXPECT_EQ(strides["Conv"], (std::vector<uint64_t>{1, 1}));
  EXPECT_EQ(strides["MaxPool"], (std::vector<uint64_t>{2, 2}));
}

TEST(OnnxConvert, AModelThatDoesNotLoadExits2NamingTheFile) {
  TempDir tmp;
  stdfs::create_directories(tmp.path("empty"));
  catdog::test::Ran r = Catdog(tmp, "convert " + Q(tmp.path("empty")) + " --to onnx --out " + Q(tmp.path("a.onnx")));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find(tmp.path("empty") + "/model.json"), std::string::npos) << r.err;
  EXPECT_FALSE(stdfs::exists(tmp.path("a.onnx")));

  CopyModel("dense-u8", tmp.path("bad"));
  {
    std::ofstream f(tmp.path("bad/model.json"), std::ios::trunc);
    f << "{\"modelTopology\": [";
  }
  r = Catdog(tmp, "convert " + Q(tmp.path("bad")) + " --to onnx --out " + Q(tmp.path("a.onnx")));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find(tmp.path("bad") + "/model.json"), std::string::npos) << r.err;
  EXPECT_FALSE(stdfs::exists(tmp.path("a.onnx")));

  // A short shard: named.
  CopyModel("dense-u8", tmp.path("short"));
  const std::string shard = tmp.path("short/" + FirstShard(tmp.path("short")));
  ASSERT_TRUE(stdfs::exists(shard));
  stdfs::resize_file(shard, stdfs::file_size(shard) - 1);
  r = Catdog(tmp, "convert " + Q(tmp.path("short")) + " --to onnx --out " + Q(tmp.path("a.onnx")));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("group1-shard"), std::string::npos) << r.err;
  EXPECT_FALSE(stdfs::exists(tmp.path("a.onnx")));
}

TEST(OnnxConvert, ALayerWithoutConversionIsNamed) {
  TempDir tmp;
  CopyModel("dense-u8", tmp.path("m"));
  // A Reshape (the core runs it) before the Flatten: the converter names it and writes nothing.
  json mj = json::parse(ReadFile(tmp.path("m/model.json")));
  json& layers = mj["modelTopology"]["model_config"]["config"]["layers"];
  json reshape = {{"class_name", "Reshape"},
                  {"config", {{"name", "reshape_x"}, {"target_shape", {100, 100, 1}}, {"batch_input_shape", {nullptr, 100, 100, 1}}}}};
  layers[0]["config"].erase("batch_input_shape");
  layers.insert(layers.begin(), reshape);
  {
    std::ofstream f(tmp.path("m/model.json"), std::ios::trunc);
    f << mj.dump();
  }
  catdog::test::Ran r = Catdog(tmp, "convert " + Q(tmp.path("m")) + " --to onnx --out " + Q(tmp.path("a.onnx")));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("layer 'reshape_x' (Reshape)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("model.json"), std::string::npos) << r.err;
  EXPECT_FALSE(stdfs::exists(tmp.path("a.onnx")));
}

TEST(OnnxConvert, ExistingOutNeedsForce) {
  TempDir tmp;
  const std::string out = tmp.path("mine.onnx");
  {
    std::ofstream f(out);
    f << "a user's file";
  }
  const std::string base = "convert " + Q(Shipped("dense-u8")) + " --to onnx --out " + Q(out);
  catdog::test::Ran r = Catdog(tmp, base);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find(out), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  EXPECT_EQ(ReadFile(out), "a user's file");
  r = Catdog(tmp, base + " --force");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_GT(ReadFile(out).size(), 1000000u);
  // No staging leftovers beside it.
  for (const auto& e : stdfs::directory_iterator(tmp.root()))
    EXPECT_EQ(e.path().filename().string().rfind(".catdog-tmp-", 0), std::string::npos) << e.path();
}

TEST(OnnxConvert, NeverReplacesTheInput) {
  TempDir tmp;
  CopyModel("dense-u8", tmp.path("m"));
  const std::string json_before = ReadFile(tmp.path("m/model.json"));
  const std::string shard = tmp.path("m/" + FirstShard(tmp.path("m")));
  const std::string shard_before = ReadFile(shard);
  for (const std::string& target : {tmp.path("m/model.json"), shard, tmp.path("m/../m/model.json")}) {
    SCOPED_TRACE(target);
    catdog::test::Ran r = Catdog(tmp, "convert " + Q(tmp.path("m")) + " --to onnx --force --out " + Q(target));
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find("refusing to replace the input"), std::string::npos) << r.err;
  }
  EXPECT_EQ(ReadFile(tmp.path("m/model.json")), json_before);
  EXPECT_EQ(ReadFile(shard), shard_before);
  // A folder as --out is refused too.
  catdog::test::Ran r = Catdog(tmp, "convert " + Q(tmp.path("m")) + " --to onnx --out " + Q(tmp.path("m")));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("is a folder"), std::string::npos) << r.err;
}

TEST(OnnxConvert, UnknownFormatIsRefused) {
  TempDir tmp;
  catdog::test::Ran r = Catdog(tmp, "convert " + Q(Shipped("dense-u8")) + " --to tflite --out " + Q(tmp.path("a")));
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("tflite"), std::string::npos) << r.err;
  EXPECT_FALSE(stdfs::exists(tmp.path("a")));
}

// The ONNX file format's bytes: a protobuf wire-format writer (varints, length-delimited fields,
// fixed32 floats) and the few ONNX messages a converted model needs (ModelProto, GraphProto,
// NodeProto, AttributeProto, TensorProto, ValueInfoProto, OperatorSetIdProto,
// StringStringEntryProto), with the field numbers of onnx.proto (ONNX IR version 7+). Written by
// hand so that the CLI needs no protobuf library; torch-free, file-free (bytes out only).
// onnx_export.h builds the messages from a TF.js layers model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace catdog::onnx {

// ---- protobuf wire format -------------------------------------------------------------------------
// Appends fields to a byte string. Repeated scalars are written one field each (proto2's unpacked
// encoding, which every protobuf parser accepts); messages are nested as length-delimited bytes.
class ProtoWriter {
 public:
  enum WireType : int { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

  void Varint(uint64_t v);                 // base-128, least significant group first
  void Tag(int field, WireType type);      // (field << 3) | type, as a varint
  // int32/int64/enum fields: negative values take ten bytes (two's complement as uint64).
  void Int(int field, int64_t v);
  void Float(int field, float v);          // fixed32, little-endian IEEE 754
  void Bytes(int field, std::string_view bytes);  // string and bytes fields
  void Message(int field, const ProtoWriter& message) { Bytes(field, message.bytes()); }

  const std::string& bytes() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// ---- ONNX messages -------------------------------------------------------------------------------
// TensorProto.DataType values used here.
constexpr int32_t kFloat = 1;
constexpr int32_t kInt64 = 7;

struct Attribute {
  enum Kind : int { kFloatAttr = 1, kIntAttr = 2, kStringAttr = 3, kIntsAttr = 7 };  // AttributeType
  std::string name;
  Kind kind = kIntAttr;
  float f = 0;
  int64_t i = 0;
  std::string s;
  std::vector<int64_t> ints;

  static Attribute Int(std::string name, int64_t v);
  static Attribute Ints(std::string name, std::vector<int64_t> v);
  static Attribute Float(std::string name, float v);
  static Attribute String(std::string name, std::string v);
};

struct Node {
  std::string op_type;  // "Conv", "Relu", ... (default domain)
  std::string name;
  std::vector<std::string> inputs, outputs;
  std::vector<Attribute> attributes;
};

// A constant (graph initializer): raw little-endian data of `data_type`.
struct Tensor {
  std::string name;
  std::vector<int64_t> dims;
  int32_t data_type = kFloat;
  std::string raw;
};
Tensor FloatTensor(std::string name, std::vector<int64_t> dims, const std::vector<float>& values);
Tensor Int64Tensor(std::string name, std::vector<int64_t> dims, const std::vector<int64_t>& values);

// A graph input or output: a tensor type with one entry per dimension, a fixed size or a name
// ("N" for the batch).
struct Dim {
  int64_t value = -1;  // used when >= 0
  std::string param;   // used otherwise
};
struct ValueInfo {
  std::string name;
  int32_t elem_type = kFloat;
  std::vector<Dim> shape;
};

struct Graph {
  std::string name;
  std::vector<Node> nodes;  // topologically sorted
  std::vector<Tensor> initializers;
  std::vector<ValueInfo> inputs, outputs;
  std::string doc_string;
};

struct ModelDesc {
  int64_t ir_version = 7;                               // 7: ONNX 1.8, the first with opset 13
  std::vector<std::pair<std::string, int64_t>> opsets;  // {"", 13}: the default domain
  std::string producer_name, producer_version, doc_string;
  int64_t model_version = 0;
  Graph graph;
  std::vector<std::pair<std::string, std::string>> metadata_props;
};

// The serialized message of each kind (ModelProto for SerializeModel: the bytes of a .onnx file).
std::string SerializeAttribute(const Attribute& a);
std::string SerializeNode(const Node& n);
std::string SerializeTensor(const Tensor& t);
std::string SerializeValueInfo(const ValueInfo& v);
std::string SerializeGraph(const Graph& g);
std::string SerializeModel(const ModelDesc& m);

}  // namespace catdog::onnx

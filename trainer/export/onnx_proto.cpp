// onnx_proto.h: protobuf wire format and the ONNX messages. Field numbers from onnx.proto.
#include "onnx_proto.h"

#include <cstring>

namespace catdog::onnx {

void ProtoWriter::Varint(uint64_t v) {
  while (v >= 0x80) {
    out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out_.push_back(static_cast<char>(v));
}

void ProtoWriter::Tag(int field, WireType type) {
  Varint((static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(type));
}

void ProtoWriter::Int(int field, int64_t v) {
  Tag(field, kVarint);
  Varint(static_cast<uint64_t>(v));
}

void ProtoWriter::Float(int field, float v) {
  Tag(field, kFixed32);
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  for (int k = 0; k < 4; ++k) out_.push_back(static_cast<char>((bits >> (8 * k)) & 0xff));
}

void ProtoWriter::Bytes(int field, std::string_view bytes) {
  Tag(field, kLengthDelimited);
  Varint(bytes.size());
  out_.append(bytes.data(), bytes.size());
}

namespace {

// onnx.proto field numbers, one namespace per message.
namespace attr { enum : int { kName = 1, kF = 2, kI = 3, kS = 4, kInts = 8, kType = 20 }; }
namespace node { enum : int { kInput = 1, kOutput = 2, kName = 3, kOpType = 4, kAttribute = 5 }; }
namespace tensor { enum : int { kDims = 1, kDataType = 2, kName = 8, kRawData = 9 }; }
namespace value_info { enum : int { kName = 1, kType = 2 }; }
namespace type_proto { enum : int { kTensorType = 1 }; }
namespace type_tensor { enum : int { kElemType = 1, kShape = 2 }; }
namespace shape_proto { enum : int { kDim = 1 }; }
namespace dimension { enum : int { kDimValue = 1, kDimParam = 2 }; }
namespace graph { enum : int { kNode = 1, kName = 2, kInitializer = 5, kDocString = 10, kInput = 11, kOutput = 12 }; }
namespace opset_id { enum : int { kDomain = 1, kVersion = 2 }; }
namespace entry { enum : int { kKey = 1, kValue = 2 }; }
namespace model {
enum : int {
  kIrVersion = 1, kProducerName = 2, kProducerVersion = 3, kModelVersion = 5, kDocString = 6, kGraph = 7,
  kOpsetImport = 8, kMetadataProps = 14
};
}

// Every target of this project (x86-64, arm64, wasm) is little-endian, as ONNX's raw_data is.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "onnx_proto.cpp writes raw_data by copying host memory: a big-endian host needs byte swaps here"
#endif
std::string LittleEndian(const void* data, size_t bytes_per_value, size_t count) {
  return std::string(static_cast<const char*>(data), bytes_per_value * count);
}

}  // namespace

Attribute Attribute::Int(std::string name, int64_t v) {
  Attribute a;
  a.name = std::move(name);
  a.kind = kIntAttr;
  a.i = v;
  return a;
}
Attribute Attribute::Ints(std::string name, std::vector<int64_t> v) {
  Attribute a;
  a.name = std::move(name);
  a.kind = kIntsAttr;
  a.ints = std::move(v);
  return a;
}
Attribute Attribute::Float(std::string name, float v) {
  Attribute a;
  a.name = std::move(name);
  a.kind = kFloatAttr;
  a.f = v;
  return a;
}
Attribute Attribute::String(std::string name, std::string v) {
  Attribute a;
  a.name = std::move(name);
  a.kind = kStringAttr;
  a.s = std::move(v);
  return a;
}

namespace {
// A tensor of `count` values of `bytes_per_value` each, stored as raw little-endian bytes.
Tensor RawTensor(std::string name, std::vector<int64_t> dims, int32_t data_type, const void* values,
                 size_t bytes_per_value, size_t count) {
  Tensor t;
  t.name = std::move(name);
  t.dims = std::move(dims);
  t.data_type = data_type;
  t.raw = LittleEndian(values, bytes_per_value, count);
  return t;
}
}  // namespace

Tensor FloatTensor(std::string name, std::vector<int64_t> dims, const std::vector<float>& values) {
  return RawTensor(std::move(name), std::move(dims), kFloat, values.data(), 4, values.size());
}

Tensor Int64Tensor(std::string name, std::vector<int64_t> dims, const std::vector<int64_t>& values) {
  return RawTensor(std::move(name), std::move(dims), kInt64, values.data(), 8, values.size());
}

std::string SerializeAttribute(const Attribute& a) {
  ProtoWriter w;
  w.Bytes(attr::kName, a.name);
  switch (a.kind) {
    case Attribute::kFloatAttr: w.Float(attr::kF, a.f); break;
    case Attribute::kIntAttr: w.Int(attr::kI, a.i); break;
    case Attribute::kStringAttr: w.Bytes(attr::kS, a.s); break;
    case Attribute::kIntsAttr:
      for (int64_t v : a.ints) w.Int(attr::kInts, v);
      break;
  }
  w.Int(attr::kType, a.kind);
  return w.Take();
}

std::string SerializeNode(const Node& n) {
  ProtoWriter w;
  for (const std::string& in : n.inputs) w.Bytes(node::kInput, in);
  for (const std::string& out : n.outputs) w.Bytes(node::kOutput, out);
  if (!n.name.empty()) w.Bytes(node::kName, n.name);
  w.Bytes(node::kOpType, n.op_type);
  for (const Attribute& a : n.attributes) w.Bytes(node::kAttribute, SerializeAttribute(a));
  return w.Take();
}

std::string SerializeTensor(const Tensor& t) {
  ProtoWriter w;
  for (int64_t d : t.dims) w.Int(tensor::kDims, d);
  w.Int(tensor::kDataType, t.data_type);
  w.Bytes(tensor::kName, t.name);
  w.Bytes(tensor::kRawData, t.raw);
  return w.Take();
}

std::string SerializeValueInfo(const ValueInfo& v) {
  ProtoWriter shape;
  for (const Dim& d : v.shape) {
    ProtoWriter dim;
    if (d.value >= 0) dim.Int(dimension::kDimValue, d.value);
    else dim.Bytes(dimension::kDimParam, d.param);
    shape.Message(shape_proto::kDim, dim);
  }
  ProtoWriter tensor_type;
  tensor_type.Int(type_tensor::kElemType, v.elem_type);
  tensor_type.Message(type_tensor::kShape, shape);
  ProtoWriter type;
  type.Message(type_proto::kTensorType, tensor_type);
  ProtoWriter w;
  w.Bytes(value_info::kName, v.name);
  w.Message(value_info::kType, type);
  return w.Take();
}

std::string SerializeGraph(const Graph& g) {
  ProtoWriter w;
  for (const Node& n : g.nodes) w.Bytes(graph::kNode, SerializeNode(n));
  w.Bytes(graph::kName, g.name);
  for (const Tensor& t : g.initializers) w.Bytes(graph::kInitializer, SerializeTensor(t));
  if (!g.doc_string.empty()) w.Bytes(graph::kDocString, g.doc_string);
  for (const ValueInfo& v : g.inputs) w.Bytes(graph::kInput, SerializeValueInfo(v));
  for (const ValueInfo& v : g.outputs) w.Bytes(graph::kOutput, SerializeValueInfo(v));
  return w.Take();
}

std::string SerializeModel(const ModelDesc& m) {
  ProtoWriter w;
  w.Int(model::kIrVersion, m.ir_version);
  if (!m.producer_name.empty()) w.Bytes(model::kProducerName, m.producer_name);
  if (!m.producer_version.empty()) w.Bytes(model::kProducerVersion, m.producer_version);
  if (m.model_version != 0) w.Int(model::kModelVersion, m.model_version);
  if (!m.doc_string.empty()) w.Bytes(model::kDocString, m.doc_string);
  w.Bytes(model::kGraph, SerializeGraph(m.graph));
  for (const auto& [domain, version] : m.opsets) {
    ProtoWriter op;
    op.Bytes(opset_id::kDomain, domain);
    op.Int(opset_id::kVersion, version);
    w.Message(model::kOpsetImport, op);
  }
  for (const auto& [key, value] : m.metadata_props) {
    ProtoWriter e;
    e.Bytes(entry::kKey, key);
    e.Bytes(entry::kValue, value);
    w.Message(model::kMetadataProps, e);
  }
  return w.Take();
}

}  // namespace catdog::onnx

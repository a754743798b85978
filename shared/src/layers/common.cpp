#include "layers/common.h"

#include <algorithm>
#include <cmath>

#include "kernels.h"

namespace catdog::detail {

using jsonu::json;

// ---- config readers ------------------------------------------------------------------------------

Status ReadInt(const json& cfg, const char* key, const LayerRef& ref, int64_t def, int64_t* out) {
  const json* v = jsonu::FindNonNull(cfg, key);
  if (!v) {
    *out = def;
    return Status::Ok();
  }
  if (!jsonu::AsInt64(*v, out)) return Status::Error(ref.str() + ": '" + key + "' must be an integer, got " + jsonu::Dump(*v, 80));
  return Status::Ok();
}

Status ReadPositiveInt(const json& cfg, const char* key, const LayerRef& ref, int* out) {
  const json* v = jsonu::FindNonNull(cfg, key);
  int64_t x;
  if (!v || !jsonu::AsInt64(*v, &x) || x < 1 || x > kMaxDim)
    return Status::Error(ref.str() + ": '" + key + "' must be a positive integer, got " + (v ? jsonu::Dump(*v, 80) : "nothing"));
  *out = static_cast<int>(x);
  return Status::Ok();
}

Status ReadDouble(const json& cfg, const char* key, const LayerRef& ref, double def, double* out) {
  const json* v = jsonu::FindNonNull(cfg, key);
  if (!v) {
    *out = def;
    return Status::Ok();
  }
  if (!jsonu::AsDouble(*v, out) || !std::isfinite(*out))
    return Status::Error(ref.str() + ": '" + key + "' must be a finite number, got " + jsonu::Dump(*v, 80));
  return Status::Ok();
}

Status ReadBool(const json& cfg, const char* key, const LayerRef& ref, bool def, bool* out) {
  const json* v = jsonu::FindNonNull(cfg, key);
  if (!v) {
    *out = def;
    return Status::Ok();
  }
  if (!jsonu::AsBool(*v, out)) return Status::Error(ref.str() + ": '" + key + "' must be true or false, got " + jsonu::Dump(*v, 80));
  return Status::Ok();
}

// An int or a list of two ints (kernel_size, strides, pool_size...). Absent/null -> def.
Status ReadPair(const json& cfg, const char* key, const LayerRef& ref, int def_a, int def_b, int* a, int* b) {
  const json* v = jsonu::FindNonNull(cfg, key);
  *a = def_a;
  *b = def_b;
  if (!v) {
    if (def_a <= 0) return Status::Error(ref.str() + ": missing '" + key + "'");
    return Status::Ok();
  }
  int64_t x, y;
  if (jsonu::AsInt64(*v, &x)) {
    y = x;
  } else if (v->is_array() && v->size() == 2 && jsonu::AsInt64((*v)[0], &x) && jsonu::AsInt64((*v)[1], &y)) {
  } else {
    return Status::Error(ref.str() + ": '" + key + "' must be an integer or two integers, got " + jsonu::Dump(*v, 80));
  }
  if (x < 1 || y < 1 || x > kMaxDim || y > kMaxDim)
    return Status::Error(ref.str() + ": '" + key + "' must be positive, got " + jsonu::Dump(*v, 80));
  *a = static_cast<int>(x);
  *b = static_cast<int>(y);
  return Status::Ok();
}

Status ReadPadding(const json& cfg, const LayerRef& ref, bool* same) {
  std::string p = "valid";
  if (const json* v = jsonu::FindNonNull(cfg, "padding")) {
    if (!jsonu::AsString(*v, &p)) return Status::Error(ref.str() + ": 'padding' must be a string, got " + jsonu::Dump(*v, 80));
  }
  if (p == "valid") {
    *same = false;
  } else if (p == "same") {
    *same = true;
  } else {
    return Status::Error(ref.str() + ": unsupported padding '" + p + "' (supported: valid, same)");
  }
  return Status::Ok();
}

Status CheckChannelsLast(const json& cfg, const LayerRef& ref) {
  std::string f = "channels_last";
  if (const json* v = jsonu::FindNonNull(cfg, "data_format")) {
    if (!jsonu::AsString(*v, &f)) return Status::Error(ref.str() + ": 'data_format' must be a string");
  }
  if (f != "channels_last")
    return Status::Error(ref.str() + ": unsupported data_format '" + f + "' (only channels_last / NHWC)");
  return Status::Ok();
}

Status CheckNoDilation(const json& cfg, const LayerRef& ref) {
  int a, b;
  Status s = ReadPair(cfg, "dilation_rate", ref, 1, 1, &a, &b);
  if (!s) return s;
  if (a != 1 || b != 1)
    return Status::Error(ref.str() + ": dilation_rate " + std::to_string(a) + "x" + std::to_string(b) + " is not supported (only 1)");
  return Status::Ok();
}

Status ReadActivation(const json& cfg, const LayerRef& ref, Act* act) {
  const json* v = jsonu::FindNonNull(cfg, "activation");
  if (!v) {
    *act = Act::kLinear;
    return Status::Ok();
  }
  return ParseActivation(*v, ref, act);
}

Status ExpectRank(const Layer& l, size_t rank) {
  if (l.in_shapes.size() != 1)
    return Status::Error(l.ref.str() + ": expects 1 input, got " + std::to_string(l.in_shapes.size()));
  if (l.in_shapes[0].size() != rank)
    return Status::Error(l.ref.str() + ": expects an input of rank " + std::to_string(rank) + " (without batch), got " +
                         ShapeStr(l.in_shapes[0]));
  return Status::Ok();
}

// Output size and padding of a conv/pool window along one axis, as TensorFlow computes them.
Status WindowOut(const LayerRef& ref, const char* axis, int64_t in, int k, int stride, bool same, int* out,
                 int* pad_before, int* pad_after) {
  int64_t o;
  if (same) {
    o = (in + stride - 1) / stride;
  } else {
    if (in < k)
      return Status::Error(ref.str() + ": window " + std::to_string(k) + " is larger than the input " + axis + " " +
                           std::to_string(in) + " with 'valid' padding");
    o = (in - k) / stride + 1;
  }
  if (o < 1 || o > kMaxDim) return Status::Error(ref.str() + ": output " + axis + " " + std::to_string(o) + " is out of range");
  int64_t total = same ? std::max<int64_t>((o - 1) * stride + k - in, 0) : 0;
  *out = static_cast<int>(o);
  *pad_before = static_cast<int>(total / 2);
  *pad_after = static_cast<int>(total - total / 2);
  return Status::Ok();
}

Status CheckDims(const LayerRef& ref, const Shape& s) {
  for (int64_t d : s)
    if (d < 1 || d > kMaxDim) return Status::Error(ref.str() + ": dimension " + std::to_string(d) + " in shape " + ShapeStr(s) + " is out of range");
  return Status::Ok();
}

void ClampFor(Act act, float* lo, float* hi, bool* is_clamp) {
  *lo = -kernels::kInf;
  *hi = kernels::kInf;
  *is_clamp = true;
  switch (act) {
    case Act::kLinear: break;
    case Act::kRelu: *lo = 0.f; break;
    case Act::kRelu6: *lo = 0.f; *hi = 6.f; break;
    default: *is_clamp = false;
  }
}

// ---- shared helpers ------------------------------------------------------------------------------

std::string ShapeStr(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

bool NumElements(const Shape& s, int64_t* out) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) return false;
  }
  *out = n;
  return true;
}

}  // namespace catdog::detail

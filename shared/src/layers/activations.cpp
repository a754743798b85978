// Keras activation functions: parsing their names (the CATDOG_ACTIVATION entries of
// layers/registry.inc) and applying them, with TF.js' semantics.
#include <algorithm>
#include <cmath>
#include <string>

#include "layers.h"

namespace catdog::detail {
namespace {

using jsonu::json;

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

float Sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }

struct ActName {
  const char* name;
  Act act;
};
constexpr ActName kActNames[] = {
#define CATDOG_ACTIVATION(e, str) {str, Act::k##e},
#define CATDOG_ACTIVATION_ALIAS(e, str) {str, Act::k##e},
#include "layers/registry.inc"
};

// "linear, relu, ..., swish, ..., silu": every accepted spelling, for the error message.
std::string SupportedList() {
  std::string s;
  for (const ActName& a : kActNames) s += (s.empty() ? "" : ", ") + std::string(a.name);
  return s;
}

}  // namespace

Status ParseActivation(const json& j, const LayerRef& where, Act* out) {
  std::string name;
  if (j.is_string()) {
    name = j.get_ref<const std::string&>();
  } else if (j.is_object()) {
    // Keras 3: {"module": "keras.activations", "class_name": "function", "config": "relu", ...};
    // TF.js deserialization form: {"class_name": "relu", "config": {}}.
    const json* cfg = jsonu::Find(j, "config");
    const json* cls = jsonu::Find(j, "class_name");
    if (!(cfg && jsonu::AsString(*cfg, &name)) && !(cls && jsonu::AsString(*cls, &name)))
      return Status::Error(where.str() + ": cannot read activation " + jsonu::Dump(j, 120));
  } else {
    return Status::Error(where.str() + ": bad activation " + jsonu::Dump(j, 120));
  }
  const std::string snake = ToSnake(name);  // TF.js writes hardSigmoid, Keras hard_sigmoid
  for (const ActName& a : kActNames)
    if (snake == a.name) {
      *out = a.act;
      return Status::Ok();
    }
  return Status::Error(where.str() + ": unsupported activation '" + name + "' (supported: " + SupportedList() + ")");
}

void ApplyActivation(Act act, float* x, int64_t rows, int64_t channels) {
  const int64_t n = rows * channels;
  switch (act) {
    case Act::kLinear: break;
    case Act::kRelu: for (int64_t i = 0; i < n; ++i) x[i] = std::max(x[i], 0.f); break;
    case Act::kRelu6: for (int64_t i = 0; i < n; ++i) x[i] = std::min(std::max(x[i], 0.f), 6.f); break;
    case Act::kSigmoid: for (int64_t i = 0; i < n; ++i) x[i] = Sigmoid(x[i]); break;
    case Act::kHardSigmoid:
      for (int64_t i = 0; i < n; ++i) x[i] = std::min(std::max(0.2f * x[i] + 0.5f, 0.f), 1.f);
      break;
    case Act::kTanh: for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]); break;
    case Act::kElu: for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.f ? x[i] : std::expm1(x[i]); break;
    case Act::kSelu: {
      const float alpha = 1.6732632423543772f, scale = 1.0507009873554805f;
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.f ? scale * x[i] : scale * alpha * std::expm1(x[i]);
      break;
    }
    case Act::kSwish: for (int64_t i = 0; i < n; ++i) x[i] = x[i] * Sigmoid(x[i]); break;
    case Act::kSoftplus:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 20.f ? x[i] : std::log1p(std::exp(x[i]));
      break;
    case Act::kSoftsign: for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.f + std::fabs(x[i])); break;
    case Act::kGelu:
      for (int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.f + std::erf(x[i] / std::sqrt(2.f)));
      break;
    case Act::kGeluNew: {
      const float k = std::sqrt(2.f / 3.14159265358979f);
      for (int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.f + std::tanh(k * (x[i] + 0.044715f * x[i] * x[i] * x[i])));
      break;
    }
    case Act::kMish:
      for (int64_t i = 0; i < n; ++i) {
        float sp = x[i] > 20.f ? x[i] : std::log1p(std::exp(x[i]));
        x[i] = x[i] * std::tanh(sp);
      }
      break;
    case Act::kSoftmax:
      for (int64_t r = 0; r < rows; ++r) {
        float* row = x + r * channels;
        float mx = row[0];
        for (int64_t c = 1; c < channels; ++c) mx = std::max(mx, row[c]);
        float sum = 0.f;
        for (int64_t c = 0; c < channels; ++c) {
          row[c] = std::exp(row[c] - mx);
          sum += row[c];
        }
        const float inv = 1.f / sum;
        for (int64_t c = 0; c < channels; ++c) row[c] *= inv;
      }
      break;
  }
}

}  // namespace catdog::detail

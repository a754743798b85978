// Non-throwing readers for untrusted JSON (model.json). The wasm build has exceptions disabled,
// so nlohmann's throwing accessors (at(), get<T>() on the wrong type, dump() of invalid UTF-8)
// must never run on data from a file: every read here checks the type first.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace catdog::jsonu {

using json = nlohmann::json;

// Member `key` of an object, or nullptr when `j` is not an object or has no such member.
inline const json* Find(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

// Like Find, but a JSON null counts as absent.
inline const json* FindNonNull(const json& j, const char* key) {
  const json* v = Find(j, key);
  return (v && !v->is_null()) ? v : nullptr;
}

inline bool AsString(const json& j, std::string* out) {
  if (!j.is_string()) return false;
  *out = j.get_ref<const std::string&>();
  return true;
}

inline bool AsBool(const json& j, bool* out) {
  if (!j.is_boolean()) return false;
  *out = j.get<bool>();
  return true;
}

inline bool AsDouble(const json& j, double* out) {
  if (!j.is_number()) return false;
  *out = j.get<double>();
  return true;
}

// Integers; a float with an integral value (3.0) is accepted too.
inline bool AsInt64(const json& j, int64_t* out) {
  if (j.is_number_integer()) {
    *out = j.get<int64_t>();
    return true;
  }
  if (j.is_number_unsigned()) {
    uint64_t u = j.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    *out = static_cast<int64_t>(u);
    return true;
  }
  if (j.is_number_float()) {
    double d = j.get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9.0e15) return false;
    *out = static_cast<int64_t>(d);
    return true;
  }
  return false;
}

// Serializes for messages and metadata; never throws (invalid UTF-8 is replaced). The text is
// j.dump(-1, ' ', false, json::error_handler_t::replace) byte for byte (json_util.cpp writes it
// itself: nlohmann's serializer formats \u escapes with snprintf, which is 5 KB gzip of the wasm
// page with printf's float code), cut after max_chars with "..." appended.
std::string Dump(const json& j, size_t max_chars = 200);

// v as printf("%.7g", v) writes it (7 significant digits, rounded half to even from the exact
// binary value; "inf", "nan"), without printf.
std::string FormatG7(double v);

}  // namespace catdog::jsonu

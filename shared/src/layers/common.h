// Helpers every layer family uses (layers/*.cpp): Keras config readers whose messages name the
// layer and the value, shape checks, TensorFlow's window arithmetic. Internal to layers/.
#pragma once

#include <cstdint>
#include <limits>

#include "layers.h"

namespace catdog::detail {

constexpr int64_t kMaxDim = std::numeric_limits<int>::max();

// ---- config readers: absent or null -> the default; a wrong type -> a message naming the value --
Status ReadInt(const jsonu::json& cfg, const char* key, const LayerRef& ref, int64_t def, int64_t* out);
Status ReadPositiveInt(const jsonu::json& cfg, const char* key, const LayerRef& ref, int* out);
Status ReadDouble(const jsonu::json& cfg, const char* key, const LayerRef& ref, double def, double* out);
Status ReadBool(const jsonu::json& cfg, const char* key, const LayerRef& ref, bool def, bool* out);
// An int or a list of two ints (kernel_size, strides, pool_size...). Absent/null -> def (an error
// when def_a <= 0: the key is required).
Status ReadPair(const jsonu::json& cfg, const char* key, const LayerRef& ref, int def_a, int def_b, int* a, int* b);
// 'valid' (false) or 'same' (true).
Status ReadPadding(const jsonu::json& cfg, const LayerRef& ref, bool* same);
Status CheckChannelsLast(const jsonu::json& cfg, const LayerRef& ref);
Status CheckNoDilation(const jsonu::json& cfg, const LayerRef& ref);
// The layer's 'activation' (absent: linear).
Status ReadActivation(const jsonu::json& cfg, const LayerRef& ref, Act* act);

// ---- shapes ---------------------------------------------------------------------------------------
// One input of the given rank (without batch).
Status ExpectRank(const Layer& l, size_t rank);
// Output size and padding of a conv/pool window along one axis, as TensorFlow computes them.
Status WindowOut(const LayerRef& ref, const char* axis, int64_t in, int k, int stride, bool same, int* out,
                 int* pad_before, int* pad_after);
// Every dim in 1..kMaxDim.
Status CheckDims(const LayerRef& ref, const Shape& s);

// The clamp a fast kernel can fuse for `act` (linear, relu, relu6: *is_clamp), else no clamp.
void ClampFor(Act act, float* lo, float* hi, bool* is_clamp);

}  // namespace catdog::detail

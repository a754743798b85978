// catdog wasm ABI: the thin C surface that Emscripten exports to JavaScript (web/catdog.js).
//
// Only handles, pointers and integers cross it. Strings go in as (pointer, length) into wasm
// memory and come out as pointers to NUL-terminated UTF-8 owned by the module (valid until the
// next call that changes them). Every call that can fail returns 0 / nullptr / a negative code and
// leaves a message for catdog_last_error(); nothing throws (the build uses -fno-exceptions).
//
// Typical sequence (see web/catdog.js):
//   h = catdog_create(json_ptr, json_len, backend, threads)        // parses model.json
//   for i < catdog_shard_count(h): path = catdog_shard_path(h, i)  // fetch it, then
//       p = catdog_shard_buffer(h, i, size); copy bytes to p
//   catdog_finish(h)                                               // LoadWeights; frees shards
//   img = catdog_image_buffer(h, bytes); copy RGBA to img
//   catdog_preprocess(h, img, w, h, stride, format, fit)           // writes sample 0 of input
//   catdog_run(h, 1); out = catdog_output(h)
//   catdog_destroy(h)
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t catdog_handle;  // 0 = invalid

// Message of the last failed call ("" when none). Owned by the module.
const char* catdog_last_error(void);

// Parses model.json (json_len bytes at json). backend: 0 reference, 1 simd, 3 auto.
// Returns a handle, or 0 on failure.
catdog_handle catdog_create(const char* json, int32_t json_len, int32_t backend, int32_t threads);
void catdog_destroy(catdog_handle h);

// Weight shards named by the manifest, in order. Path: NUL-terminated, relative to model.json.
int32_t catdog_shard_count(catdog_handle h);
const char* catdog_shard_path(catdog_handle h, int32_t index);
// A buffer of `size` bytes in wasm memory for shard `index`, owned by the handle; JS fills it.
uint8_t* catdog_shard_buffer(catdog_handle h, int32_t index, int32_t size);
// Loads the weights from the filled shard buffers, then frees them. 0 on success, -1 on failure.
int32_t catdog_finish(catdog_handle h);

// Floats per sample of input / output (e.g. 10000 and 1 for the tutorial CNN).
int32_t catdog_input_size(catdog_handle h);
int32_t catdog_output_size(catdog_handle h);
// Input buffer for `batch` samples (NHWC floats), owned by the handle; grows when needed.
float* catdog_input(catdog_handle h, int32_t batch);
// Runs `batch` samples from the input buffer. 0 on success, -1 on failure.
int32_t catdog_run(catdog_handle h, int32_t batch);
// Output of the last run: batch * output_size floats.
float* catdog_output(catdog_handle h);

// A staging buffer of `bytes` bytes for an 8-bit image, owned by the handle (reused).
uint8_t* catdog_image_buffer(catdog_handle h, int32_t bytes);
// The core's preprocess (DESIGN contract 1) of the image at `pixels` into sample 0 of the input
// buffer. format: 1 gray, 3 RGB, 4 RGBA (bytes per pixel). fit: 0 stretch, 1 center crop.
// 0 on success, -1 on failure (bad size, stride, format, or a model whose input is not
// S x S x 1).
int32_t catdog_preprocess(catdog_handle h, const uint8_t* pixels, int32_t width, int32_t height,
                          int32_t stride, int32_t format, int32_t fit);

// A planar YUV camera frame (a WebCodecs VideoFrame's own bytes) -> catdog::yuv_to_rgba ->
// catdog_preprocess. The planes lie packed one after the other at `data` (normally the staging
// buffer): Y (stride width), then for layout 0 (I420) U and V (stride ceil(width/2) each), for
// layout 1 (NV12) the interleaved UV plane (stride 2 ceil(width/2)); chroma rows ceil(height/2).
// matrix: 0 BT.601, 1 BT.709; full_range: 0 or 1. 0 on success, -1 on failure.
int32_t catdog_preprocess_yuv(catdog_handle h, const uint8_t* data, int32_t width, int32_t height,
                              int32_t layout, int32_t matrix, int32_t full_range, int32_t fit);

// JSON describing the loaded model: {"input_shape","output_shape","backend","format",
// "generated_by","converted_by","num_weights","layers":[...],"user":{userDefinedMetadata},
// "selfcheck":{"present","verified","passed","total","source","first_mismatch","summary"}}.
const char* catdog_metadata(catdog_handle h);

// The model's self-check (catdog.h RunSelfCheck: golden images through preprocess + run, shard
// SHA-256), run by catdog_finish. passed / total: -1 when the model has no selfcheck block (or the
// handle is bad). summary: "model verified (n/n)", "model self-check FAILED (k/n): <first
// mismatch>" or "model has no self-check block". Also in catdog_metadata's "selfcheck".
int32_t catdog_selfcheck_passed(catdog_handle h);
int32_t catdog_selfcheck_total(catdog_handle h);
const char* catdog_selfcheck_summary(catdog_handle h);

// Bytes of the wasm heap currently allocated by malloc (leak checks in tests), and the size of
// wasm linear memory.
int32_t catdog_heap_used(void);
int32_t catdog_memory_bytes(void);
// 1 when built with -msimd128 SIMD kernels and threads respectively.
int32_t catdog_build_flags(void);

#ifdef __cplusplus
}
#endif

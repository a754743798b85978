// catdog wasm ABI: the thin C surface that Emscripten exports to JavaScript (web/catdog-core.js).
//
// Only handles, pointers and integers cross it. Strings go in as (pointer, length) into wasm
// memory and come out as pointers to NUL-terminated UTF-8 owned by the module (valid until the
// next call that changes them). Every call that can fail returns 0 / nullptr / a negative code and
// leaves a message for catdog_last_error(); nothing throws (the build uses -fno-exceptions).
//
// Typical sequence (see web/catdog.js):
//   h = catdog_create(json_ptr, json_len, backend, threads, aliases_ptr, aliases_len)  // parses model.json
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

// The functions, with what each does: one list, catdog_abi.inc (also read by wasm/CMakeLists.txt
// for the exported names and mirrored by web/catdog-core.js's ABI table).
#define CATDOG_ABI(ret, name, params) ret name params;
#include "catdog_abi.inc"
#undef CATDOG_ABI

#ifdef __cplusplus
}
#endif

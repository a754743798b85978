// The golden-image schema's parser and writer on nlohmann values, for the core's own readers of
// model.json (selfcheck.cpp) that already hold the parsed document. Public callers use the
// text-based ParseGoldens / GoldenToJson of catdog/tfjs_format.h: both go through these.
#pragma once

#include <string>

#include "catdog/catdog.h"
#include "json_util.h"

namespace catdog::tfjs::detail {

// Parses one golden object; `at` names it in *why ("selfcheck.goldens[2]"). `expected` may be
// absent (left empty); *pre_sha256 receives the optional preprocessed_sha256.
bool ParseGolden(const jsonu::json& j, const std::string& at, SelfCheckGolden* out, std::string* pre_sha256,
                 std::string* why);
jsonu::json GoldenJson(const SelfCheckGolden& g);
// "gray8", "rgb8", "rgba8": the schema's names of the pixel formats.
const char* PixelFormatName(PixelFormat f);

}  // namespace catdog::tfjs::detail

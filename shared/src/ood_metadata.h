// Reads userDefinedMetadata.catdog.ood into ModelInfo (catdog.h, "out of distribution"). Internal.
#pragma once

#include <string>

#include "catdog/catdog.h"
#include "json_util.h"

namespace catdog::detail {

// `catdog_meta` is userDefinedMetadata.catdog (null when absent). No ood block: has_ood stays
// false. A block that is not an object, names another method, or has a threshold that is not a
// number in [0, 0.5]: an error naming `source` and the value.
Status ParseOodMetadata(const jsonu::json* catdog_meta, const std::string& source, ModelInfo* info);

}  // namespace catdog::detail

// The constructors of the registered Keras classes, one per CATDOG_LAYER line of registry.inc,
// each defined in layers/<family>.cpp (a line without its New<Class>() fails to link).
#pragma once

#include <memory>

#include "layers.h"

namespace catdog::detail {

#define CATDOG_LAYER(cls, family, fixture) std::unique_ptr<Layer> New##cls();
#include "layers/registry.inc"

}  // namespace catdog::detail

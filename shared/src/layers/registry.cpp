// The layer factory, derived from registry.inc.
#include <cstring>
#include <string>
#include <vector>

#include "layers/registry.h"

namespace catdog::detail {
namespace {

struct Entry {
  const char* class_name;
  std::unique_ptr<Layer> (*make)();
};
constexpr Entry kLayers[] = {
#define CATDOG_LAYER(cls, family, fixture) {#cls, &New##cls},
#include "layers/registry.inc"
};

}  // namespace

std::unique_ptr<Layer> CreateLayer(const std::string& cls) {
  for (const Entry& e : kLayers)
    if (cls == e.class_name) return e.make();
  return nullptr;
}

const std::vector<std::string>& RegisteredLayers() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const Entry& e : kLayers) v.emplace_back(e.class_name);
    return v;
  }();
  return names;
}

}  // namespace catdog::detail

// Did the model learn anything? One rule for the trainer (a warning per epoch, the run card),
// `export` and `quantize` (which refuse a model that does not beat chance unless --allow-chance).
//
// Chance is the majority class's share of the validation images (a model that always answers the
// larger class gets it for free). A model beats chance when its validation accuracy is above
// chance by more than 2.326 standard errors of a coin with that bias over n images (one-sided 1%):
// on 60 balanced images that bar is 65.0%, on 450 it is 55.5%. A spread of the validation outputs
// (standard deviation of P) under kCollapsedSpread means the model answers nearly the same for every
// image, whatever its accuracy says.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace catdog::train {

inline constexpr double kChanceZ = 2.326;
inline constexpr double kCollapsedSpread = 0.01;

struct LearningCheck {
  bool known = false;      // false: no validation split (nothing to judge on)
  int64_t images = 0;      // validation images
  double accuracy = NAN;   // validation accuracy (of the checkpoint that ships: the best epoch)
  double chance = NAN;     // majority class share
  double bar = NAN;        // accuracy must be above this
  double spread = NAN;     // std of the validation P; NaN when not measured
  bool beats_chance = true;
  bool collapsed = false;

  // One sentence for a person: the numbers and the bar.
  std::string Describe() const {
    if (!known) return "no validation split: whether the model learned is unknown";
    std::string s = fmt::format("validation accuracy {:.1f}% on {} images against chance {:.1f}% (the larger class; "
                                "beating it needs more than {:.1f}%)",
                                100 * accuracy, images, 100 * chance, 100 * bar);
    if (std::isfinite(spread)) s += fmt::format(", outputs' spread {:.4f}", spread);
    return s;
  }

  nlohmann::json ToJson() const {
    nlohmann::json j;
    j["known"] = known;
    if (!known) return j;
    j["images"] = images;
    j["accuracy"] = accuracy;
    j["chance"] = chance;
    j["bar"] = bar;
    j["spread"] = std::isfinite(spread) ? nlohmann::json(spread) : nlohmann::json(nullptr);
    j["beats_chance"] = beats_chance;
    j["collapsed"] = collapsed;
    return j;
  }
};

// `largest`: validation images of the largest class (any number of classes); accuracy and spread
// (of the outputs' probabilities) of the judged model.
inline LearningCheck JudgeLearningLargest(int64_t images, int64_t largest, double accuracy, double spread) {
  LearningCheck c;
  if (images <= 0 || !std::isfinite(accuracy)) return c;
  c.known = true;
  c.images = images;
  c.accuracy = accuracy;
  c.chance = double(largest) / double(images);
  c.bar = std::min(1.0, c.chance + kChanceZ * std::sqrt(c.chance * (1.0 - c.chance) / double(images)));
  c.spread = spread;
  c.collapsed = std::isfinite(spread) && spread < kCollapsedSpread;
  c.beats_chance = accuracy > c.bar && !c.collapsed;
  return c;
}

// Two classes: `positives` are the validation images of the second class.
inline LearningCheck JudgeLearning(int64_t images, int64_t positives, double accuracy, double spread) {
  return JudgeLearningLargest(images, std::max(positives, images - positives), accuracy, spread);
}

// The check as a run card or model metadata carries it ("learning_check"); known = false when the
// object is absent or malformed (models from before the check, or from other tools).
inline LearningCheck LearningCheckFromJson(const nlohmann::json& j) {
  LearningCheck c;
  if (!j.is_object() || !j.contains("known") || !j["known"].is_boolean() || !j["known"].get<bool>()) return c;
  auto num = [&](const char* k) { return j.contains(k) && j[k].is_number() ? j[k].get<double>() : NAN; };
  c.known = true;
  c.images = int64_t(num("images"));
  c.accuracy = num("accuracy");
  c.chance = num("chance");
  c.bar = num("bar");
  c.spread = num("spread");
  c.collapsed = j.contains("collapsed") && j["collapsed"].is_boolean() && j["collapsed"].get<bool>();
  c.beats_chance = !(j.contains("beats_chance") && j["beats_chance"].is_boolean() && !j["beats_chance"].get<bool>());
  return c;
}

}  // namespace catdog::train

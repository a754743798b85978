#include "progress.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <ctime>
#include <tuple>
#include <vector>

#include <unistd.h>

namespace catdog::train {

using json = nlohmann::json;

ProgressBar::ProgressBar(bool on, int epoch, int epochs, int64_t steps)
    : on_(on), epoch_(epoch), epochs_(epochs), steps_(steps) {
  start_ = last_ = Clock::now();
}

void ProgressBar::Update(int64_t step, int64_t images) {
  if (!on_) return;
  auto now = Clock::now();
  if (step < steps_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  double el = std::chrono::duration<double>(now - start_).count();
  double eta = step > 0 ? el / double(step) * double(steps_ - step) : 0;
  const int width = 30;
  int fill = steps_ > 0 ? int(width * step / steps_) : width;
  std::string bar(size_t(fill), '=');
  if (fill < width) bar += '>' + std::string(size_t(width - fill - 1), ' ');
  std::fprintf(stderr, "\repoch %d/%d [%s] %3d%% %lld/%lld  %.0f img/s  ETA %02d:%02d ", epoch_, epochs_,
               bar.c_str(), steps_ > 0 ? int(100 * step / steps_) : 100, (long long)step, (long long)steps_,
               el > 0 ? double(images) / el : 0.0, int(eta) / 60, int(eta) % 60);
  std::fflush(stderr);
}

void ProgressBar::Done() {
  if (on_) std::fprintf(stderr, "\r\033[K");
}

bool ProgressWanted(int progress) { return progress == 1 || (progress < 0 && isatty(STDERR_FILENO)); }

std::string IsoNow() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

json StatsJson(const EpochStats& e) {
  return {{"epoch", e.epoch}, {"loss", e.loss}, {"accuracy", e.accuracy}, {"val_loss", e.val_loss},
          {"val_accuracy", e.val_accuracy}, {"lr", e.lr}, {"seconds", e.seconds}, {"images_per_s", e.images_per_s},
          {"val_spread", std::isfinite(e.val_spread) ? json(e.val_spread) : json(nullptr)}};
}

EpochStats StatsFromJson(const json& j) {
  auto num = [&](const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
  };
  EpochStats e;
  e.epoch = int(num("epoch"));
  e.loss = num("loss");
  e.accuracy = num("accuracy");
  e.val_loss = num("val_loss");
  e.val_accuracy = num("val_accuracy");
  e.lr = num("lr");
  e.seconds = num("seconds");
  e.images_per_s = num("images_per_s");
  e.val_spread = j.contains("val_spread") && j["val_spread"].is_number() ? j["val_spread"].get<double>() : NAN;
  return e;
}

Status LogEpochScalars(tb::EventWriter& train, tb::EventWriter& validation, const EpochStats& e, bool has_val) {
  for (auto& [w, tag, v] : std::vector<std::tuple<tb::EventWriter*, const char*, double>>{
           {&train, "epoch_loss", e.loss}, {&train, "epoch_accuracy", e.accuracy},
           {&train, "epoch_learning_rate", e.lr}, {&train, "epoch_images_per_second", e.images_per_s},
           {&train, "epoch_seconds", e.seconds}, {&validation, "epoch_loss", e.val_loss},
           {&validation, "epoch_accuracy", e.val_accuracy}}) {
    if (w == &validation && !has_val) continue;
    Status s = w->AddScalar(tag, float(v), e.epoch - 1);  // Keras logs epochs 0-based
    if (!s) return s;
  }
  return Status::Ok();
}

void LogEpochLine(const EpochStats& e, int epochs, bool improved) {
  spdlog::info("epoch {}/{}: loss {:.4f} acc {:.4f} val_loss {:.4f} val_acc {:.4f}  {:.1f} s, {:.0f} img/s{}", e.epoch,
               epochs, e.loss, e.accuracy, e.val_loss, e.val_accuracy, e.seconds, e.images_per_s,
               improved ? "  (best)" : "");
}

}  // namespace catdog::train

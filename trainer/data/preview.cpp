// The preview grid behind `catdog preview` (preview.h): pack samples, their labels, and the
// augmenter a torch build registers.
#include "preview.h"

#include <string>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <random>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace catdog::preview {
namespace {
std::mutex g_mu;
Augmenter& Registered() {
  static Augmenter a;
  return a;
}
}  // namespace

void SetAugmenter(Augmenter augmenter) {
  std::lock_guard<std::mutex> lock(g_mu);
  Registered() = std::move(augmenter);
}
bool HasAugmenter() {
  std::lock_guard<std::mutex> lock(g_mu);
  return static_cast<bool>(Registered());
}

Status RenderGrid(const pack::Pack& p, const GridOptions& o, const std::string& ext, std::vector<uint8_t>* encoded) {
  if (o.rows < 1 || o.cols < 1 || o.rows * o.cols > 400 || o.scale < 1 || o.scale > 16)
    return Status::Error("preview: grid " + std::to_string(o.rows) + "x" + std::to_string(o.cols) + " at scale " +
                         std::to_string(o.scale) + " is out of range");
  std::string e = ext;
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (e != ".png" && e != ".jpg" && e != ".jpeg" && e != ".bmp")
    return Status::Error("preview: output extension '" + ext + "' is not .png, .jpg or .bmp");
  std::vector<size_t> idx = p.Indices(o.split);
  if (idx.empty())
    return Status::Error(std::string("preview: the pack's ") + pack::SplitName(o.split) + " split holds no images");
  // A seeded partial Fisher-Yates picks the samples; shown in pack order.
  const size_t want = std::min(idx.size(), size_t(o.rows) * o.cols);
  std::mt19937_64 rng(o.seed);
  for (size_t k = 0; k < want; ++k) std::swap(idx[k], idx[k + rng() % (idx.size() - k)]);
  idx.resize(want);
  std::sort(idx.begin(), idx.end());

  const int s = p.size;
  std::vector<uint8_t> images(want * size_t(s) * s);
  for (size_t k = 0; k < want; ++k) std::copy_n(p.image(idx[k]), size_t(s) * s, images.data() + k * size_t(s) * s);
  if (o.augment) {
    Augmenter aug;
    {
      std::lock_guard<std::mutex> lock(g_mu);
      aug = Registered();
    }
    if (!aug) return Status::Error("preview: --augment needs the torch build (augmentation lives in the libtorch trainer)");
    std::vector<uint8_t> out;
    Status st = aug(images.data(), static_cast<int>(want), s, o.seed, &out);
    if (!st) return st;
    if (out.size() != images.size()) return Status::Error("preview: the augmenter returned the wrong number of bytes");
    images.swap(out);
  }

  // Layout: a title bar, then rows of tiles, each with a label bar under it.
  const int tile = s * o.scale, label_h = std::max(22, tile / 8), pad = 6, title_h = 34;
  const int width = o.cols * (tile + pad) + pad;
  const int height = title_h + o.rows * (tile + label_h + pad) + pad;
  cv::Mat canvas(height, width, CV_8UC3, cv::Scalar(32, 32, 32));
  const double font = std::max(0.5, tile / 300.0);
  std::string title = std::string(pack::SplitName(o.split)) + ": " + std::to_string(want) + " of " +
                      std::to_string(p.Indices(o.split).size()) + (o.augment ? " (augmented)" : "") + "  seed " +
                      std::to_string(o.seed) + "  " + std::to_string(s) + "x" + std::to_string(s) + " " + p.fit;
  cv::putText(canvas, title, cv::Point(pad, 24), cv::FONT_HERSHEY_SIMPLEX, 0.6, cv::Scalar(230, 230, 230), 1, cv::LINE_AA);
  for (size_t k = 0; k < want; ++k) {
    const int r = static_cast<int>(k) / o.cols, c = static_cast<int>(k) % o.cols;
    const int x = pad + c * (tile + pad), y = title_h + r * (tile + label_h + pad);
    cv::Mat gray(s, s, CV_8UC1, images.data() + k * size_t(s) * s);
    cv::Mat big;
    // Display only (nearest neighbour keeps the model's pixels visible); never model input.
    cv::resize(gray, big, cv::Size(tile, tile), 0, 0, cv::INTER_NEAREST);
    cv::Mat bgr;
    cv::Mat channels[3] = {big, big, big};
    cv::merge(channels, 3, bgr);
    bgr.copyTo(canvas(cv::Rect(x, y, tile, tile)));
    // Each class its colour (cat and dog as before) and its name from the pack (Hershey fonts draw
    // ASCII only: other bytes show as '?').
    const size_t cls = p.labels[idx[k]];
    static const cv::Scalar kColours[] = {cv::Scalar(255, 200, 80), cv::Scalar(80, 160, 255), cv::Scalar(120, 220, 120),
                                          cv::Scalar(200, 120, 220), cv::Scalar(90, 220, 230), cv::Scalar(230, 230, 230)};
    const cv::Scalar colour = kColours[cls % 6];
    std::string name = cls < p.class_names.size() ? p.class_names[cls] : std::to_string(cls);
    for (char& ch : name)
      if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7E) ch = '?';
    cv::rectangle(canvas, cv::Rect(x, y + tile, tile, label_h), colour * 0.35, cv::FILLED);
    cv::putText(canvas, name, cv::Point(x + 6, y + tile + label_h - 6), cv::FONT_HERSHEY_SIMPLEX, font, colour, 2,
                cv::LINE_AA);
  }
  try {
    if (!cv::imencode(e == ".jpeg" ? ".jpg" : e, canvas, *encoded)) return Status::Error("preview: OpenCV could not encode " + e);
  } catch (const cv::Exception& ex) {
    return Status::Error(std::string("preview: encoding failed: ") + ex.what());
  }
  return Status::Ok();
}

}  // namespace catdog::preview

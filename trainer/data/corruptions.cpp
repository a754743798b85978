#include "corruptions.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <random>

namespace catdog::corrupt {

namespace {

// splitmix64: spreads (seed, kind, severity, index) over the generator's seed space.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

double Uniform(std::mt19937_64& g, double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(g); }

// Per-severity parameters (index 1..3; 0 unused).
constexpr double kBlurSigma[] = {0, 0.8, 1.5, 2.5};          // Gaussian blur sigma, pixels
constexpr double kNoiseSigma[] = {0, 8, 16, 28};             // additive Gaussian noise, grey levels
constexpr double kLowGamma[] = {0, 1.5, 2.0, 2.6};           // 255 (x/255)^gamma * gain
constexpr double kLowGain[] = {0, 0.7, 0.5, 0.35};
constexpr double kOverGain[] = {0, 1.5, 2.0, 2.7};           // x * gain + offset, clipped
constexpr double kOverOffset[] = {0, 20, 40, 60};
constexpr int kJpegQuality[] = {0, 30, 20, 10};
constexpr int kMotionLength[] = {0, 5, 9, 13};               // line kernel, random angle
constexpr double kCropFraction[] = {0, 0.85, 0.75, 0.65};    // side of the crop, random position
constexpr double kRotationDeg[] = {0, 8, 15, 22};            // +- at random

}  // namespace

const std::vector<Kind>& AllKinds() {
  static const std::vector<Kind> k = {Kind::kGaussianBlur, Kind::kNoise,      Kind::kLowLight, Kind::kOverExposure,
                                      Kind::kJpeg,         Kind::kMotionBlur, Kind::kCropZoom, Kind::kRotation};
  return k;
}

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kGaussianBlur: return "gaussian_blur";
    case Kind::kNoise: return "gaussian_noise";
    case Kind::kLowLight: return "low_light";
    case Kind::kOverExposure: return "over_exposure";
    case Kind::kJpeg: return "jpeg";
    case Kind::kMotionBlur: return "motion_blur";
    case Kind::kCropZoom: return "crop_zoom";
    case Kind::kRotation: return "rotation";
  }
  return "?";
}

const char* KindDescription(Kind k) {
  switch (k) {
    case Kind::kGaussianBlur: return "Gaussian blur, sigma 0.8 / 1.5 / 2.5 px";
    case Kind::kNoise: return "additive Gaussian noise, sigma 8 / 16 / 28 grey levels";
    case Kind::kLowLight: return "low light: 255 (x/255)^g * a, g 1.5 / 2.0 / 2.6, a 0.7 / 0.5 / 0.35";
    case Kind::kOverExposure: return "over-exposure: x * a + b clipped, a 1.5 / 2.0 / 2.7, b 20 / 40 / 60";
    case Kind::kJpeg: return "JPEG re-encoding, quality 30 / 20 / 10";
    case Kind::kMotionBlur: return "motion blur, line of 5 / 9 / 13 px at a random angle";
    case Kind::kCropZoom: return "off-centre crop of 85 / 75 / 65% of the side at a random position, zoomed back";
    case Kind::kRotation: return "rotation by +-8 / 15 / 22 degrees, border replicated";
  }
  return "?";
}

Status Apply(Kind kind, int severity, uint64_t seed, uint64_t index, const uint8_t* in, int size,
             std::vector<uint8_t>* out) {
  if (size < 8 || size > 4096) return Status::Error("corruptions: image size " + std::to_string(size) + " out of range");
  if (severity < 0 || severity > kMaxSeverity)
    return Status::Error("corruptions: severity " + std::to_string(severity) + " must be in 0.." +
                         std::to_string(kMaxSeverity));
  out->assign(in, in + size_t(size) * size);
  if (severity == 0) return Status::Ok();
  std::mt19937_64 g(Mix(Mix(Mix(seed) ^ uint64_t(kind)) ^ uint64_t(severity)) ^ Mix(index));
  const cv::Mat src(size, size, CV_8UC1, const_cast<uint8_t*>(in));
  cv::Mat dst(size, size, CV_8UC1, out->data());  // writes land in *out
  const int s = severity;
  switch (kind) {
    case Kind::kGaussianBlur:
      cv::GaussianBlur(src, dst, cv::Size(0, 0), kBlurSigma[s], kBlurSigma[s], cv::BORDER_REPLICATE);
      break;
    case Kind::kNoise: {
      std::normal_distribution<double> n(0.0, kNoiseSigma[s]);
      for (uint8_t& v : *out) v = cv::saturate_cast<uint8_t>(double(v) + n(g));
      break;
    }
    case Kind::kLowLight:
      for (uint8_t& v : *out) v = cv::saturate_cast<uint8_t>(255.0 * std::pow(v / 255.0, kLowGamma[s]) * kLowGain[s]);
      break;
    case Kind::kOverExposure:
      for (uint8_t& v : *out) v = cv::saturate_cast<uint8_t>(double(v) * kOverGain[s] + kOverOffset[s]);
      break;
    case Kind::kJpeg: {
      std::vector<uint8_t> buf;
      if (!cv::imencode(".jpg", src, buf, {cv::IMWRITE_JPEG_QUALITY, kJpegQuality[s]}))
        return Status::Error("corruptions: JPEG encoding failed");
      cv::Mat dec = cv::imdecode(buf, cv::IMREAD_GRAYSCALE);
      if (dec.rows != size || dec.cols != size || dec.type() != CV_8UC1)
        return Status::Error("corruptions: JPEG decoding gave a different image");
      dec.copyTo(dst);
      break;
    }
    case Kind::kMotionBlur: {
      const int len = kMotionLength[s];
      cv::Mat k = cv::Mat::zeros(len, len, CV_32F);
      const double a = Uniform(g, 0, M_PI), c = len / 2.0 - 0.5;
      // A line through the kernel's centre at angle a, drawn with sub-pixel samples.
      for (int t = 0; t < 4 * len; ++t) {
        const double r = (t / (4.0 * len - 1.0) - 0.5) * (len - 1);
        const int x = int(std::lround(c + r * std::cos(a))), y = int(std::lround(c + r * std::sin(a)));
        if (x >= 0 && x < len && y >= 0 && y < len) k.at<float>(y, x) = 1.f;
      }
      k /= cv::sum(k)[0];
      cv::filter2D(src, dst, -1, k, cv::Point(-1, -1), 0, cv::BORDER_REPLICATE);
      break;
    }
    case Kind::kCropZoom: {
      const int side = std::max(2, int(std::lround(kCropFraction[s] * size)));
      const int x0 = int(std::lround(Uniform(g, 0, size - side))), y0 = int(std::lround(Uniform(g, 0, size - side)));
      cv::resize(src(cv::Rect(x0, y0, side, side)), dst, cv::Size(size, size), 0, 0, cv::INTER_LINEAR);
      break;
    }
    case Kind::kRotation: {
      const double deg = kRotationDeg[s] * (Uniform(g, 0, 1) < 0.5 ? -1 : 1);
      cv::Mat m = cv::getRotationMatrix2D(cv::Point2f(size / 2.f - 0.5f, size / 2.f - 0.5f), deg, 1.0);
      cv::warpAffine(src, dst, m, cv::Size(size, size), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
      break;
    }
  }
  if (dst.data != out->data()) return Status::Error("corruptions: OpenCV reallocated the output");
  return Status::Ok();
}

}  // namespace catdog::corrupt

// `prepare` and image decoding: every kind of bad file, real photos through the core's
// preprocessing, splits, round trips through packs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jpeglib.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "catdog/catdog.h"
#include "fsutil.h"
#include "imaging.h"
#include "pack.h"
#include "prepare.h"
#include "test_util.h"

namespace stdfs = std::filesystem;
using catdog::imaging::Problem;
using catdog::test::TempDir;

namespace {

void WriteBytes(const std::string& path, const std::vector<uint8_t>& v) {
  stdfs::create_directories(stdfs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size()));
}
void WriteText(const std::string& path, const std::string& s) { WriteBytes(path, std::vector<uint8_t>(s.begin(), s.end())); }
std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::vector<uint8_t> v;
  EXPECT_TRUE(catdog::fs::ReadFile(path, &v)) << path;
  return v;
}
std::vector<uint8_t> Encode(const std::string& ext, const cv::Mat& m) {
  std::vector<uint8_t> out;
  EXPECT_TRUE(cv::imencode(ext, m, out));
  return out;
}

// A smooth colour test picture (BGR, as OpenCV stores it).
cv::Mat Picture(int w, int h) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) m.at<cv::Vec3b>(y, x) = cv::Vec3b(uint8_t(x * 2), uint8_t(y * 2), uint8_t(128 + (x - y) / 2));
  return m;
}

// CMYK JPEG as Photoshop writes it (Adobe marker, inverted: stored value = 255 - ink). OpenCV
// cannot write CMYK, so this uses libjpeg directly. For RGB (r,g,b) with no black ink the stored
// samples are (r, g, b, 255).
std::vector<uint8_t> CmykJpeg(const cv::Mat& bgr) {
  jpeg_compress_struct c;
  jpeg_error_mgr e;
  c.err = jpeg_std_error(&e);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = static_cast<JDIMENSION>(bgr.cols);
  c.image_height = static_cast<JDIMENSION>(bgr.rows);
  c.input_components = 4;
  c.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 95, TRUE);
  jpeg_start_compress(&c, TRUE);
  std::vector<uint8_t> row(size_t(bgr.cols) * 4);
  for (int y = 0; y < bgr.rows; ++y) {
    for (int x = 0; x < bgr.cols; ++x) {
      cv::Vec3b p = bgr.at<cv::Vec3b>(y, x);
      row[4 * x] = p[2];
      row[4 * x + 1] = p[1];
      row[4 * x + 2] = p[0];
      row[4 * x + 3] = 255;
    }
    JSAMPROW r = row.data();
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  std::vector<uint8_t> out(buf, buf + size);
  std::free(buf);
  jpeg_destroy_compress(&c);
  return out;
}

// A tiny PNG whose IHDR claims w x h (a decompression bomb's header); CRCs are not checked
// because the decoder must refuse it before reading further.
std::vector<uint8_t> PngHeaderOnly(uint32_t w, uint32_t h) {
  std::vector<uint8_t> v = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
  for (uint32_t x : {w, h})
    for (int i = 3; i >= 0; --i) v.push_back(uint8_t(x >> (8 * i)));
  for (uint8_t b : {8, 2, 0, 0, 0, 0, 0, 0, 0}) v.push_back(b);  // depth, colour type, ..., CRC
  const uint8_t idat[] = {0, 0, 0, 2, 'I', 'D', 'A', 'T', 0x78, 0x9c, 0, 0, 0, 0};
  v.insert(v.end(), idat, idat + sizeof idat);
  return v;
}

// Rewrites the dimensions in a JPEG's SOF0 segment.
std::vector<uint8_t> PatchJpegSize(std::vector<uint8_t> v, uint16_t w, uint16_t h) {
  for (size_t i = 2; i + 9 < v.size(); ++i) {
    if (v[i] == 0xFF && (v[i + 1] == 0xC0 || v[i + 1] == 0xC2)) {
      v[i + 5] = uint8_t(h >> 8); v[i + 6] = uint8_t(h);
      v[i + 7] = uint8_t(w >> 8); v[i + 8] = uint8_t(w);
      return v;
    }
  }
  ADD_FAILURE() << "no SOF marker";
  return v;
}

std::vector<std::string> SortedJpegs(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : stdfs::directory_iterator(dir))
    if (e.path().extension() == ".jpg") names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Copies the first n photos of each class (sorted by name) into root/{Cat,Dog}.
bool CopySubset(const std::string& root, size_t n) {
  std::string data = catdog::test::RealDataDir();
  if (data.empty()) return false;
  for (const char* cls : {"Cat", "Dog"}) {
    std::string src = data + "/PetImages/" + cls;
    auto names = SortedJpegs(src);
    if (names.size() < n) {
      ADD_FAILURE() << src << " holds only " << names.size() << " photos";
      return false;
    }
    stdfs::create_directories(root + "/" + cls);
    for (size_t i = 0; i < n; ++i) stdfs::copy_file(src + "/" + names[i], root + "/" + cls + "/" + names[i]);
  }
  return true;
}

// The oracle for a photo: OpenCV's own decoder (not imaging.cpp), then the core's preprocess_u8.
std::vector<uint8_t> OracleU8(const std::string& path, catdog::Fit fit, int size) {
  cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  EXPECT_FALSE(bgr.empty()) << path;
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);  // a pure channel swap, for the oracle only
  std::vector<uint8_t> out(size_t(size) * size);
  catdog::ImageView v{rgb.data, rgb.cols, rgb.rows, static_cast<int>(rgb.step[0]), catdog::PixelFormat::kRGB8};
  auto s = catdog::preprocess_u8(v, fit, size, out.data());
  EXPECT_TRUE(s) << s.message();
  return out;
}

Problem DecodeProblem(const std::vector<uint8_t>& bytes, catdog::imaging::Image* img = nullptr) {
  catdog::imaging::Image local;
  Problem p = Problem::kNone;
  catdog::imaging::DecodeImage(bytes.data(), bytes.size(), {}, img ? img : &local, &p, "test");
  return p;
}

catdog::prepare::Options Opts(const std::string& root) {
  catdog::prepare::Options o;
  o.image_dirs = {root};
  o.seed = 7;
  return o;
}

// Real JPEG bytes from the subset, for mutating.
std::vector<uint8_t> RealJpeg(const TempDir& tmp) {
  auto names = SortedJpegs(tmp.path("data/Cat"));
  return names.empty() ? std::vector<uint8_t>() : ReadBytes(tmp.path("data/Cat/" + names[0]));
}

}  // namespace

// ---- decoding, one file at a time ----------------------------------------------------------------
TEST(Imaging, SniffsAndRefusesNonImages) {
  std::vector<uint8_t> thumbs = {0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1};
  thumbs.resize(1024, 0);
  std::vector<uint8_t> ds_store = {0, 0, 0, 1, 'B', 'u', 'd', '1'};
  ds_store.resize(6148, 0);
  std::string text = "these are my cat pictures\n";
  EXPECT_EQ(DecodeProblem(thumbs), Problem::kNotAnImage);
  EXPECT_EQ(DecodeProblem(ds_store), Problem::kNotAnImage);
  EXPECT_EQ(DecodeProblem(std::vector<uint8_t>(text.begin(), text.end())), Problem::kNotAnImage);
  EXPECT_EQ(DecodeProblem({}), Problem::kZeroByte);
  std::string gif = "GIF89a\x01\x00\x01\x00\x00\x00\x00;";
  EXPECT_EQ(DecodeProblem(std::vector<uint8_t>(gif.begin(), gif.end())), Problem::kUnsupported);
}

TEST(Imaging, TruncatedAndCorruptJpegs) {
  TempDir tmp;
  ASSERT_TRUE(CopySubset(tmp.path("data"), 1));
  auto jpg = RealJpeg(tmp);
  ASSERT_GT(jpg.size(), 1000u);
  ASSERT_EQ(jpg[jpg.size() - 2], 0xFF);
  ASSERT_EQ(jpg[jpg.size() - 1], 0xD9);
  catdog::imaging::Image img;
  ASSERT_EQ(DecodeProblem(jpg, &img), Problem::kNone);
  EXPECT_EQ(img.format, catdog::PixelFormat::kRGB8);

  auto half = jpg;
  half.resize(jpg.size() * 6 / 10);
  EXPECT_EQ(DecodeProblem(half), Problem::kTruncated) << "cut in the middle of the scan";
  auto no_eoi = jpg;
  no_eoi.resize(jpg.size() - 2);
  EXPECT_EQ(DecodeProblem(no_eoi), Problem::kTruncated) << "only the end-of-image marker missing";
  auto header_only = jpg;
  header_only.resize(200);
  Problem p = DecodeProblem(header_only);
  EXPECT_TRUE(p == Problem::kTruncated) << catdog::imaging::ProblemName(p);
  EXPECT_EQ(DecodeProblem(PatchJpegSize(jpg, 0, 0)), Problem::kCorrupt) << "zero dimensions";
  // Entropy-coded data overwritten with a run of markers: libjpeg warns, the image is damaged.
  auto smashed = jpg;
  for (size_t i = jpg.size() / 2; i < jpg.size() / 2 + 64; i += 2) {
    smashed[i] = 0xFF;
    smashed[i + 1] = 0xD3;
  }
  EXPECT_EQ(DecodeProblem(smashed), Problem::kCorrupt);
  // Trailing bytes after the end marker are harmless.
  auto trailing = jpg;
  trailing.insert(trailing.end(), 100, 0x00);
  EXPECT_EQ(DecodeProblem(trailing), Problem::kNone);
}

TEST(Imaging, TruncatedAndCorruptPngs) {
  auto png = Encode(".png", Picture(40, 30));
  ASSERT_EQ(DecodeProblem(png), Problem::kNone);
  auto cut = png;
  cut.resize(png.size() * 6 / 10);
  EXPECT_EQ(DecodeProblem(cut), Problem::kTruncated) << "cut inside IDAT";
  auto no_iend = png;
  no_iend.resize(png.size() - 12);
  EXPECT_EQ(DecodeProblem(no_iend), Problem::kTruncated) << "only the IEND chunk missing";
  auto header_only = png;
  header_only.resize(40);
  EXPECT_EQ(DecodeProblem(header_only), Problem::kTruncated);
  auto flipped = png;  // a bit flipped inside the compressed data: IDAT CRC error
  flipped[png.size() / 2] ^= 0x10;
  catdog::imaging::Image img;
  Problem p;
  auto s = catdog::imaging::DecodeImage(flipped.data(), flipped.size(), {}, &img, &p, "flipped.png");
  EXPECT_EQ(p, Problem::kCorrupt);
  EXPECT_NE(s.message().find("flipped.png"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("corrupt PNG"), std::string::npos) << s.message();
  auto trailing = png;
  trailing.insert(trailing.end(), 50, 0);
  EXPECT_EQ(DecodeProblem(trailing), Problem::kNone) << "bytes after IEND are harmless";
}

TEST(Imaging, DecompressionBombsAreRefusedFromTheHeader) {
  TempDir tmp;
  ASSERT_TRUE(CopySubset(tmp.path("data"), 1));
  auto png = PngHeaderOnly(100000, 100000);
  EXPECT_LT(png.size(), 100u);
  catdog::imaging::Image img;
  Problem p;
  auto s = catdog::imaging::DecodeImage(png.data(), png.size(), {}, &img, &p, "bomb.png");
  EXPECT_EQ(p, Problem::kTooLarge);
  EXPECT_NE(s.message().find("100000x100000"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("bomb.png"), std::string::npos) << s.message();
  EXPECT_EQ(DecodeProblem(PatchJpegSize(RealJpeg(tmp), 60000, 60000)), Problem::kTooLarge);
  // The cap is a setting: a 180x180 photo is refused under a 10,000-pixel cap.
  catdog::imaging::DecodeOptions small;
  small.max_pixels = 10000;
  auto jpg = RealJpeg(tmp);
  catdog::imaging::DecodeImage(jpg.data(), jpg.size(), small, &img, &p, "x");
  EXPECT_EQ(p, Problem::kTooLarge);
}

TEST(Imaging, FineButUnusualFilesDecode) {
  cv::Mat bgr = Picture(40, 30);
  catdog::imaging::Image img;

  // PNG with alpha: RGBA out, alpha kept in the buffer (the core ignores it).
  cv::Mat bgra;
  cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
  bgra.at<cv::Vec4b>(0, 0)[3] = 0;
  ASSERT_EQ(DecodeProblem(Encode(".png", bgra), &img), Problem::kNone);
  EXPECT_EQ(img.format, catdog::PixelFormat::kRGBA8);
  EXPECT_TRUE(img.conversions & catdog::imaging::kConvAlphaIgnored);
  cv::Vec4b px = bgra.at<cv::Vec4b>(3, 5);
  const uint8_t* got = &img.pixels[(3 * 40 + 5) * 4];
  EXPECT_EQ(got[0], px[2]);
  EXPECT_EQ(got[1], px[1]);
  EXPECT_EQ(got[2], px[0]);

  // 16-bit PNG: rounded to 8 bits, RGB order.
  cv::Mat b16(30, 40, CV_16UC3);
  for (int y = 0; y < 30; ++y)
    for (int x = 0; x < 40; ++x) b16.at<cv::Vec3w>(y, x) = cv::Vec3w(uint16_t(x * 1600), uint16_t(y * 2100 + 77), 65535);
  ASSERT_EQ(DecodeProblem(Encode(".png", b16), &img), Problem::kNone);
  EXPECT_EQ(img.format, catdog::PixelFormat::kRGB8);
  EXPECT_TRUE(img.conversions & catdog::imaging::kConv16Bit);
  for (int y = 0; y < 30; y += 7)
    for (int x = 0; x < 40; x += 9) {
      cv::Vec3w v = b16.at<cv::Vec3w>(y, x);
      const uint8_t* q = &img.pixels[(y * 40 + x) * 3];
      for (int c = 0; c < 3; ++c) EXPECT_EQ(q[c], (uint32_t(v[2 - c]) * 255 + 32767) / 65535) << x << "," << y;
    }

  // Gray JPEG: stays one channel, identical to OpenCV's gray decode.
  cv::Mat gray;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  auto gray_jpg = Encode(".jpg", gray);
  ASSERT_EQ(DecodeProblem(gray_jpg, &img), Problem::kNone);
  EXPECT_EQ(img.format, catdog::PixelFormat::kGray8);
  cv::Mat cv_gray = cv::imdecode(gray_jpg, cv::IMREAD_GRAYSCALE);
  EXPECT_EQ(0, std::memcmp(cv_gray.data, img.pixels.data(), img.pixels.size()));

  // Gray PNG and BMP.
  ASSERT_EQ(DecodeProblem(Encode(".png", gray), &img), Problem::kNone);
  EXPECT_EQ(img.format, catdog::PixelFormat::kGray8);
  EXPECT_EQ(0, std::memcmp(gray.data, img.pixels.data(), img.pixels.size()));
  ASSERT_EQ(DecodeProblem(Encode(".bmp", bgr), &img), Problem::kNone);
  EXPECT_EQ(img.pixels[0], bgr.at<cv::Vec3b>(0, 0)[2]);

  // CMYK JPEG (Adobe, inverted): back to about the original colours, and close to OpenCV's own
  // CMYK conversion (which rounds slightly differently).
  auto cmyk = CmykJpeg(bgr);
  ASSERT_EQ(DecodeProblem(cmyk, &img), Problem::kNone);
  EXPECT_EQ(img.format, catdog::PixelFormat::kRGB8);
  EXPECT_TRUE(img.conversions & catdog::imaging::kConvCmyk);
  cv::Mat cv_cmyk = cv::imdecode(cmyk, cv::IMREAD_COLOR);
  ASSERT_FALSE(cv_cmyk.empty());
  int worst_src = 0, worst_cv = 0;
  for (int y = 0; y < 30; ++y)
    for (int x = 0; x < 40; ++x)
      for (int c = 0; c < 3; ++c) {
        int v = img.pixels[(y * 40 + x) * 3 + c];
        worst_src = std::max(worst_src, std::abs(v - bgr.at<cv::Vec3b>(y, x)[2 - c]));
        worst_cv = std::max(worst_cv, std::abs(v - cv_cmyk.at<cv::Vec3b>(y, x)[2 - c]));
      }
  EXPECT_LE(worst_src, 12) << "CMYK colours far from the source";
  EXPECT_LE(worst_cv, 3) << "CMYK conversion far from OpenCV's";
}

TEST(Imaging, LibjpegDecodeIsIdenticalToOpenCvOnRealPhotos) {
  TempDir tmp;
  ASSERT_TRUE(CopySubset(tmp.path("data"), 25));
  for (const char* cls : {"Cat", "Dog"}) {
    for (const auto& name : SortedJpegs(tmp.path(std::string("data/") + cls))) {
      std::string path = tmp.path(std::string("data/") + cls + "/" + name);
      catdog::imaging::Image img;
      Problem p;
      auto s = catdog::imaging::DecodeFile(path, {}, &img, &p);
      ASSERT_TRUE(s) << s.message();
      cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
      ASSERT_EQ(bgr.cols, img.width);
      ASSERT_EQ(bgr.rows, img.height);
      size_t diff = 0;
      for (int y = 0; y < bgr.rows; ++y)
        for (int x = 0; x < bgr.cols; ++x)
          for (int c = 0; c < 3; ++c) diff += bgr.at<cv::Vec3b>(y, x)[2 - c] != img.pixels[(y * img.width + x) * 3 + c];
      EXPECT_EQ(diff, 0u) << path;
    }
  }
}

TEST(Imaging, FileProblems) {
  TempDir tmp;
  catdog::imaging::Image img;
  Problem p;
  WriteBytes(tmp.path("empty.jpg"), {});
  catdog::imaging::DecodeFile(tmp.path("empty.jpg"), {}, &img, &p);
  EXPECT_EQ(p, Problem::kZeroByte);
  ASSERT_EQ(::symlink("loop.jpg", tmp.path("loop.jpg").c_str()), 0);
  auto s = catdog::imaging::DecodeFile(tmp.path("loop.jpg"), {}, &img, &p);
  EXPECT_EQ(p, Problem::kSymlinkLoop);
  EXPECT_NE(s.message().find("loop.jpg"), std::string::npos);
  catdog::imaging::DecodeFile(tmp.path("missing.jpg"), {}, &img, &p);
  EXPECT_EQ(p, Problem::kUnreadable);
  ASSERT_EQ(::mkfifo(tmp.path("fifo.jpg").c_str(), 0644), 0);
  catdog::imaging::DecodeFile(tmp.path("fifo.jpg"), {}, &img, &p);  // must not block
  EXPECT_EQ(p, Problem::kUnreadable);
}

// ---- prepare on folders ------------------------------------------------------------------------
TEST(Prepare, CountsEveryReasonInAMixedFolder) {
  TempDir tmp;
  const std::string root = tmp.path("data");
  ASSERT_TRUE(CopySubset(root, 30));
  auto jpg = RealJpeg(tmp);
  auto cats = SortedJpegs(root + "/Cat"), dogs = SortedJpegs(root + "/Dog");
  // Unusable files, by expected reason.
  WriteBytes(root + "/Cat/666.jpg", {});                                                    // zero-byte
  std::vector<uint8_t> thumbs = {0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1};
  thumbs.resize(2048);
  WriteBytes(root + "/Cat/Thumbs.db", thumbs);                                              // not-an-image
  WriteBytes(root + "/Dog/.DS_Store", {0, 0, 0, 1, 'B', 'u', 'd', '1', 0, 0, 0x10, 0});     // not-an-image
  WriteText(root + "/Dog/notes.txt", "dog names: Rex, Fido\n");                           // not-an-image
  auto half = jpg;
  half.resize(jpg.size() / 2);
  WriteBytes(root + "/Cat/trunc.jpg", half);                                                // truncated
  WriteBytes(root + "/Dog/noeoi.jpg", std::vector<uint8_t>(jpg.begin(), jpg.end() - 2));   // truncated
  WriteBytes(root + "/Dog/badsof.jpg", PatchJpegSize(jpg, 0, 0));                           // corrupt
  WriteBytes(root + "/Cat/bomb.png", PngHeaderOnly(100000, 100000));                        // too-large
  WriteBytes(root + "/Dog/bomb.jpg", PatchJpegSize(jpg, 60000, 60000));                     // too-large
  ASSERT_EQ(::symlink("loop.jpg", (root + "/Cat/loop.jpg").c_str()), 0);                    // symlink-loop
  stdfs::create_directories(root + "/Cat/nested");
  ASSERT_EQ(::symlink("..", (root + "/Cat/nested/cycle").c_str()), 0);                      // symlink-loop
  ASSERT_EQ(::symlink("nowhere.jpg", (root + "/Dog/broken.jpg").c_str()), 0);               // unreadable
  ASSERT_EQ(::mkfifo((root + "/Dog/fifo.jpg").c_str(), 0644), 0);                           // unreadable
  WriteText(root + "/Cat/anim.gif", "GIF89a\x01\x00\x01\x00");                              // unsupported-format
  WriteText(root + "/README.txt", "about this data\n");                                     // outside-class-folder
  stdfs::create_directories(root + "/.cache");                                              // outside-class-folder
  // Fine files that need converting.
  cv::Mat bgr = Picture(64, 48), bgra, gray;
  cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  cv::Mat b16;
  bgr.convertTo(b16, CV_16UC3, 257.0);
  WriteBytes(root + "/Cat/rgba.png", Encode(".png", bgra));
  WriteBytes(root + "/Cat/nested/deeper/16bit.png", Encode(".png", b16));
  WriteBytes(root + "/Dog/gray.jpg", Encode(".jpg", gray));
  WriteBytes(root + "/Dog/cmyk.jpg", CmykJpeg(bgr));
  // Exact duplicates: a copy and a symlink.
  stdfs::copy_file(root + "/Dog/" + dogs[3], root + "/Dog/zz-copy.jpg");
  ASSERT_EQ(::symlink(cats[5].c_str(), (root + "/Cat/zz-link.jpg").c_str()), 0);

  catdog::prepare::Result r;
  auto s = catdog::prepare::Run(Opts(root), &r);
  ASSERT_TRUE(s) << s.message();
  nlohmann::json rep = catdog::prepare::Report(Opts(root), r);
  const std::map<std::string, int> expected = {
      {"zero-byte", 1}, {"not-an-image", 3}, {"truncated", 2}, {"corrupt", 1}, {"too-large", 2},
      {"symlink-loop", 2}, {"unreadable", 2}, {"unsupported-format", 1}, {"outside-class-folder", 2}};
  for (const auto& [reason, n] : expected) EXPECT_EQ(rep["skipped"][reason].get<int>(), n) << reason << "\n" << rep["skipped_files"].dump(1);
  EXPECT_EQ(rep["skipped_total"].get<int>(), 16);
  EXPECT_EQ(rep["duplicates"].get<int>(), 2);
  EXPECT_EQ(rep["images_used"].get<int>(), 64);
  EXPECT_EQ(rep["per_class"]["cat"].get<int>(), 32);
  EXPECT_EQ(rep["per_class"]["dog"].get<int>(), 32);
  EXPECT_EQ(rep["converted"]["alpha-ignored"].get<int>(), 1);
  EXPECT_EQ(rep["converted"]["16-bit"].get<int>(), 1);
  EXPECT_EQ(rep["converted"]["gray"].get<int>(), 1);
  EXPECT_EQ(rep["converted"]["cmyk"].get<int>(), 1);
  // Every skipped file is listed with its path and reason.
  std::set<std::string> listed;
  for (const auto& f : rep["skipped_files"]) listed.insert(stdfs::path(f["path"].get<std::string>()).filename().string() + ":" + f["reason"].get<std::string>());
  for (const char* want : {"666.jpg:zero-byte", "Thumbs.db:not-an-image", "trunc.jpg:truncated", "noeoi.jpg:truncated",
                           "badsof.jpg:corrupt", "bomb.png:too-large", "loop.jpg:symlink-loop", "cycle:symlink-loop",
                           "broken.jpg:unreadable", "fifo.jpg:unreadable", "anim.gif:unsupported-format",
                           "README.txt:outside-class-folder"})
    EXPECT_TRUE(listed.count(want)) << want;
  std::set<std::string> dup_names;
  for (const auto& d : rep["duplicate_files"]) dup_names.insert(stdfs::path(d["path"].get<std::string>()).filename().string());
  EXPECT_EQ(dup_names, (std::set<std::string>{"zz-copy.jpg", "zz-link.jpg"}));
  EXPECT_NE(catdog::prepare::SummaryLine(Opts(root), r).find("64 images used"), std::string::npos);
}

TEST(Prepare, RoundTripGivesExactlyTheCorePreprocessingOfEachPhoto) {
  TempDir tmp;
  const std::string root = tmp.path("data");
  ASSERT_TRUE(CopySubset(root, 100));
  for (catdog::Fit fit : {catdog::Fit::kStretch, catdog::Fit::kCenterCrop}) {
    auto o = Opts(root);
    o.fit = fit;
    o.size = fit == catdog::Fit::kStretch ? 100 : 64;
    o.out = tmp.path(fit == catdog::Fit::kStretch ? "pack-stretch" : "pack-crop");
    catdog::prepare::Result r;
    auto s = catdog::prepare::Run(o, &r);
    ASSERT_TRUE(s) << s.message();
    EXPECT_EQ(r.duplicates.size(), 0u);
    EXPECT_EQ(r.skipped.size(), 0u);
    catdog::pack::Pack p;
    s = catdog::pack::ReadPack(o.out, &p);
    ASSERT_TRUE(s) << s.message();
    ASSERT_EQ(p.count(), 200u);
    EXPECT_EQ(p.size, o.size);
    EXPECT_EQ(p.fit, fit == catdog::Fit::kStretch ? "stretch" : "crop");
    EXPECT_EQ(p.content_hash, r.pack.content_hash);
    for (size_t i = 0; i < p.count(); ++i) {
      const std::string path = root + "/" + p.paths[i];
      EXPECT_EQ(p.labels[i], p.paths[i].rfind("Dog/", 0) == 0 ? 1 : 0) << p.paths[i];
      auto want = OracleU8(path, fit, o.size);
      ASSERT_EQ(0, std::memcmp(want.data(), p.image(i), want.size())) << "pixels differ for " << path;
    }
    // Sorted order: Cat/ before Dog/, names sorted inside.
    EXPECT_TRUE(std::is_sorted(p.paths.begin(), p.paths.end()));
    if (fit == catdog::Fit::kStretch) {
      // Real photos through the MED filter + zstd: well under the raw size.
      uint64_t bytes = 0;
      for (const auto& sh : p.shards) bytes += sh.bytes;
      EXPECT_LT(bytes, p.pixels.size() * 72 / 100) << "pack is not compact";
      // The report file's numbers agree.
      nlohmann::json rep = catdog::prepare::Report(o, r);
      EXPECT_EQ(rep["pack"]["content_hash"], p.content_hash);
      EXPECT_EQ(rep["images_used"].get<size_t>(), 200u);
    }
  }
}

TEST(Prepare, SplitIsStratifiedExactAndReproducible) {
  TempDir tmp;
  const std::string root = tmp.path("data");
  ASSERT_TRUE(CopySubset(root, 100));
  WriteBytes(root + "/Dog/extra.png", Encode(".png", Picture(20, 20)));  // 100 cats, 101 dogs
  auto run = [&](uint64_t seed, double val, double test) {
    auto o = Opts(root);
    o.seed = seed;
    o.val_fraction = val;
    o.test_fraction = test;
    catdog::prepare::Result r;
    auto s = catdog::prepare::Run(o, &r);
    EXPECT_TRUE(s) << s.message();
    return r.pack;
  };
  auto a = run(1, 0.15, 0.1);
  auto count = [](const catdog::pack::Pack& p, uint8_t label, catdog::pack::Split sp) {
    size_t n = 0;
    for (size_t i = 0; i < p.count(); ++i) n += p.labels[i] == label && p.splits[i] == sp;
    return n;
  };
  EXPECT_EQ(count(a, 0, catdog::pack::kVal), 15u);   // round(0.15 * 100)
  EXPECT_EQ(count(a, 0, catdog::pack::kTest), 10u);  // round(0.1 * 100)
  EXPECT_EQ(count(a, 0, catdog::pack::kTrain), 75u);
  EXPECT_EQ(count(a, 1, catdog::pack::kVal), 15u);   // round(15.15)
  EXPECT_EQ(count(a, 1, catdog::pack::kTest), 10u);  // round(10.1)
  EXPECT_EQ(count(a, 1, catdog::pack::kTrain), 76u);
  auto again = run(1, 0.15, 0.1);
  EXPECT_EQ(a.splits, again.splits) << "same seed, different split";
  EXPECT_EQ(a.content_hash, again.content_hash);
  auto other = run(2, 0.15, 0.1);
  EXPECT_NE(a.splits, other.splits) << "another seed gave the same split";
  EXPECT_EQ(count(other, 1, catdog::pack::kVal), 15u);
  EXPECT_EQ(a.pixels, other.pixels) << "the seed must only change the split";
  auto none = run(1, 0.0, 0.0);
  EXPECT_EQ(none.Indices(catdog::pack::kTrain).size(), 201u);
  // Threads never change the output.
  auto o1 = Opts(root);
  o1.seed = 1; o1.val_fraction = 0.15; o1.test_fraction = 0.1; o1.threads = 1;
  catdog::prepare::Result r1;
  ASSERT_TRUE(catdog::prepare::Run(o1, &r1));
  EXPECT_EQ(r1.pack.content_hash, a.content_hash);
}

TEST(Prepare, AssignSplitsIsPlatformIndependent) {
  // Pinned: the split of 10 + 10 items for seed 42 (mt19937_64 + our own bounded draw and
  // Fisher-Yates, no std::shuffle / uniform_int_distribution whose results vary by library).
  std::vector<uint8_t> labels(20);
  for (size_t i = 0; i < 20; ++i) labels[i] = i >= 10;
  std::vector<int> splits(20, -1);
  splits[0] = catdog::pack::kTest;  // folder-given: kept, and not counted in the fractions
  catdog::prepare::AssignSplits(labels, &splits, 0.3, 0.0, 42);
  EXPECT_EQ(splits[0], catdog::pack::kTest);
  int val_cat = 0, val_dog = 0;
  for (size_t i = 1; i < 20; ++i) (labels[i] ? val_dog : val_cat) += splits[i] == catdog::pack::kVal;
  EXPECT_EQ(val_cat, 3);  // round(0.3 * 9) = 3
  EXPECT_EQ(val_dog, 3);
  // The exact assignment, pinned: it must not change with the compiler or standard library
  // (packs made on two machines with the same seed must agree).
  const std::vector<int> pinned = {2, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0};
  EXPECT_EQ(splits, pinned);
}

TEST(Prepare, TinyShardsReadBackIdentical) {
  TempDir tmp;
  const std::string root = tmp.path("data");
  ASSERT_TRUE(CopySubset(root, 60));
  auto o = Opts(root);
  o.out = tmp.path("big");
  catdog::prepare::Result r1, r2;
  ASSERT_TRUE(catdog::prepare::Run(o, &r1));
  o.out = tmp.path("small");
  o.write.max_shard_bytes = 150 * 1024;
  ASSERT_TRUE(catdog::prepare::Run(o, &r2));
  ASSERT_EQ(r1.pack.shards.size(), 1u);
  ASSERT_GE(r2.pack.shards.size(), 5u);
  catdog::pack::Pack a, b;
  ASSERT_TRUE(catdog::pack::ReadPack(tmp.path("big"), &a));
  ASSERT_TRUE(catdog::pack::ReadPack(tmp.path("small"), &b));
  EXPECT_EQ(a.pixels, b.pixels);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.splits, b.splits);
  EXPECT_EQ(a.paths, b.paths);
  EXPECT_EQ(a.content_hash, b.content_hash);
  // And a flipped byte in one shard of the real pack is caught, naming it.
  const std::string victim = tmp.path("small/" + b.shards[2].file);
  auto bytes = ReadBytes(victim);
  bytes[100] ^= 0x40;
  WriteBytes(victim, bytes);
  auto s = catdog::pack::ReadPack(tmp.path("small"), &b);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find(r2.pack.shards[2].file), std::string::npos) << s.message();
}

TEST(Prepare, CatsAndDogsFilteredKeepsItsSplit) {
  TempDir tmp;
  const std::string src = tmp.path("src");
  ASSERT_TRUE(CopySubset(src, 20));
  const std::string root = tmp.path("cats_and_dogs_filtered");
  auto cats = SortedJpegs(src + "/Cat"), dogs = SortedJpegs(src + "/Dog");
  for (size_t i = 0; i < 20; ++i) {
    const char* split = i < 15 ? "train" : "validation";
    stdfs::create_directories(root + "/" + split + "/cats");
    stdfs::create_directories(root + "/" + split + "/dogs");
    stdfs::copy_file(src + "/Cat/" + cats[i], root + "/" + split + "/cats/" + cats[i]);
    stdfs::copy_file(src + "/Dog/" + dogs[i], root + "/" + split + "/dogs/" + dogs[i]);
  }
  WriteText(root + "/vectorize.py", "print('hi')\n");
  auto o = Opts(root);
  o.val_fraction = 0.5;  // must not apply: the folders say which split
  catdog::prepare::Result r;
  auto s = catdog::prepare::Run(o, &r);
  ASSERT_TRUE(s) << s.message();
  const auto& p = r.pack;
  ASSERT_EQ(p.count(), 40u);
  for (size_t i = 0; i < p.count(); ++i) {
    bool val = p.paths[i].rfind("validation/", 0) == 0;
    EXPECT_EQ(p.splits[i], val ? catdog::pack::kVal : catdog::pack::kTrain) << p.paths[i];
    EXPECT_EQ(p.labels[i], p.paths[i].find("/dogs/") != std::string::npos ? 1 : 0) << p.paths[i];
  }
  EXPECT_EQ(p.Indices(catdog::pack::kVal).size(), 10u);
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_EQ(r.skipped[0].reason, "outside-class-folder");
}

TEST(Prepare, LowercaseAndMixedCaseClassFoldersAndSeveralRoots) {
  TempDir tmp;
  ASSERT_TRUE(CopySubset(tmp.path("a"), 5));
  stdfs::rename(tmp.path("a/Cat"), tmp.path("a/CATS"));
  stdfs::rename(tmp.path("a/Dog"), tmp.path("a/dog"));
  WriteBytes(tmp.path("b/Dogs/x.png"), Encode(".png", Picture(30, 30)));
  auto o = Opts(tmp.path("a"));
  o.image_dirs.push_back(tmp.path("b"));
  catdog::prepare::Result r;
  auto s = catdog::prepare::Run(o, &r);
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(r.pack.count(), 11u);
  EXPECT_EQ(r.pack.paths.back(), "Dogs/x.png");
  EXPECT_EQ(r.pack.labels.back(), 1);
}

TEST(Prepare, UnknownFoldersAreAnErrorListingThem) {
  TempDir tmp;
  ASSERT_TRUE(CopySubset(tmp.path("data"), 2));
  stdfs::create_directories(tmp.path("data/Horse"));
  stdfs::create_directories(tmp.path("data/birds"));
  catdog::prepare::Result r;
  auto s = catdog::prepare::Run(Opts(tmp.path("data")), &r);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("Horse"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("birds"), std::string::npos) << s.message();
  // Missing root, file as root, root without class folders.
  s = catdog::prepare::Run(Opts(tmp.path("nope")), &r);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("nope"), std::string::npos);
  stdfs::create_directories(tmp.path("empty"));
  s = catdog::prepare::Run(Opts(tmp.path("empty")), &r);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("no class folders found (cat/cats, dog/dogs"), std::string::npos) << s.message();
}

TEST(Prepare, BadArgumentsAndNothingUsable) {
  TempDir tmp;
  ASSERT_TRUE(CopySubset(tmp.path("data"), 2));
  catdog::prepare::Result r;
  auto o = Opts(tmp.path("data"));
  o.val_fraction = 0.6;
  o.test_fraction = 0.5;
  EXPECT_FALSE(catdog::prepare::Run(o, &r));
  o = Opts(tmp.path("data"));
  o.size = 0;
  EXPECT_FALSE(catdog::prepare::Run(o, &r));
  // Only junk: an error, but the result still lists what was skipped (for the report).
  WriteText(tmp.path("junk/Cat/a.txt"), "x");
  WriteBytes(tmp.path("junk/Dog/b.jpg"), {});
  o = Opts(tmp.path("junk"));
  o.out = tmp.path("junk-pack");
  auto s = catdog::prepare::Run(o, &r);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("no usable image"), std::string::npos) << s.message();
  EXPECT_EQ(r.skipped.size(), 2u);
  EXPECT_FALSE(stdfs::exists(tmp.path("junk-pack/pack.json")));
}

TEST(Prepare, UnreadableFilesAreCounted) {
  TempDir tmp;
  const std::string root = tmp.path("data");
  ASSERT_TRUE(CopySubset(root, 3));
  auto cats = SortedJpegs(root + "/Cat");
  ASSERT_EQ(::chmod((root + "/Cat/" + cats[1]).c_str(), 0), 0);
  // Root reads any file regardless of mode: the run drops to "nobody" (AsNobody, test_util.h).
  catdog::prepare::Result r;
  catdog::Status s;
  {
    catdog::test::AsNobody nobody;
    s = catdog::prepare::Run(Opts(root), &r);
  }
  ASSERT_TRUE(s) << s.message();
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_EQ(r.skipped[0].reason, "unreadable");
  EXPECT_NE(r.skipped[0].path.find(cats[1]), std::string::npos);
  EXPECT_NE(r.skipped[0].detail.find("Permission denied"), std::string::npos) << r.skipped[0].detail;
  EXPECT_EQ(r.pack.count(), 5u);
}

// ---- robustness: damaged bytes never crash the decoder ---------------------------------------
TEST(Imaging, MutatedFilesNeverCrashAndAlwaysGetAVerdict) {
  TempDir tmp;
  ASSERT_TRUE(CopySubset(tmp.path("data"), 1));
  cv::Mat bgr = Picture(48, 40), bgra, gray;
  cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  cv::Mat b16;
  bgr.convertTo(b16, CV_16UC3, 257.0);
  const std::vector<std::vector<uint8_t>> seeds = {RealJpeg(tmp), Encode(".png", bgra), Encode(".png", b16),
                                                   Encode(".jpg", gray), CmykJpeg(bgr), Encode(".bmp", bgr),
                                                   Encode(".webp", bgr)};
  std::mt19937 rng(12345);
  std::map<Problem, int> verdicts;
  int ok = 0;
  for (const auto& seed : seeds) {
    ASSERT_FALSE(seed.empty());
    for (int iter = 0; iter < 150; ++iter) {
      std::vector<uint8_t> v = seed;
      switch (iter % 4) {
        case 0:  // flip a few bytes anywhere (headers included)
          for (int k = 0; k < 1 + int(rng() % 4); ++k) v[rng() % v.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
          break;
        case 1:  // cut anywhere
          v.resize(rng() % v.size());
          break;
        case 2:  // overwrite a run with random bytes
          for (size_t at = rng() % v.size(), k = 0; k < 32 && at + k < v.size(); ++k) v[at + k] = static_cast<uint8_t>(rng());
          break;
        case 3:  // duplicate a chunk in the middle
          v.insert(v.begin() + rng() % v.size(), seed.begin(), seed.begin() + std::min<size_t>(seed.size(), 1 + rng() % 200));
          break;
      }
      catdog::imaging::Image img;
      Problem p = Problem::kNone;
      auto s = catdog::imaging::DecodeImage(v.data(), v.size(), {}, &img, &p, "mutant");
      ASSERT_EQ(bool(s), p == Problem::kNone) << s.message();
      verdicts[p]++;
      if (s) {
        ++ok;
        // A decoded image is complete and consistent, and the core accepts it.
        ASSERT_GT(img.width, 0);
        ASSERT_EQ(img.pixels.size(), size_t(img.width) * img.height * static_cast<int>(img.format));
        std::vector<uint8_t> out(100 * 100);
        ASSERT_TRUE(catdog::preprocess_u8(img.view(), catdog::Fit::kStretch, 100, out.data()));
      } else {
        EXPECT_NE(s.message().find("mutant"), std::string::npos) << s.message();
        EXPECT_TRUE(img.pixels.empty()) << "a rejected image must not leave pixels behind";
      }
    }
  }
  // Both outcomes happen (the mutations are neither all harmless nor all fatal).
  EXPECT_GT(ok, 50);
  EXPECT_GT(verdicts[Problem::kTruncated], 20);
  EXPECT_GT(verdicts[Problem::kCorrupt], 20);
}

// ---- never lose or mislabel a user's data ----------------------------------------------
namespace {

size_t CountLabel(const catdog::pack::Pack& p, uint8_t label) {
  return size_t(std::count(p.labels.begin(), p.labels.end(), label));
}
const catdog::prepare::Skipped* FindSkipped(const catdog::prepare::Result& r, const std::string& path_part) {
  for (const auto& s : r.skipped)
    if (s.path.find(path_part) != std::string::npos) return &s;
  return nullptr;
}
std::string SkippedList(const catdog::prepare::Result& r) {
  std::string out;
  for (const auto& s : r.skipped) out += s.path + " [" + s.reason + "] " + s.detail + "\n";
  return out;
}

}  // namespace

// `ln -s .. I/Cat/up` once made every dog a cat (through Cat/up/Dog) and then skipped the real
// Dog folder as "already read". A symlinked folder leading out of its class folder is refused
// and named; a loop inside is counted.
TEST(Prepare, SymlinkOutOfTheClassFolderIsRefusedAndNamed) {
  TempDir tmp;
  const std::string root = tmp.path("data");
  ASSERT_TRUE(CopySubset(root, 3));
  ASSERT_EQ(::symlink("..", (root + "/Cat/up").c_str()), 0);
  ASSERT_EQ(::symlink(".", (root + "/Dog/self").c_str()), 0);
  catdog::prepare::Result r;
  catdog::Status s = catdog::prepare::Run(Opts(root), &r);
  ASSERT_TRUE(s) << s.message() << "\n" << SkippedList(r);
  EXPECT_EQ(CountLabel(r.pack, 0), 3u) << SkippedList(r);
  EXPECT_EQ(CountLabel(r.pack, 1), 3u) << SkippedList(r);
  const auto* up = FindSkipped(r, "Cat/up");
  ASSERT_NE(up, nullptr) << SkippedList(r);
  EXPECT_EQ(up->reason, "symlink-outside-class-folder");
  const auto* self = FindSkipped(r, "Dog/self");
  ASSERT_NE(self, nullptr) << SkippedList(r);
  EXPECT_EQ(self->reason, "symlink-loop");
  const nlohmann::json rep = catdog::prepare::Report(Opts(root), r);
  EXPECT_EQ(rep["skipped"]["symlink-outside-class-folder"], 1);
  EXPECT_EQ(rep["skipped_total"], r.skipped.size());
}

// A photo under both Cat and Dog (a copy, a hard link or a symlink) was silently kept as a cat.
// Now every copy is left out and named as "in-both-classes"; a copy within one class stays a
// plain duplicate.
TEST(Prepare, APhotoInBothClassesIsAConflictNotACat) {
  TempDir tmp;
  const std::string root = tmp.path("data");
  ASSERT_TRUE(CopySubset(root, 4));
  auto cats = SortedJpegs(root + "/Cat");
  auto dogs = SortedJpegs(root + "/Dog");
  stdfs::copy_file(root + "/Cat/" + cats[0], root + "/Dog/copy-of-cat.jpg");                 // same bytes
  ASSERT_EQ(::link((root + "/Dog/" + dogs[0]).c_str(), (root + "/Cat/hardlink.jpg").c_str()), 0);  // same inode
  ASSERT_EQ(::symlink((root + "/Cat/" + cats[1]).c_str(), (root + "/Dog/link.jpg").c_str()), 0);  // same file
  stdfs::copy_file(root + "/Cat/" + cats[2], root + "/Cat/zz-copy.jpg");                     // a plain duplicate
  catdog::prepare::Result r;
  catdog::Status s = catdog::prepare::Run(Opts(root), &r);
  ASSERT_TRUE(s) << s.message();
  size_t conflicts = 0;
  for (const auto& sk : r.skipped) conflicts += sk.reason == "in-both-classes";
  EXPECT_EQ(conflicts, 6u) << SkippedList(r);
  for (const std::string& name : std::vector<std::string>{"Cat/" + cats[0], "Dog/copy-of-cat.jpg", "Dog/" + dogs[0], "Cat/hardlink.jpg",
                                  "Cat/" + cats[1], "Dog/link.jpg"}) {
    const auto* sk = FindSkipped(r, name);
    ASSERT_NE(sk, nullptr) << name << "\n" << SkippedList(r);
    EXPECT_EQ(sk->reason, "in-both-classes") << name;
  }
  EXPECT_EQ(CountLabel(r.pack, 0), 2u);  // cats[2], cats[3]
  EXPECT_EQ(CountLabel(r.pack, 1), 3u);  // dogs[1..3]
  ASSERT_EQ(r.duplicates.size(), 1u);
  EXPECT_NE(r.duplicates[0].path.find("zz-copy.jpg"), std::string::npos);
  for (const std::string& p : r.pack.paths) EXPECT_EQ(p.find("copy-of-cat"), std::string::npos) << p;
}

// `chmod 000 split/test` once made the split vanish with "0 skipped". An unreadable split folder,
// a class name that is not a readable folder (a dangling symlink) and a FIFO are each counted and
// named. Root reads through mode bits, so the run drops to "nobody" (AsNobody).
TEST(Prepare, UnreadableSplitFoldersAndEntriesAreNamed) {
  TempDir tmp;
  const std::string root = tmp.path("data");
  ASSERT_TRUE(CopySubset(tmp.path("src"), 3));
  for (const char* split : {"train", "test"})
    for (const char* cls : {"Cat", "Dog"}) {
      stdfs::create_directories(root + "/" + split);
      stdfs::copy(tmp.path(std::string("src/") + cls), root + "/" + split + "/" + cls);
    }
  ASSERT_EQ(::symlink((root + "/nowhere").c_str(), (root + "/validation").c_str()), 0);
  ASSERT_EQ(::mkfifo((root + "/train/Cat/pipe.jpg").c_str(), 0644), 0);
  ASSERT_EQ(::chmod((root + "/test").c_str(), 0), 0);
  catdog::prepare::Result r;
  catdog::Status s;
  {
    catdog::test::AsNobody nobody;
    s = catdog::prepare::Run(Opts(root), &r);
  }
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(r.pack.count(), 6u);
  const auto* test = FindSkipped(r, "data/test");
  ASSERT_NE(test, nullptr) << SkippedList(r);
  EXPECT_EQ(test->reason, "unreadable");
  EXPECT_NE(test->detail.find("Permission denied"), std::string::npos) << test->detail;
  const auto* val = FindSkipped(r, "data/validation");
  ASSERT_NE(val, nullptr) << SkippedList(r);
  EXPECT_EQ(val->reason, "unreadable");
  const auto* fifo = FindSkipped(r, "pipe.jpg");
  ASSERT_NE(fifo, nullptr) << SkippedList(r);
  EXPECT_EQ(fifo->reason, "unreadable");
  EXPECT_EQ(catdog::prepare::Report(Opts(root), r)["skipped"]["unreadable"], 3);
  EXPECT_NE(catdog::prepare::SummaryLine(Opts(root), r).find("3 skipped"), std::string::npos);
}

// A skipped file named with a byte that is not UTF-8 made report.json throw json type_error 316
// after the pack was written; a non-UTF-8 --images folder left shards and no pack.json. Names are
// now stored escaped (and flagged) and the pack is whole.
TEST(Prepare, NonUtf8NamesAreStoredEscapedAndThePackIsWhole) {
  TempDir tmp;
  const std::string root = tmp.path("data\xff");
  ASSERT_TRUE(CopySubset(root, 2));
  WriteText(root + "/Cat/bad\xfe\\name.jpg", "not an image");
  catdog::prepare::Options o = Opts(root);
  o.out = tmp.path("pack");
  catdog::prepare::Result r;
  catdog::Status s = catdog::prepare::Run(o, &r);
  ASSERT_TRUE(s) << s.message();
  ASSERT_TRUE(stdfs::exists(tmp.path("pack/pack.json")));
  catdog::pack::Pack back;
  ASSERT_TRUE(catdog::pack::ReadPack(tmp.path("pack"), &back));
  EXPECT_EQ(back.count(), 4u);
  ASSERT_EQ(back.sources.size(), 1u);
  EXPECT_NE(back.sources[0].find("data\\xFF"), std::string::npos) << back.sources[0];
  std::string text;
  ASSERT_NO_THROW(text = catdog::prepare::Report(o, r).dump(1));
  const nlohmann::json rep = nlohmann::json::parse(text);
  ASSERT_EQ(rep["skipped_files"].size(), 1u);
  EXPECT_EQ(rep["skipped_files"][0]["path"], catdog::fs::JsonSafeName(root + "/Cat/bad\xfe\\name.jpg"));
  EXPECT_NE(rep["skipped_files"][0]["path"].get<std::string>().find("bad\\xFE\\\\name.jpg"), std::string::npos);
  EXPECT_EQ(rep["skipped_files"][0]["path_escaped"], true);
  // Valid UTF-8 (accents, emoji) is kept as it is.
  bool escaped = true;
  EXPECT_EQ(catdog::fs::JsonSafeName("chat-\xc3\xa9t\xc3\xa9-\xf0\x9f\x90\x88.jpg", &escaped), "chat-\xc3\xa9t\xc3\xa9-\xf0\x9f\x90\x88.jpg");
  EXPECT_FALSE(escaped);
  EXPECT_EQ(catdog::fs::JsonSafeName("a\xc0\xafz"), "a\\xC0\\xAFz");  // an overlong '/' is not UTF-8
}

// 6,000 empty files at --size 1024 once took 6.3 GB: the pixels of every file found were
// allocated (and zeroed) before decoding. Measured in a child process: the peak RSS over what the
// child started with (getrusage ru_maxrss vs /proc/self/statm), for 400 empty files at 1024x1024
// (400 MiB before the fix).
TEST(Prepare, MemoryFollowsTheImagesKeptNotTheFilesFound) {
  TempDir tmp;
  const std::string root = tmp.path("data");
  for (const char* cls : {"Cat", "Dog"}) {
    stdfs::create_directories(root + "/" + cls);
    for (int i = 0; i < 200; ++i) std::ofstream(root + "/" + cls + "/empty" + std::to_string(i) + ".jpg");
  }
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    long pages = 0, resident = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
      std::fclose(f);
    }
    const long start_kb = resident * (::sysconf(_SC_PAGESIZE) / 1024);
    catdog::prepare::Options o = Opts(root);
    o.size = 1024;
    o.threads = 2;
    catdog::prepare::Result r;
    catdog::Status s = catdog::prepare::Run(o, &r);
    struct rusage ru {};
    ::getrusage(RUSAGE_SELF, &ru);
    const long grew_kb = ru.ru_maxrss - start_kb;
    const bool all_counted = !s && r.skipped.size() == 400;
    if (::write(fds[1], &grew_kb, sizeof grew_kb) != sizeof grew_kb) ::_exit(3);
    ::_exit(all_counted ? 0 : 4);
  }
  ::close(fds[1]);
  long grew_kb = -1;
  const ssize_t got = ::read(fds[0], &grew_kb, sizeof grew_kb);
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child crashed";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the 400 empty files were not all skipped";
  ASSERT_EQ(got, ssize_t(sizeof grew_kb));
  std::printf("prepare of 400 empty files at --size 1024: peak RSS grew by %ld KiB\n", grew_kb);
  EXPECT_LT(grew_kb, 64 * 1024) << "peak RSS grew by " << grew_kb << " KiB";
}

// One class only passed prepare without a word (then train reported val_acc 1.0). Refused unless
// allow_one_class (--allow-one-class), which a pack of corrections for a fine-tune may need.
TEST(Prepare, OneClassIsRefusedUnlessAllowed) {
  TempDir tmp;
  ASSERT_TRUE(CopySubset(tmp.path("src"), 3));
  stdfs::create_directories(tmp.path("data"));
  stdfs::copy(tmp.path("src/Cat"), tmp.path("data/Cat"));
  catdog::prepare::Options o = Opts(tmp.path("data"));
  o.out = tmp.path("pack");
  catdog::prepare::Result r;
  catdog::Status s = catdog::prepare::Run(o, &r);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("no usable image of class dog"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("--allow-one-class"), std::string::npos) << s.message();
  EXPECT_FALSE(stdfs::exists(tmp.path("pack/pack.json")));
  o.allow_one_class = true;
  s = catdog::prepare::Run(o, &r);
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(r.pack.count(), 3u);
}

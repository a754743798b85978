// classify MODEL_DIR IMAGE.bmp — the README example: load a TF.js model.json with the catdog core,
// check it (self-check), turn an 8-bit RGB image into the model input, print P(dog) and the label.
// The core takes bytes, never files, and decodes no image formats: any decoder that gives RGB or
// RGBA bytes will do; an uncompressed BMP keeps this example free of one.
#include <catdog/catdog.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

static std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// An uncompressed 24-bit BMP (what `ffmpeg -i photo.jpg -pix_fmt bgr24 photo.bmp` writes) -> RGB rows.
static bool ReadBmp(const std::string& path, int* w, int* h, std::vector<uint8_t>* rgb) {
  const std::vector<uint8_t> f = ReadFile(path);
  auto u32 = [&](size_t at) { return uint32_t(f[at]) | uint32_t(f[at + 1]) << 8 | uint32_t(f[at + 2]) << 16 | uint32_t(f[at + 3]) << 24; };
  if (f.size() < 54 || f[0] != 'B' || f[1] != 'M' || (f[28] | f[29] << 8) != 24 || u32(30) != 0) return false;
  const uint32_t offset = u32(10);
  const int32_t width = int32_t(u32(18)), height = int32_t(u32(22));  // height > 0: bottom row first
  const int rows = height < 0 ? -height : height;
  const size_t stride = (size_t(width) * 3 + 3) / 4 * 4;
  if (width <= 0 || rows <= 0 || width > 16384 || rows > 16384 || offset + stride * size_t(rows) > f.size()) return false;
  *w = width;
  *h = rows;
  rgb->resize(size_t(width) * size_t(rows) * 3);
  for (int y = 0; y < rows; ++y) {
    const uint8_t* src = &f[offset + stride * size_t(height > 0 ? rows - 1 - y : y)];
    uint8_t* dst = &(*rgb)[size_t(y) * size_t(width) * 3];
    for (int x = 0; x < width; ++x) {
      dst[3 * x] = src[3 * x + 2];
      dst[3 * x + 1] = src[3 * x + 1];
      dst[3 * x + 2] = src[3 * x];
    }
  }
  return true;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: classify MODEL_DIR IMAGE.bmp\n");
    return 2;
  }
  const std::string dir = argv[1];

  // 1. Parse model.json, then hand over the weight files it names.
  std::vector<uint8_t> json = ReadFile(dir + "/model.json");
  std::unique_ptr<catdog::Model> model;
  catdog::Status s = catdog::Model::Parse(std::string(json.begin(), json.end()), &model, {}, dir + "/model.json");
  if (!s) { std::fprintf(stderr, "%s\n", s.message().c_str()); return 1; }
  std::vector<std::vector<uint8_t>> files;
  std::vector<catdog::ShardBytes> shards;
  for (const std::string& rel : model->shard_paths()) files.push_back(ReadFile(dir + "/" + rel));
  for (const auto& f : files) shards.push_back({f.data(), f.size()});
  s = model->LoadWeights(shards);
  if (!s) { std::fprintf(stderr, "%s\n", s.message().c_str()); return 1; }

  // 2. Optional but cheap: the model's own golden inputs and weight hashes.
  catdog::SelfCheckReport check;
  s = catdog::RunSelfCheck(*model, shards, &check);
  std::printf("%s\n", s ? check.Summary().c_str() : s.message().c_str());

  // 3. Image -> 100x100 gray floats (the same preprocess the trainer and the web page use) -> run.
  int w = 0, h = 0;
  std::vector<uint8_t> rgb;
  if (!ReadBmp(argv[2], &w, &h, &rgb)) { std::fprintf(stderr, "%s: not an uncompressed 24-bit BMP\n", argv[2]); return 2; }
  const int size = int(model->info().input_shape[0]);  // 100 for the shipped models
  std::vector<float> input(model->input_size()), output(model->output_size());
  catdog::ImageView image{rgb.data(), w, h, w * 3, catdog::PixelFormat::kRGB8};
  s = catdog::preprocess(image, catdog::Fit::kStretch, size, input.data());
  if (s) s = model->Run(input.data(), 1, output.data());
  if (!s) { std::fprintf(stderr, "%s\n", s.message().c_str()); return 1; }
  const float p_dog = catdog::ApplyCalibration(model->info(), output[0]);  // the model's temperature
  std::printf("P(dog)=%.4f label=%s\n", p_dog, p_dog >= 0.5f ? "dog" : "cat");
  return check.present && !check.verified() ? 3 : 0;
}

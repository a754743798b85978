// Safe decoding of one image file into an 8-bit RGB / RGBA / gray buffer that the core's
// catdog::preprocess / preprocess_u8 take. Used by `prepare`, `predict` and `evaluate --images`.
//
// What it guarantees, for any bytes at all: no crash, no exception, no partial image passed on.
//  * Files are opened without blocking (FIFOs, sockets and devices are refused), capped in size,
//    and classified: zero-byte, unreadable (permissions, broken symlink), symlink loop.
//  * The pixel count is read from the header (JPEG: libjpeg's header parse; PNG IHDR, BMP DIB
//    header, WebP VP8/VP8L/VP8X) and refused over DecodeOptions::max_pixels BEFORE any pixel is
//    decoded (decompression bombs).
//  * JPEG is decoded with libjpeg(-turbo) directly — the library OpenCV itself uses — so its
//    warnings are seen instead of printed: a stream that ends early ("Premature end of JPEG file",
//    including a missing end-of-image marker) is kTruncated; bad entropy data is kCorrupt; benign
//    warnings (extraneous bytes before a marker, unknown JFIF revision) are tolerated and noted.
//    Gray JPEGs stay gray; CMYK/YCCK JPEGs are converted to RGB (Adobe-inverted or plain CMYK).
//  * PNG is decoded with libpng directly, for the same reasons: a stream that ends early
//    (including a missing IEND) is kTruncated, CRC / zlib / filter errors are kCorrupt, and
//    nothing is printed. Palette and low-bit-depth images are expanded, tRNS becomes alpha.
//  * BMP and WebP are decoded with OpenCV (cv::imdecode, IMREAD_UNCHANGED), BGR(A) reordered to
//    RGB(A); an uncompressed BMP shorter than its header says is kTruncated before OpenCV sees it.
//  * For every format: 16-bit samples are rounded to 8 bits (round(v * 255 / 65535)); the alpha
//    channel is kept in the buffer and IGNORED by the core's preprocessing, exactly as the web
//    page's canvas RGBA is treated (no compositing); gray+alpha keeps the gray channel.
//  * EXIF orientation is not applied (neither TF's decode_jpeg nor the webcam path applies it).
// Colour-to-gray and resizing are NOT done here: that is the core's job (DESIGN contract 1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "catdog/catdog.h"

namespace catdog::imaging {

// Why a file was not usable. Names (ProblemName) are the keys of prepare's report.
enum class Problem : int {
  kNone = 0,
  kZeroByte,       // "zero-byte"
  kNotAnImage,     // "not-an-image": Thumbs.db, .DS_Store, text, anything without an image signature
  kUnsupported,    // "unsupported-format": an image format this build does not decode (GIF, TIFF, ...)
  kTruncated,      // "truncated": the stream ends early
  kCorrupt,        // "corrupt": the decoder rejected the data
  kTooLarge,       // "too-large": header dimensions over the pixel cap, or a file over the byte cap
  kUnreadable,     // "unreadable": permissions, broken symlink, not a regular file, I/O error
  kSymlinkLoop,    // "symlink-loop"
};
constexpr int kNumProblems = 9;
const char* ProblemName(Problem p);

// Things done to make an image usable (bit flags; prepare's report counts them as "converted").
enum Conversion : uint32_t {
  kConvGray = 1u << 0,         // "gray": single-channel source
  kConvCmyk = 1u << 1,         // "cmyk": CMYK/YCCK JPEG converted to RGB
  kConvAlphaIgnored = 1u << 2, // "alpha-ignored": the source has an alpha channel
  kConv16Bit = 1u << 3,        // "16-bit": 16-bit samples rounded to 8 bits
  kConvWarning = 1u << 4,      // "decoder-warning": libjpeg / libpng warned about something harmless
};
constexpr int kNumConversions = 5;
// Names of the set bits, in bit order ("gray", "cmyk", ...).
std::vector<std::string> ConversionNames(uint32_t conversions);
const char* ConversionName(int bit);  // bit index 0..kNumConversions-1

enum class FileFormat : int { kUnknown = 0, kJpeg, kPng, kBmp, kWebp, kGif, kTiff, kOther };
// Recognizes the format from the first bytes (not the file name).
FileFormat SniffFormat(const uint8_t* data, size_t size);
const char* FormatName(FileFormat f);

// The core's preprocessing refuses images over 2^28 pixels (shared/src/preprocess.cpp kMaxPixels):
// decoding more would only end in a "corrupt" after the work, so DecodeImage caps
// DecodeOptions::max_pixels here and says so in its message.
constexpr uint64_t kMaxDecodePixels = 1ull << 28;

struct DecodeOptions {
  uint64_t max_pixels = 1ull << 26;   // 67,108,864 px (e.g. 8192 x 8192); checked from the header;
                                      // never more than kMaxDecodePixels, whatever is asked
  uint64_t max_file_bytes = 256ull << 20;
};

struct Image {
  std::vector<uint8_t> pixels;  // tightly packed rows
  int width = 0;
  int height = 0;
  PixelFormat format = PixelFormat::kRGB8;
  uint32_t conversions = 0;     // Conversion bits
  std::string note;             // tolerated decoder warning text, if any
  ImageView view() const {
    return ImageView{pixels.data(), width, height, width * static_cast<int>(format), format};
  }
};

// Reads a file for decoding. On failure sets *problem (kUnreadable, kSymlinkLoop, kZeroByte,
// kTooLarge) and returns a message naming the path.
Status ReadImageFile(const std::string& path, const DecodeOptions& options, std::vector<uint8_t>* bytes,
                     Problem* problem);

// Reads the width and height from the header without decoding pixels.
Status ReadHeaderSize(const uint8_t* data, size_t size, FileFormat format, int64_t* width, int64_t* height);

// Decodes bytes. On failure sets *problem and returns a message; `name` is used in messages.
Status DecodeImage(const uint8_t* data, size_t size, const DecodeOptions& options, Image* out, Problem* problem,
                   const std::string& name = "image");

// ReadImageFile + DecodeImage.
Status DecodeFile(const std::string& path, const DecodeOptions& options, Image* out, Problem* problem);

}  // namespace catdog::imaging

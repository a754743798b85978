#include "imaging.h"

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

// jpeglib.h needs <cstdio> first.
#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>

namespace catdog::imaging {

const char* ProblemName(Problem p) {
  switch (p) {
    case Problem::kNone: return "none";
    case Problem::kZeroByte: return "zero-byte";
    case Problem::kNotAnImage: return "not-an-image";
    case Problem::kUnsupported: return "unsupported-format";
    case Problem::kTruncated: return "truncated";
    case Problem::kCorrupt: return "corrupt";
    case Problem::kTooLarge: return "too-large";
    case Problem::kUnreadable: return "unreadable";
    case Problem::kSymlinkLoop: return "symlink-loop";
  }
  return "unknown";
}

const char* ConversionName(int bit) {
  static const char* kNames[kNumConversions] = {"gray", "cmyk", "alpha-ignored", "16-bit", "decoder-warning"};
  return bit >= 0 && bit < kNumConversions ? kNames[bit] : "?";
}

std::vector<std::string> ConversionNames(uint32_t conversions) {
  std::vector<std::string> names;
  for (int b = 0; b < kNumConversions; ++b)
    if (conversions & (1u << b)) names.emplace_back(ConversionName(b));
  return names;
}

const char* FormatName(FileFormat f) {
  switch (f) {
    case FileFormat::kJpeg: return "JPEG";
    case FileFormat::kPng: return "PNG";
    case FileFormat::kBmp: return "BMP";
    case FileFormat::kWebp: return "WebP";
    case FileFormat::kGif: return "GIF";
    case FileFormat::kTiff: return "TIFF";
    case FileFormat::kOther: return "other image";
    case FileFormat::kUnknown: break;
  }
  return "unknown";
}

FileFormat SniffFormat(const uint8_t* d, size_t n) {
  auto starts = [&](const char* sig, size_t len) { return n >= len && std::memcmp(d, sig, len) == 0; };
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return FileFormat::kJpeg;
  if (starts("\x89PNG\r\n\x1a\n", 8)) return FileFormat::kPng;
  if (starts("BM", 2) && n >= 26) return FileFormat::kBmp;
  if (n >= 12 && starts("RIFF", 4) && std::memcmp(d + 8, "WEBP", 4) == 0) return FileFormat::kWebp;
  if (starts("GIF87a", 6) || starts("GIF89a", 6)) return FileFormat::kGif;
  if (starts("II*\0", 4) || starts("MM\0*", 4)) return FileFormat::kTiff;
  // HEIF/AVIF ("ftyp" box), JPEG 2000, OpenEXR: images, but not decoded here.
  if (n >= 12 && std::memcmp(d + 4, "ftyp", 4) == 0) return FileFormat::kOther;
  if (starts("\x00\x00\x00\x0cjP  ", 8) || starts("\x76\x2f\x31\x01", 4)) return FileFormat::kOther;
  return FileFormat::kUnknown;
}

// ---- reading ------------------------------------------------------------------------------------
Status ReadImageFile(const std::string& path, const DecodeOptions& options, std::vector<uint8_t>* bytes,
                     Problem* problem) {
  *problem = Problem::kNone;
  // O_NONBLOCK: opening a FIFO must not hang; regular files ignore the flag.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    int err = errno;
    if (err == ELOOP) {
      *problem = Problem::kSymlinkLoop;
      return Status::Error(path + ": symlink loop (too many levels of symbolic links)");
    }
    *problem = Problem::kUnreadable;
    if (err == ENOENT) return Status::Error(path + ": cannot open: no such file (broken symlink?)");
    return Status::Error(path + ": cannot open: " + std::strerror(err));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    *problem = Problem::kUnreadable;
    return Status::Error(path + ": not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    *problem = Problem::kZeroByte;
    return Status::Error(path + ": empty file (0 bytes)");
  }
  if (static_cast<uint64_t>(st.st_size) > options.max_file_bytes) {
    ::close(fd);
    *problem = Problem::kTooLarge;
    return Status::Error(path + ": " + std::to_string(st.st_size) + " bytes is over the limit of " +
                         std::to_string(options.max_file_bytes));
  }
  bytes->resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < bytes->size()) {
    ssize_t r = ::read(fd, bytes->data() + got, bytes->size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int err = errno;
      ::close(fd);
      *problem = Problem::kUnreadable;
      return Status::Error(path + ": read error: " + std::strerror(err));
    }
    if (r == 0) break;  // shrank while reading
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  bytes->resize(got);
  if (got == 0) {
    *problem = Problem::kZeroByte;
    return Status::Error(path + ": empty file (0 bytes)");
  }
  return Status::Ok();
}

// ---- headers ------------------------------------------------------------------------------------
namespace {
uint32_t Be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
uint32_t Le32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }
uint32_t Le24(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16; }
uint16_t Le16(const uint8_t* p) { return uint16_t(p[0] | p[1] << 8); }
}  // namespace

Status ReadHeaderSize(const uint8_t* d, size_t n, FileFormat format, int64_t* w, int64_t* h) {
  switch (format) {
    case FileFormat::kPng:
      // signature(8) + IHDR length(4) + "IHDR" + width(4) + height(4)
      if (n < 24 || std::memcmp(d + 12, "IHDR", 4) != 0) return Status::Error("PNG without an IHDR header");
      *w = Be32(d + 16);
      *h = Be32(d + 20);
      return Status::Ok();
    case FileFormat::kBmp: {
      uint32_t dib = Le32(d + 14);
      if (dib == 12) {
        if (n < 22) return Status::Error("BMP header too short");
        *w = Le16(d + 18);
        *h = Le16(d + 20);
      } else {
        if (n < 26 || dib < 40) return Status::Error("BMP header too short or unknown DIB header size " + std::to_string(dib));
        *w = static_cast<int32_t>(Le32(d + 18));
        *h = static_cast<int32_t>(Le32(d + 22));
        if (*h < 0) *h = -*h;  // top-down bitmap
      }
      return Status::Ok();
    }
    case FileFormat::kWebp: {
      if (n < 30) return Status::Error("WebP header too short");
      if (std::memcmp(d + 12, "VP8 ", 4) == 0) {
        *w = Le16(d + 26) & 0x3FFF;
        *h = Le16(d + 28) & 0x3FFF;
      } else if (std::memcmp(d + 12, "VP8L", 4) == 0) {
        uint32_t bits = Le32(d + 21);
        *w = (bits & 0x3FFF) + 1;
        *h = ((bits >> 14) & 0x3FFF) + 1;
      } else if (std::memcmp(d + 12, "VP8X", 4) == 0) {
        *w = int64_t(Le24(d + 24)) + 1;
        *h = int64_t(Le24(d + 27)) + 1;
      } else {
        return Status::Error("WebP with an unknown first chunk");
      }
      return Status::Ok();
    }
    default:
      return Status::Error(std::string("no header reader for ") + FormatName(format));
  }
}

// ---- JPEG (libjpeg directly) --------------------------------------------------------------------
namespace {

struct JpegErrors {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  bool saw_eof = false;      // JWRN_JPEG_EOF: data ran out (truncated)
  bool saw_corrupt = false;  // entropy-data warnings: the picture is damaged
  char corrupt_msg[JMSG_LENGTH_MAX] = {0};
  char benign_msg[JMSG_LENGTH_MAX] = {0};
  char error_msg[JMSG_LENGTH_MAX] = {0};
};

void JpegErrorExit(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegErrors*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->error_msg);
  if (cinfo->err->msg_code == JERR_INPUT_EOF) e->saw_eof = true;
  std::longjmp(e->jump, 1);
}

void JpegEmitMessage(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  auto* e = reinterpret_cast<JpegErrors*>(cinfo->err);
  int code = cinfo->err->msg_code;
  cinfo->err->num_warnings++;
  switch (code) {
    case JWRN_JPEG_EOF:
      e->saw_eof = true;
      break;
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_MUST_RESYNC:
    case JWRN_BOGUS_PROGRESSION:
    case JWRN_NOT_SEQUENTIAL:
    case JWRN_TOO_MUCH_DATA:
      if (!e->saw_corrupt) (*cinfo->err->format_message)(cinfo, e->corrupt_msg);
      e->saw_corrupt = true;
      break;
    default:
      if (!e->benign_msg[0]) (*cinfo->err->format_message)(cinfo, e->benign_msg);
      break;
  }
}

void JpegOutputMessage(j_common_ptr) {}  // never print: the caller reports

enum class JpegStep { kOk, kError, kTooLarge };

// Everything between setjmp and the longjmp targets lives in PODs or in objects created
// before setjmp, so a longjmp skips no destructor.
JpegStep DecodeJpegInner(jpeg_decompress_struct* cinfo, JpegErrors* err, const uint8_t* data, size_t size,
                         uint64_t max_pixels, Image* out, bool* adobe) {
  if (setjmp(err->jump)) return JpegStep::kError;
  jpeg_create_decompress(cinfo);
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(cinfo, TRUE);
  if (uint64_t(cinfo->image_width) * cinfo->image_height > max_pixels || cinfo->image_width == 0 ||
      cinfo->image_height == 0)
    return JpegStep::kTooLarge;
  *adobe = cinfo->saw_Adobe_marker;
  switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo->out_color_space = JCS_GRAYSCALE; break;
    case JCS_CMYK:
    case JCS_YCCK: cinfo->out_color_space = JCS_CMYK; break;
    default: cinfo->out_color_space = JCS_RGB; break;
  }
  jpeg_start_decompress(cinfo);
  const size_t row = size_t(cinfo->output_width) * cinfo->output_components;
  out->pixels.resize(row * cinfo->output_height);
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW rows[1] = {out->pixels.data() + row * cinfo->output_scanline};
    jpeg_read_scanlines(cinfo, rows, 1);
  }
  out->width = static_cast<int>(cinfo->output_width);
  out->height = static_cast<int>(cinfo->output_height);
  jpeg_finish_decompress(cinfo);  // reads up to EOI: a missing end marker shows up here
  return JpegStep::kOk;
}

Status DecodeJpeg(const uint8_t* data, size_t size, const DecodeOptions& options, Image* out, Problem* problem,
                  const std::string& name) {
  jpeg_decompress_struct cinfo;
  std::memset(&cinfo, 0, sizeof cinfo);
  JpegErrors err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = JpegErrorExit;
  err.pub.emit_message = JpegEmitMessage;
  err.pub.output_message = JpegOutputMessage;
  bool adobe = false;
  JpegStep step = DecodeJpegInner(&cinfo, &err, data, size, options.max_pixels, out, &adobe);
  const uint64_t w = cinfo.image_width, h = cinfo.image_height;
  const int components = cinfo.output_components;
  const J_COLOR_SPACE out_space = cinfo.out_color_space;
  jpeg_destroy_decompress(&cinfo);

  if (step == JpegStep::kTooLarge) {
    *problem = Problem::kTooLarge;
    out->pixels.clear();
    return Status::Error(name + ": JPEG header says " + std::to_string(w) + "x" + std::to_string(h) + " = " +
                         std::to_string(w * h) + " pixels, over the limit of " + std::to_string(options.max_pixels));
  }
  if (err.saw_eof) {
    *problem = Problem::kTruncated;
    out->pixels.clear();
    return Status::Error(name + ": truncated JPEG (the data ends before the end-of-image marker)");
  }
  if (step == JpegStep::kError) {
    *problem = Problem::kCorrupt;
    out->pixels.clear();
    return Status::Error(name + ": corrupt JPEG: " + err.error_msg);
  }
  if (err.saw_corrupt) {
    *problem = Problem::kCorrupt;
    out->pixels.clear();
    return Status::Error(name + ": corrupt JPEG data: " + err.corrupt_msg);
  }
  if (err.benign_msg[0]) {
    out->conversions |= kConvWarning;
    out->note = err.benign_msg;
  }
  if (out_space == JCS_GRAYSCALE && components == 1) {
    out->format = PixelFormat::kGray8;
    out->conversions |= kConvGray;
  } else if (out_space == JCS_CMYK && components == 4) {
    // Photoshop (the Adobe marker) stores CMYK inverted: 255 = no ink. Plain CMYK: 0 = no ink.
    const size_t n = size_t(out->width) * out->height;
    uint8_t* p = out->pixels.data();
    for (size_t i = 0; i < n; ++i) {
      int c = p[4 * i], m = p[4 * i + 1], y = p[4 * i + 2], k = p[4 * i + 3];
      if (!adobe) { c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k; }
      p[3 * i] = static_cast<uint8_t>((c * k + 127) / 255);
      p[3 * i + 1] = static_cast<uint8_t>((m * k + 127) / 255);
      p[3 * i + 2] = static_cast<uint8_t>((y * k + 127) / 255);
    }
    out->pixels.resize(n * 3);
    out->format = PixelFormat::kRGB8;
    out->conversions |= kConvCmyk;
  } else if (components == 3) {
    out->format = PixelFormat::kRGB8;
  } else {
    *problem = Problem::kCorrupt;
    out->pixels.clear();
    return Status::Error(name + ": JPEG with " + std::to_string(components) + " output components");
  }
  return Status::Ok();
}

// ---- PNG (libpng directly) ------------------------------------------------------------------------
struct PngSource {
  const uint8_t* data;
  size_t size;
  size_t pos = 0;
  bool eof = false;
  char error[256] = {0};
  char warning[256] = {0};
};

void PngRead(png_structp png, png_bytep out, size_t n) {
  auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
  if (n > src->size - src->pos) {
    src->eof = true;
    png_error(png, "unexpected end of data");
  }
  std::memcpy(out, src->data + src->pos, n);
  src->pos += n;
}
void PngError(png_structp png, png_const_charp msg) {
  auto* src = static_cast<PngSource*>(png_get_error_ptr(png));
  std::snprintf(src->error, sizeof src->error, "%s", msg);
  png_longjmp(png, 1);
}
void PngWarning(png_structp png, png_const_charp msg) {
  auto* src = static_cast<PngSource*>(png_get_error_ptr(png));
  if (!src->warning[0]) std::snprintf(src->warning, sizeof src->warning, "%s", msg);
}

enum class PngStep { kOk, kError, kTooLarge, kNoMemory };

// This machine's memory in bytes (0 when unknown): a decode that needs more is refused up front
// instead of being allocated and zero-filled (or failing with std::bad_alloc).
uint64_t PhysicalMemory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0;
}

// As with JPEG: only PODs and caller-owned objects between setjmp and a possible longjmp.
PngStep DecodePngInner(png_structp png, png_infop info, PngSource* src, uint64_t max_pixels, std::vector<uint8_t>* raw,
                       std::vector<png_bytep>* rows, uint32_t* w, uint32_t* h, int* channels, int* depth) {
  if (setjmp(png_jmpbuf(png))) return PngStep::kError;
  png_set_read_fn(png, src, PngRead);
  png_read_info(png, info);
  *w = png_get_image_width(png, info);
  *h = png_get_image_height(png, info);
  if (uint64_t(*w) * *h > max_pixels) return PngStep::kTooLarge;
  const int color = png_get_color_type(png, info), bits = png_get_bit_depth(png, info);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && bits < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  *channels = png_get_channels(png, info);
  *depth = png_get_bit_depth(png, info);
  const size_t row_bytes = png_get_rowbytes(png, info);
  const uint64_t mem = PhysicalMemory();
  if (mem && uint64_t(row_bytes) * *h > mem / 2) return PngStep::kNoMemory;
  raw->resize(row_bytes * *h);
  rows->resize(*h);
  for (uint32_t y = 0; y < *h; ++y) (*rows)[y] = raw->data() + row_bytes * y;
  png_read_image(png, rows->data());
  png_read_end(png, nullptr);  // to IEND: a cut file shows up here
  return PngStep::kOk;
}

Status DecodePng(const uint8_t* data, size_t size, const DecodeOptions& options, Image* out, Problem* problem,
                 const std::string& name) {
  PngSource src{data, size};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, PngError, PngWarning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info) {
    if (png) png_destroy_read_struct(&png, nullptr, nullptr);
    *problem = Problem::kCorrupt;
    return Status::Error(name + ": libpng could not start (out of memory)");
  }
  std::vector<uint8_t> raw;
  std::vector<png_bytep> rows;
  uint32_t w = 0, h = 0;
  int channels = 0, depth = 0;
  PngStep step;
  try {
    step = DecodePngInner(png, info, &src, options.max_pixels, &raw, &rows, &w, &h, &channels, &depth);
  } catch (...) {  // std::bad_alloc of the rows: libpng's state is freed, DecodeImage names the file
    png_destroy_read_struct(&png, &info, nullptr);
    throw;
  }
  png_destroy_read_struct(&png, &info, nullptr);
  if (step == PngStep::kTooLarge) {
    *problem = Problem::kTooLarge;
    return Status::Error(name + ": PNG header says " + std::to_string(w) + "x" + std::to_string(h) + " = " +
                         std::to_string(uint64_t(w) * h) + " pixels, over the limit of " + std::to_string(options.max_pixels));
  }
  if (step == PngStep::kNoMemory) {
    *problem = Problem::kTooLarge;
    return Status::Error(name + ": PNG header says " + std::to_string(w) + "x" + std::to_string(h) + " with " +
                         std::to_string(channels ? channels : 0) + " channel(s): decoding it needs more than half of this "
                         "machine's memory (" + std::to_string(PhysicalMemory() >> 20) + " MiB); refused (lower --max-pixels)");
  }
  if (step == PngStep::kError) {
    *problem = src.eof ? Problem::kTruncated : Problem::kCorrupt;
    return Status::Error(name + (src.eof ? ": truncated PNG (the data ends before IEND)" : std::string(": corrupt PNG: ") + src.error));
  }
  if ((depth != 8 && depth != 16) || channels < 1 || channels > 4) {
    *problem = Problem::kUnsupported;
    return Status::Error(name + ": PNG with " + std::to_string(channels) + " channels of " + std::to_string(depth) + " bits");
  }
  // Output: 1 -> gray, 2 (gray+alpha) -> gray, 3 -> RGB, 4 -> RGBA; 16-bit rounded to 8.
  const int out_ch = channels == 2 ? 1 : channels;
  out->width = static_cast<int>(w);
  out->height = static_cast<int>(h);
  out->format = out_ch == 1 ? PixelFormat::kGray8 : out_ch == 3 ? PixelFormat::kRGB8 : PixelFormat::kRGBA8;
  if (out_ch == 1) out->conversions |= kConvGray;
  if (channels == 2 || channels == 4) out->conversions |= kConvAlphaIgnored;
  if (depth == 16) out->conversions |= kConv16Bit;
  if (src.warning[0]) {
    out->conversions |= kConvWarning;
    out->note = src.warning;
  }
  const size_t n = size_t(w) * h;
  out->pixels.resize(n * out_ch);
  uint8_t* dst = out->pixels.data();
  const uint8_t* s = raw.data();
  const int step_in = channels * (depth / 8);
  for (size_t i = 0; i < n; ++i, s += step_in)
    for (int c = 0; c < out_ch; ++c) {
      if (depth == 8) {
        *dst++ = s[c];
      } else {
        const uint32_t v = uint32_t(s[2 * c]) << 8 | s[2 * c + 1];  // PNG samples are big-endian
        *dst++ = static_cast<uint8_t>((v * 255 + 32767) / 65535);
      }
    }
  return Status::Ok();
}

// ---- BMP / WebP (OpenCV) -------------------------------------------------------------------------
Status DecodeWithOpenCv(const uint8_t* data, size_t size, FileFormat format, Image* out, Problem* problem,
                        const std::string& name) {
  // Failures are reported by the caller with the file's name; OpenCV's own stderr warnings
  // ("imdecode_(''): can't read data ...") would only garble the progress bar.
  static std::once_flag quiet;
  std::call_once(quiet, [] { cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_ERROR); });
  cv::Mat m;
  std::string why;
  try {
    cv::Mat buf(1, static_cast<int>(size), CV_8U, const_cast<uint8_t*>(data));
    m = cv::imdecode(buf, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    why = e.what();
  } catch (const std::exception& e) {
    why = e.what();
  }
  if (m.empty() || m.dims != 2) {
    *problem = Problem::kCorrupt;
    return Status::Error(name + ": corrupt " + FormatName(format) +
                         (why.empty() ? std::string(" (OpenCV could not decode it)") : ": " + why));
  }
  const int ch = m.channels();
  const int depth = m.depth();
  if ((depth != CV_8U && depth != CV_16U) || ch < 1 || ch > 4) {
    *problem = Problem::kUnsupported;
    return Status::Error(name + ": " + FormatName(format) + " with " + std::to_string(ch) + " channels of depth " +
                         std::to_string(depth) + " is not supported");
  }
  out->width = m.cols;
  out->height = m.rows;
  if (depth == CV_16U) out->conversions |= kConv16Bit;
  // Output layout: 1 -> gray, 2 (gray+alpha) -> gray, 3 (BGR) -> RGB, 4 (BGRA) -> RGBA.
  const int out_ch = ch == 2 ? 1 : ch;
  out->format = out_ch == 1 ? PixelFormat::kGray8 : out_ch == 3 ? PixelFormat::kRGB8 : PixelFormat::kRGBA8;
  if (out_ch == 1) out->conversions |= kConvGray;
  if (ch == 2 || ch == 4) out->conversions |= kConvAlphaIgnored;
  static const int kOrder[5][4] = {{0}, {0}, {0}, {2, 1, 0}, {2, 1, 0, 3}};  // source channel per output channel
  out->pixels.resize(size_t(m.cols) * m.rows * out_ch);
  uint8_t* dst = out->pixels.data();
  for (int y = 0; y < m.rows; ++y) {
    for (int x = 0; x < m.cols; ++x) {
      for (int c = 0; c < out_ch; ++c) {
        int src_c = kOrder[ch][c];
        uint32_t v = depth == CV_8U ? m.ptr<uint8_t>(y)[x * ch + src_c]
                                    : (uint32_t(m.ptr<uint16_t>(y)[x * ch + src_c]) * 255 + 32767) / 65535;
        *dst++ = static_cast<uint8_t>(v);
      }
    }
  }
  return Status::Ok();
}

}  // namespace

namespace {
Status DecodeImageInner(const uint8_t* data, size_t size, const DecodeOptions& options, Image* out, Problem* problem,
                        const std::string& name);
}  // namespace

// An image whose pixels cannot be allocated (a PNG bomb under a large --max-pixels) is one bad
// item, counted and named as too large, never the end of the run.
Status DecodeImage(const uint8_t* data, size_t size, const DecodeOptions& options, Image* out, Problem* problem,
                   const std::string& name) {
  try {
    if (options.max_pixels > kMaxDecodePixels) {
      DecodeOptions capped = options;
      capped.max_pixels = kMaxDecodePixels;
      Status s = DecodeImageInner(data, size, capped, out, problem, name);
      if (!s && *problem == Problem::kTooLarge)
        return Status::Error(s.message() + " (the most catdog's preprocessing takes, whatever --max-pixels says)");
      return s;
    }
    return DecodeImageInner(data, size, options, out, problem, name);
  } catch (const std::bad_alloc&) {
    *out = Image();
    *problem = Problem::kTooLarge;
    return Status::Error(name + ": its pixels could not be allocated (out of memory); lower --max-pixels to refuse "
                                "such images from their header");
  } catch (const std::length_error&) {
    *out = Image();
    *problem = Problem::kTooLarge;
    return Status::Error(name + ": its pixels do not fit in memory");
  }
}

namespace {
Status DecodeImageInner(const uint8_t* data, size_t size, const DecodeOptions& options, Image* out, Problem* problem,
                        const std::string& name) {
  *problem = Problem::kNone;
  *out = Image();
  if (size == 0) {
    *problem = Problem::kZeroByte;
    return Status::Error(name + ": empty (0 bytes)");
  }
  if (size > 0x7FFFFFFF) {
    *problem = Problem::kTooLarge;
    return Status::Error(name + ": " + std::to_string(size) + " bytes is too large to decode");
  }
  FileFormat format = SniffFormat(data, size);
  if (format == FileFormat::kUnknown) {
    *problem = Problem::kNotAnImage;
    return Status::Error(name + ": not an image (no JPEG/PNG/BMP/WebP signature)");
  }
  if (format == FileFormat::kGif || format == FileFormat::kTiff || format == FileFormat::kOther) {
    *problem = Problem::kUnsupported;
    return Status::Error(name + ": " + FormatName(format) + " images are not supported (use JPEG, PNG, BMP or WebP)");
  }
  if (format == FileFormat::kJpeg) return DecodeJpeg(data, size, options, out, problem, name);

  int64_t w = 0, h = 0;
  Status s = ReadHeaderSize(data, size, format, &w, &h);
  if (!s) {
    *problem = size < 32 ? Problem::kTruncated : Problem::kCorrupt;
    return Status::Error(name + ": " + s.message());
  }
  if (w <= 0 || h <= 0 || uint64_t(w) * uint64_t(h) > options.max_pixels) {
    *problem = w <= 0 || h <= 0 ? Problem::kCorrupt : Problem::kTooLarge;
    return Status::Error(name + ": " + FormatName(format) + " header says " + std::to_string(w) + "x" + std::to_string(h) +
                         (w <= 0 || h <= 0 ? std::string(" (empty image)")
                                           : " = " + std::to_string(uint64_t(w) * uint64_t(h)) +
                                                 " pixels, over the limit of " + std::to_string(options.max_pixels)));
  }
  if (format == FileFormat::kBmp && size >= 34 && Le32(data + 14) >= 40 && Le32(data + 30) == 0) {
    // Uncompressed BMP: the pixel array's size is known, so a cut file is caught here (OpenCV
    // would print to stderr and fail).
    const uint64_t bpp = Le16(data + 28), row = (bpp * uint64_t(w) + 31) / 32 * 4;
    if (Le32(data + 10) + row * uint64_t(h) > size) {
      *problem = Problem::kTruncated;
      return Status::Error(name + ": truncated BMP (" + std::to_string(size) + " bytes, the header needs " +
                           std::to_string(Le32(data + 10) + row * uint64_t(h)) + ")");
    }
  }
  s = format == FileFormat::kPng ? DecodePng(data, size, options, out, problem, name)
                                 : DecodeWithOpenCv(data, size, format, out, problem, name);
  if (!s) {
    out->pixels.clear();
    return s;
  }
  if (out->width != w || out->height != h) {
    *problem = Problem::kCorrupt;
    out->pixels.clear();
    return Status::Error(name + ": decoded " + std::to_string(out->width) + "x" + std::to_string(out->height) +
                         " but the header says " + std::to_string(w) + "x" + std::to_string(h));
  }
  return Status::Ok();
}

}  // namespace

Status DecodeFile(const std::string& path, const DecodeOptions& options, Image* out, Problem* problem) {
  std::vector<uint8_t> bytes;
  Status s = ReadImageFile(path, options, &bytes, problem);
  if (!s) return s;
  return DecodeImage(bytes.data(), bytes.size(), options, out, problem, path);
}

}  // namespace catdog::imaging

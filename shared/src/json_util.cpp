// jsonu::Dump and jsonu::FormatG7 (json_util.h): text output of the core without printf, so that the
// wasm module links no printf (its float formatting is most of 5 KB gzip of the page weight).
#include "json_util.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

namespace catdog::jsonu {

namespace {

// Length of the valid UTF-8 sequence at s[i] (1..4), or 0 when it is invalid there; *bad_at is then
// the index of the first byte that does not fit (i itself for a bad lead byte), or size for a
// sequence cut by the end of the string. Same acceptance as nlohmann's decoder (Hoehrmann's DFA).
size_t Utf8Length(const std::string& s, size_t i, size_t* bad_at) {
  const auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (b >= 0xC2 && b <= 0xDF) {
    n = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    n = 3;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    n = 4;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    *bad_at = i;
    return 0;
  }
  for (size_t k = 1; k < n; ++k) {
    if (i + k >= s.size()) {
      *bad_at = s.size();
      return 0;
    }
    const auto c = static_cast<unsigned char>(s[i + k]);
    if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) {
      *bad_at = i + k;
      return 0;
    }
  }
  return n;
}

void DumpString(const std::string& s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    size_t bad = 0;
    const size_t n = Utf8Length(s, i, &bad);
    if (n == 0) {  // U+FFFD for the bytes read so far; a bad lead byte is skipped, a bad follower read again
      *out += "\xEF\xBF\xBD";
      i = bad == i ? i + 1 : bad;
      continue;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (n == 1 && (c < 0x20 || c == '"' || c == '\\')) {
      out->push_back('\\');
      switch (c) {
        case '\b': out->push_back('b'); break;
        case '\t': out->push_back('t'); break;
        case '\n': out->push_back('n'); break;
        case '\f': out->push_back('f'); break;
        case '\r': out->push_back('r'); break;
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        default:
          *out += "u00";
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 15]);
      }
    } else {
      out->append(s, i, n);
    }
    i += n;
  }
  out->push_back('"');
}

void DumpTo(const json& j, std::string* out) {
  switch (j.type()) {
    case json::value_t::object: {
      out->push_back('{');
      bool first = true;
      for (const auto& [k, v] : j.items()) {
        if (!first) out->push_back(',');
        first = false;
        DumpString(k, out);
        out->push_back(':');
        DumpTo(v, out);
      }
      out->push_back('}');
      return;
    }
    case json::value_t::array: {
      out->push_back('[');
      bool first = true;
      for (const json& v : j) {
        if (!first) out->push_back(',');
        first = false;
        DumpTo(v, out);
      }
      out->push_back(']');
      return;
    }
    case json::value_t::string: DumpString(j.get_ref<const std::string&>(), out); return;
    case json::value_t::binary: {
      const auto& b = j.get_binary();
      *out += "{\"bytes\":[";
      for (size_t i = 0; i < b.size(); ++i) {
        if (i) out->push_back(',');
        *out += std::to_string(unsigned(b[i]));
      }
      *out += "],\"subtype\":";
      *out += b.has_subtype() ? std::to_string(b.subtype()) : std::string("null");
      out->push_back('}');
      return;
    }
    case json::value_t::boolean: *out += j.get<bool>() ? "true" : "false"; return;
    case json::value_t::number_integer: *out += std::to_string(j.get<int64_t>()); return;
    case json::value_t::number_unsigned: *out += std::to_string(j.get<uint64_t>()); return;
    case json::value_t::number_float: {
      const double d = j.get<double>();
      if (!std::isfinite(d)) {
        *out += "null";
        return;
      }
      char buf[64];  // nlohmann's own shortest round-trip formatting (Grisu2), as dump() writes floats
      const char* end = nlohmann::detail::to_chars(buf, buf + sizeof buf, d);
      out->append(buf, static_cast<size_t>(end - buf));
      return;
    }
    case json::value_t::discarded: *out += "<discarded>"; return;
    case json::value_t::null:
    default: *out += "null"; return;
  }
}

// Unsigned integers of up to 40 x 32 bits for FormatG7 (least significant limb first): its
// numbers stay below 2^1210 (m < 2^53 times 10^330 or 2^971, times a quotient < 2^27).
struct Big {
  uint32_t d[40] = {};
};

void MulSmall(Big* a, uint32_t m) {
  uint64_t carry = 0;
  for (uint32_t& x : a->d) {
    carry += uint64_t(x) * m;
    x = uint32_t(carry);
    carry >>= 32;
  }
}

int Compare(const Big& a, const Big& b) {
  for (int i = 39; i >= 0; --i)
    if (a.d[i] != b.d[i]) return a.d[i] < b.d[i] ? -1 : 1;
  return 0;
}

void Sub(Big* a, const Big& b) {  // a -= b, a >= b
  uint64_t borrow = 0;
  for (int i = 0; i < 40; ++i) {
    const uint64_t d = uint64_t(a->d[i]) - b.d[i] - borrow;
    a->d[i] = uint32_t(d);
    borrow = d >> 63;
  }
}

}  // namespace

std::string Dump(const json& j, size_t max_chars) {
  std::string s;
  DumpTo(j, &s);
  if (s.size() > max_chars) s = s.substr(0, max_chars) + "...";
  return s;
}

std::string FormatG7(double v) {
  std::string out = std::signbit(v) ? "-" : "";
  v = std::fabs(v);
  if (std::isnan(v)) return out + "nan";
  if (std::isinf(v)) return out + "inf";
  if (v == 0) return out + "0";
  // v = m * 2^e exactly; the 7 digits are N = round(v / 10^(x - 6)), 10^6 <= N < 10^7, x the
  // decimal exponent: num / den with num = m 2^max(e,0) 10^max(6-x,0), den = 2^max(-e,0) 10^max(x-6,0).
  int e;
  const uint64_t m = uint64_t(std::ldexp(std::frexp(v, &e), 53));
  e -= 53;
  int x = int(std::floor(std::log10(v)));
  uint32_t n = 0;
  for (;;) {
    Big num, den;
    num.d[0] = uint32_t(m);
    num.d[1] = uint32_t(m >> 32);
    den.d[0] = 1;
    for (int k = std::abs(e); k > 0; k -= 31) MulSmall(e >= 0 ? &num : &den, uint32_t(1) << std::min(k, 31));
    for (int k = std::abs(x - 6); k > 0; --k) MulSmall(x < 6 ? &num : &den, 10);
    // The quotient, bit by bit (below 2^27 > 10^8 while x is right or one too small).
    uint32_t q = 0;
    for (int bit = 26; bit >= 0; --bit) {
      Big t = den;
      MulSmall(&t, q | (uint32_t(1) << bit));
      if (Compare(t, num) <= 0) q |= uint32_t(1) << bit;
    }
    if (q >= 10000000) {
      ++x;
      continue;
    }
    if (q < 1000000) {
      --x;
      continue;
    }
    Big dq = den;  // 2 (num - den q) against den: the rounding
    MulSmall(&dq, q);
    Sub(&num, dq);
    MulSmall(&num, 2);
    const int c = Compare(num, den);
    if (c > 0 || (c == 0 && (q & 1))) ++q;
    if (q == 10000000) {
      q = 1000000;
      ++x;
    }
    n = q;
    break;
  }
  char digits[8];
  for (int i = 6; i >= 0; --i, n /= 10) digits[i] = char('0' + n % 10);
  int len = 7;
  while (len > 1 && digits[len - 1] == '0') --len;  // %g drops trailing zeros
  if (x < -4 || x >= 7) {  // d.dddddde+XX
    out.push_back(digits[0]);
    if (len > 1) out += "." + std::string(digits + 1, digits + len);
    out += x < 0 ? "e-" : "e+";
    const int ax = std::abs(x);
    if (ax < 10) out.push_back('0');
    out += std::to_string(ax);
  } else if (x >= 0) {  // ddd.dddd
    out.append(digits, digits + x + 1);
    if (len > x + 1) out += "." + std::string(digits + x + 1, digits + len);
  } else {  // 0.000ddd
    out += "0." + std::string(size_t(-x - 1), '0') + std::string(digits, digits + len);
  }
  return out;
}

}  // namespace catdog::jsonu

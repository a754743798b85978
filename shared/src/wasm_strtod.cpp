// strtod for the wasm core (Emscripten only; native builds use the C library's).
//
// The one caller in the core is nlohmann::json's lexer (every number of model.json with a '.' or an
// exponent). The C library of Emscripten 3.1.6 (musl) converts through 128-bit long double, whose
// software arithmetic (__addtf3, __multf3, __divtf3, fmodl, ...) made strtod about 7 KB gzip of the
// page weight. This one is correctly rounded too, and small:
//   - Clinger's fast path where it is exact: at most 19 significant digits whose value fits in 53 bits,
//     times or divided by an exactly representable power of ten (10^0..10^22): one IEEE operation,
//     hence correctly rounded. This covers most numbers of a Keras config (0.5, 1e-05, 0.001, 3, ...).
//   - otherwise the JavaScript engine's Number(): the decimal syntax that strtod accepts is a
//     StrDecimalLiteral of ECMAScript, and engines convert it correctly rounded (V8: src/numbers/
//     strtod.cc with its bignum fallback; SpiderMonkey and JavaScriptCore: David Gay's dtoa). The
//     long spellings of float32 values (0.9900000095367432, 1.0000000474974513e-3) take this way.
// Accepted like C's strtod: leading white space, a sign, decimal digits with an optional point and an
// optional exponent, and "inf", "infinity", "nan", "nan(chars)" in any case. Hexadecimal floats
// ("0x1p3") are not converted (only their leading "0" is read): JSON has none and nothing else in the
// core calls strtod. errno is ERANGE on overflow and on a non-zero value that rounds to 0.
// Linked in place of the C library's by `--wrap=strtod` (catdog_core's link option under Emscripten,
// so the web modules and the wasm test suites both get it): every call of strtod in the program
// comes here; musl's strtod.o is then linked only where something else needs it (libc++'s
// std::stof and the iostreams' number parsing use strtof/strtold_l), and dropped as unused code in
// the web modules.
#ifdef __EMSCRIPTEN__
#include <emscripten/emscripten.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>

// The characters [p, p + n) are a decimal number in the syntax above (sign, digits, point, exponent).
EM_JS(double, catdog_js_number, (const char* p, int n), {
  var s = "";
  for (var i = 0; i < n; i++) s += String.fromCharCode(HEAPU8[p + i]);
  return Number(s);
});

namespace {

bool IsSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// s starts with the lower-case word w, in any case.
bool StartsWithWord(const char* s, const char* w) {
  for (; *w; ++s, ++w)
    if (Lower(*s) != *w) return false;
  return true;
}

double Parse(const char* s, char** end) {
  const char* p = s;
  while (IsSpace(*p)) ++p;
  const char* num = p;  // the number, sign included (what Number() gets)
  const bool neg = *p == '-';
  if (*p == '-' || *p == '+') ++p;
  if (StartsWithWord(p, "inf")) {
    p += StartsWithWord(p, "infinity") ? 8 : 3;
    if (end) *end = const_cast<char*>(p);
    return neg ? -HUGE_VAL : HUGE_VAL;
  }
  if (StartsWithWord(p, "nan")) {
    p += 3;
    if (*p == '(') {  // nan(n-char-sequence)
      const char* q = p + 1;
      while (IsDigit(*q) || (Lower(*q) >= 'a' && Lower(*q) <= 'z') || *q == '_') ++q;
      if (*q == ')') p = q + 1;
    }
    if (end) *end = const_cast<char*>(p);
    return neg ? -NAN : NAN;
  }
  uint64_t m = 0;     // the first 19 significant digits
  int digits = 0;     // significant digits seen (leading zeros are not)
  int exp10 = 0;      // value = m * 10^exp10 when digits <= 19
  bool any = false;   // a digit at all
  bool point = false;
  for (;; ++p) {
    if (*p == '.' && !point) {
      point = true;
      continue;
    }
    if (!IsDigit(*p)) break;
    any = true;
    if (digits == 0 && *p == '0') {
      if (point) --exp10;
      continue;
    }
    if (digits < 19) {
      m = m * 10 + uint64_t(*p - '0');
      if (point) --exp10;
    } else if (!point) {
      ++exp10;
    }
    ++digits;
  }
  if (!any) {  // no number: nothing is read
    if (end) *end = const_cast<char*>(s);
    return 0;
  }
  if (*p == 'e' || *p == 'E') {
    const char* q = p + 1;
    bool eneg = *q == '-';
    if (*q == '-' || *q == '+') ++q;
    if (IsDigit(*q)) {
      int e = 0;
      for (; IsDigit(*q); ++q)
        if (e < 100000) e = e * 10 + (*q - '0');
      exp10 += eneg ? -e : e;
      p = q;
    }
  }
  if (end) *end = const_cast<char*>(p);
  if (m == 0) return neg ? -0.0 : 0.0;
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                      1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  if (digits <= 19 && m <= (uint64_t(1) << 53) && exp10 >= -22 && exp10 <= 22) {
    const double v = double(m);  // exact
    const double r = exp10 < 0 ? v / kPow10[-exp10] : v * kPow10[exp10];
    return neg ? -r : r;
  }
  const double r = catdog_js_number(num, int(p - num));
  if (std::isinf(r) || r == 0) errno = ERANGE;
  return r;
}

}  // namespace

extern "C" double __wrap_strtod(const char* s, char** end) { return Parse(s, end); }
#endif  // __EMSCRIPTEN__

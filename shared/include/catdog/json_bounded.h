// Parsing untrusted JSON (model.json, pack.json, run cards, checkpoint metadata) with a nesting
// limit. nlohmann's parser itself is iterative, but dump(), copies and every walk the project does
// afterwards recurse once per level: a value nested 100,000 arrays deep inside an accepted
// document overflows the stack there. The limit is enforced while parsing (a SAX wrapper that stops
// at the first level too deep), so no such value is ever built. Never throws (the wasm core has
// exceptions disabled). Header-only: the core and the CLI share it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#ifdef __EMSCRIPTEN__
// The wasm core links no printf (its float formatting is most of 5 KB gzip of the page weight):
// nlohmann's lexer writes a control character of the offending token into the error message with
// snprintf("<U+%.4X>"). This is the same member for the one lexer the core instantiates (Parse below,
// json from a char range), writing the same text without snprintf.
template <>
inline std::string nlohmann::detail::lexer<
    nlohmann::json, nlohmann::detail::iterator_input_adapter<const char*>>::get_token_string() const {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string result;
  for (const char c : token_string) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x1F) {
      result += "<U+00";
      result.push_back(kHex[u >> 4]);
      result.push_back(kHex[u & 15]);
      result.push_back('>');
    } else {
      result.push_back(c);
    }
  }
  return result;
}
#endif

namespace catdog::jsonb {

// Deeper than any file the project writes or reads (a TF.js model.json nests about 12 levels; a
// nested Keras 3 functional model, twice that), shallow enough for every recursive walk.
constexpr int kMaxDepth = 128;

namespace detail {
// Forwards every event to nlohmann's own DOM builder and counts open arrays/objects.
template <class BasicJson>
class DepthLimitedSax {
 public:
  using number_integer_t = typename BasicJson::number_integer_t;
  using number_unsigned_t = typename BasicJson::number_unsigned_t;
  using number_float_t = typename BasicJson::number_float_t;
  using string_t = typename BasicJson::string_t;
  using binary_t = typename BasicJson::binary_t;

  DepthLimitedSax(BasicJson* out, int max_depth) : dom_(*out, false), max_depth_(max_depth) {}

  bool null() { return dom_.null(); }
  bool boolean(bool v) { return dom_.boolean(v); }
  bool number_integer(number_integer_t v) { return dom_.number_integer(v); }
  bool number_unsigned(number_unsigned_t v) { return dom_.number_unsigned(v); }
  bool number_float(number_float_t v, const string_t& s) { return dom_.number_float(v, s); }
  bool string(string_t& v) { return dom_.string(v); }
  bool binary(binary_t& v) { return dom_.binary(v); }
  bool start_object(std::size_t n) { return Open() && dom_.start_object(n); }
  bool key(string_t& v) { return dom_.key(v); }
  bool end_object() { --depth_; return dom_.end_object(); }
  bool start_array(std::size_t n) { return Open() && dom_.start_array(n); }
  bool end_array() { --depth_; return dom_.end_array(); }
  bool parse_error(std::size_t position, const std::string& last_token, const nlohmann::detail::exception&) {
    error_pos = position;
    error_token = last_token;
    return false;
  }

  bool too_deep = false;
  std::size_t error_pos = 0;
  std::string error_token;

 private:
  bool Open() {
    if (++depth_ > max_depth_) too_deep = true;
    return !too_deep;
  }
  nlohmann::detail::json_sax_dom_parser<BasicJson> dom_;
  int max_depth_;
  int depth_ = 0;
};
}  // namespace detail

// Parses `text` into *out. On failure *out is null and *error says why, starting with `source`
// (the file's name): "invalid JSON at line L, column C (byte B) near 'tok'" or "JSON nested deeper
// than 128 levels". Works for nlohmann::json and nlohmann::ordered_json.
template <class BasicJson>
bool Parse(std::string_view text, BasicJson* out, std::string* error, std::string_view source,
           int max_depth = kMaxDepth) {
  BasicJson result;
  detail::DepthLimitedSax<BasicJson> sax(&result, max_depth);
  // nlohmann's JSON parser itself, as BasicJson::sax_parse(text.begin(), text.end(), &sax) runs it for
  // text: sax_parse also instantiates the binary readers (CBOR, MessagePack, UBJSON, BSON) for its
  // other input formats, which link printf into the wasm module.
  auto input = nlohmann::detail::input_adapter(text.data(), text.data() + text.size());
  const bool ok = nlohmann::detail::parser<BasicJson, decltype(input)>(std::move(input), nullptr, true, false)
                      .sax_parse(&sax, true);
  if (ok && !sax.too_deep && !result.is_discarded()) {
    *out = std::move(result);
    return true;
  }
  *out = BasicJson();
  std::string msg(source);
  if (sax.too_deep) {
    msg += ": JSON nested deeper than " + std::to_string(max_depth) + " levels (arrays/objects inside each other)";
  } else {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < sax.error_pos && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    // The token is quoted as printable ASCII: the message may end up in JSON output, which must
    // stay valid UTF-8 whatever bytes the file held.
    std::string token = sax.error_token.substr(0, 40);
    for (char& c : token) c = (c >= 0x20 && c < 0x7f) ? c : '?';
    msg += ": invalid JSON at line " + std::to_string(line) + ", column " + std::to_string(col) + " (byte " +
           std::to_string(sax.error_pos) + ") near '" + token + "'";
  }
  if (error) *error = std::move(msg);
  return false;
}

}  // namespace catdog::jsonb

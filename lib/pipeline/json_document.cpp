// A recursive-descent JSON reader that records the position of every value and key. The
// `${ENV}` substitution and `--set` overrides that edit its documents are in json_edits.cpp.
#include <sluice/pipeline/json_document.hpp>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "pipeline/json_chars.hpp"

namespace sluice::pipeline {

namespace {

using ojson = nlohmann::ordered_json;

using internal::is_digit;
using internal::is_word_char;

/// The length of the valid UTF-8 sequence starting at `s[i]`, or 0 if it is not one (overlong
/// forms, surrogates and code points beyond U+10FFFF are invalid).
std::size_t utf8_length(std::string_view s, std::size_t i) {
  auto at = [&](std::size_t k) -> unsigned { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0; };
  auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
    return at(k) >= lo && at(k) <= hi;
  };
  const unsigned c = at(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (c >= 0xE1 && c <= 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string hex(unsigned v, int width) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string s(static_cast<std::size_t>(width), '0');
  for (int i = width - 1; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = digits[v & 0xF];
  return s;
}

/// How to name the character at `s[i]` in a message: `'x'`, `'é'`, `end of input`, `byte 0xFF`.
std::string describe(std::string_view s, std::size_t i) {
  if (i >= s.size()) return "end of input";
  const auto c = static_cast<unsigned char>(s[i]);
  if (c == '\'') return "\"'\"";
  if (c < 0x20 || c == 0x7F) return "control character U+" + hex(c, 4);
  const std::size_t n = utf8_length(s, i);
  if (n == 0) return "byte 0x" + hex(c, 2);
  return "'" + std::string(s.substr(i, n)) + "'";
}

std::string position_text(std::size_t line, std::size_t column) {
  return std::to_string(line) + ":" + std::to_string(column);
}

/// The decimal exponent of the leading digit of a JSON number (`0.05` -> -2, `123e4` -> 6), to
/// tell an underflow from an overflow when from_chars reports a number out of range.
long long decimal_magnitude(std::string_view number) {
  long long exponent = 0;
  const auto e = number.find_first_of("eE");
  if (e != std::string_view::npos) {
    std::string_view digits = number.substr(e + 1);
    const bool negative = !digits.empty() && digits[0] == '-';
    if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) digits.remove_prefix(1);
    if (std::from_chars(digits.data(), digits.data() + digits.size(), exponent).ec != std::errc{})
      exponent = std::numeric_limits<long long>::max() / 2;
    if (negative) exponent = -exponent;
    number = number.substr(0, e);
  }
  if (!number.empty() && number[0] == '-') number.remove_prefix(1);
  const auto dot = std::min(number.find('.'), number.size());
  const auto first = number.find_first_not_of("0.");
  if (first == std::string_view::npos) return exponent;
  return exponent + (first < dot ? static_cast<long long>(dot - first) - 1
                                 : -static_cast<long long>(first - dot));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The parser. It is the friend json_document names, so it fills the document in place.

class json_document_builder {
 public:
  json_document_builder(std::string_view text, std::string file)
      : text_(text), doc_(ojson{}, std::move(file)) {}

  document_result run() {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // a UTF-8 byte order mark
    if (skip_space()) {
      if (at_end())
        fail(here(), "empty document", "a JSON value, e.g. an object { ... }");
      else if (parse_value(doc_.value_) && skip_space() && !at_end())
        fail(here(), "unexpected " + describe(text_, pos_) + " after the end of the document",
             "nothing more: a file holds one JSON value");
    }
    if (!diagnostics_.empty()) return document_result(std::move(diagnostics_));
    return document_result(std::move(doc_));
  }

 private:
  struct mark {
    std::size_t line;
    std::size_t column;
  };

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }
  mark here() const { return {line_, column_}; }

  void advance() {
    const auto c = static_cast<unsigned char>(text_[pos_++]);
    if (c == '\n') {
      ++line_;
      column_ = 1;
    } else if ((c & 0xC0) != 0x80) {  // a column is a code point: continuation bytes add none
      ++column_;
    }
  }

  bool fail(mark at, std::string problem, std::string expected) {
    diagnostics_.push_back(diagnostic{source_location{doc_.file_, at.line, at.column}, pointer_,
                                      std::move(problem), std::move(expected)});
    return false;
  }
  bool fail_unexpected(std::string expected) {
    return fail(here(), "unexpected " + describe(text_, pos_), std::move(expected));
  }

  /// Skips whitespace and comments; false (with a diagnostic) on a malformed comment.
  bool skip_space() {
    while (!at_end()) {
      const char c = peek();
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        advance();
      } else if (c == '/') {
        if (!skip_comment()) return false;
      } else {
        break;
      }
    }
    return true;
  }

  bool skip_comment() {
    const mark open = here();
    const char kind = pos_ + 1 < text_.size() ? text_[pos_ + 1] : '\0';
    if (kind == '/') {
      while (!at_end() && peek() != '\n') advance();
      return true;
    }
    if (kind != '*') return fail_unexpected("'//' or '/*' to start a comment");
    advance();
    advance();
    while (!at_end() && text_.substr(pos_, 2) != "*/") advance();
    if (at_end()) return fail(open, "unterminated /* comment", "'*/' to close it");
    advance();
    advance();
    return true;
  }

  void record_value_position(mark at) {
    auto& node = doc_.positions_[pointer_];
    if (node.value.line == 0) node.value = {at.line, at.column, {}};  // a duplicate keeps the first
  }

  bool parse_value(ojson& out) {
    if (!skip_space()) return false;
    record_value_position(here());
    const char c = peek();
    if (c == '{') return parse_object(out);
    if (c == '[') return parse_array(out);
    if (c == '"') {
      std::string s;
      if (!parse_string(s)) return false;
      out = std::move(s);
      return true;
    }
    if (c == '-' || is_digit(c)) return parse_number(out);
    if (is_word_char(c)) return parse_word(out);
    return fail_unexpected(
        "a value: an object, an array, a \"string\", a number, true, false or null");
  }

  bool enter(mark open) {
    if (++depth_ <= max_depth) return true;
    return fail(open, "nesting deeper than " + std::to_string(max_depth) + " levels",
                "at most " + std::to_string(max_depth) + " nested arrays and objects");
  }

  /// After a member or element: true with `more` set on ',' (rejecting a trailing comma), true
  /// with `more` clear on the closing bracket, false with a diagnostic otherwise.
  bool parse_separator(char close, mark open, const char* what, bool& more) {
    if (!skip_space()) return false;
    const std::string noun = close == '}' ? "object" : "array";
    if (peek() == ',') {
      const mark comma = here();
      advance();
      if (!skip_space()) return false;
      if (peek() == close)
        return fail(comma, "trailing comma before '" + std::string(1, close) + "'",
                    std::string("another ") + what + " after ',', or no ','");
      more = true;
      return true;
    }
    if (peek() == close) {
      advance();
      more = false;
      return true;
    }
    if (at_end())
      return fail(here(), "unexpected end of input: the " + noun + " opened at " +
                              position_text(open.line, open.column) + " is not closed",
                  "',' or '" + std::string(1, close) + "'");
    return fail_unexpected("',' or '" + std::string(1, close) + "' after an " + what);
  }

  bool parse_object(ojson& out) {
    const mark open = here();
    advance();
    out = ojson::object();
    if (!enter(open) || !skip_space()) return false;
    auto& members = out.get_ref<ojson::object_t&>();
    std::unordered_map<std::string, mark> seen;
    bool more = peek() != '}';
    if (!more) advance();
    while (more) {
      if (!skip_space()) return false;
      if (peek() != '"') return fail_unexpected("a member name in double quotes");
      const mark key_at = here();
      std::string key;
      if (!parse_string(key) || !skip_space()) return false;
      if (peek() != ':') return fail_unexpected("':' after the member name");
      advance();
      const auto [first, is_new] = seen.try_emplace(key, key_at);
      if (!is_new) {
        fail(key_at, "duplicate key \"" + key + "\", first at " +
                         position_text(first->second.line, first->second.column),
             "each key at most once in an object");
      }
      const std::size_t parent_length = pointer_.size();
      pointer_ += '/';
      pointer_ += escape_pointer_segment(key);
      auto& node = doc_.positions_[pointer_];
      if (!node.key) node.key = json_document::position{key_at.line, key_at.column, {}};
      ojson value;
      if (!parse_value(value)) return false;
      pointer_.resize(parent_length);
      // Keys are unique by now (`seen`), so append without ordered_map's linear lookup.
      if (is_new) members.emplace_back(std::move(key), std::move(value));
      if (!parse_separator('}', open, "object member", more)) return false;
    }
    --depth_;
    return true;
  }

  bool parse_array(ojson& out) {
    const mark open = here();
    advance();
    out = ojson::array();
    if (!enter(open) || !skip_space()) return false;
    bool more = peek() != ']';
    if (!more) advance();
    for (std::size_t index = 0; more; ++index) {
      const std::size_t parent_length = pointer_.size();
      pointer_ += '/';
      pointer_ += std::to_string(index);
      ojson value;
      if (!parse_value(value)) return false;
      pointer_.resize(parent_length);
      out.push_back(std::move(value));
      if (!parse_separator(']', open, "array element", more)) return false;
    }
    --depth_;
    return true;
  }

  bool parse_string(std::string& out) {
    const mark open = here();
    advance();
    while (true) {
      if (at_end()) return fail(open, "unterminated string", "a closing '\"'");
      const auto c = static_cast<unsigned char>(peek());
      if (c == '"') {
        advance();
        return true;
      }
      if (c == '\\') {
        if (!parse_escape(open, out)) return false;
      } else if (c == '\n' || c == '\r') {
        return fail(open, "unterminated string: a line break comes before its closing '\"'",
                    "'\"' before the end of the line (write \\n for a line break in a string)");
      } else if (c < 0x20) {
        return fail(here(), "unescaped control character U+" + hex(c, 4) + " in a string",
                    "an escape such as \\t or \\u" + hex(c, 4));
      } else {
        const std::size_t n = utf8_length(text_, pos_);
        if (n == 0) return fail(here(), "invalid UTF-8 (byte 0x" + hex(c, 2) + ") in a string",
                                "UTF-8 text");
        out.append(text_.substr(pos_, n));
        for (std::size_t i = 0; i < n; ++i) advance();
      }
    }
  }

  bool parse_escape(mark open, std::string& out) {
    const mark at = here();
    advance();
    if (at_end()) return fail(open, "unterminated string", "a closing '\"'");
    const char c = peek();
    static constexpr std::string_view simple = "\"\\/bfnrt";
    static constexpr std::string_view meaning = "\"\\/\b\f\n\r\t";
    if (const auto k = simple.find(c); k != std::string_view::npos) {
      out += meaning[k];
      advance();
      return true;
    }
    if (c != 'u')
      return fail(at, "invalid escape: '\\' followed by " + describe(text_, pos_) + " in a string",
                  "one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX");
    std::uint32_t cp = 0;
    if (!parse_hex4(at, cp)) return false;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
      return fail(at, "unpaired low surrogate \\u" + hex(cp, 4),
                  "a high surrogate \\uD800-\\uDBFF before it");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      const mark low_at = here();
      std::uint32_t low = 0;
      if (text_.substr(pos_, 2) != "\\u")
        return fail(at, "unpaired high surrogate \\u" + hex(cp, 4),
                    "a low surrogate \\uDC00-\\uDFFF right after it");
      advance();
      if (!parse_hex4(low_at, low)) return false;
      if (low < 0xDC00 || low > 0xDFFF)
        return fail(at, "unpaired high surrogate \\u" + hex(cp, 4),
                    "a low surrogate \\uDC00-\\uDFFF right after it");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(out, cp);
    return true;
  }

  /// At the 'u' of `\uXXXX` (the backslash is at `at`): reads the four hex digits.
  bool parse_hex4(mark at, std::uint32_t& cp) {
    advance();  // 'u'
    const std::string_view digits = text_.substr(pos_, 4);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), cp, 16);
    if (digits.size() != 4 || ec != std::errc{} || end != digits.data() + 4)
      return fail(at, "invalid \\u escape", "four hex digits after \\u");
    for (int i = 0; i < 4; ++i) advance();
    return true;
  }

  bool skip_digits(const char* expected) {
    if (!is_digit(peek())) return fail_unexpected(expected);
    while (is_digit(peek())) advance();
    return true;
  }

  template <class Number>
  static bool assign(ojson& out, Number n) {
    out = n;
    return true;
  }

  bool parse_number(ojson& out) {
    const mark start = here();
    const std::size_t begin = pos_;
    if (peek() == '-') advance();
    if (peek() == '0' && pos_ + 1 < text_.size() && is_digit(text_[pos_ + 1]))
      return fail(here(), "leading zero in a number",
                  "no leading zeros: 0, 0.5 or 10 (quote identifiers like \"007\")");
    if (!skip_digits("a digit after '-'")) return false;
    bool integral = true;
    if (peek() == '.') {
      integral = false;
      advance();
      if (!skip_digits("a digit after '.'")) return false;
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      advance();
      if (peek() == '+' || peek() == '-') advance();
      if (!skip_digits("a digit in the exponent")) return false;
    }
    const std::string_view text = text_.substr(begin, pos_ - begin);
    const char* first = text.data();
    const char* last = text.data() + text.size();
    if (integral && text[0] == '-') {
      std::int64_t i = 0;
      if (std::from_chars(first, last, i).ec == std::errc{}) return assign(out, i);
    } else if (integral) {
      std::uint64_t u = 0;
      if (std::from_chars(first, last, u).ec == std::errc{}) return assign(out, u);
    }
    double d = 0;
    if (std::from_chars(first, last, d).ec == std::errc{}) return assign(out, d);
    if (decimal_magnitude(text) < 0) return assign(out, text[0] == '-' ? -0.0 : 0.0);
    return fail(start, "number out of range: " + std::string(text),
                "a magnitude of at most 1.7976931348623157e308");
  }

  bool parse_word(ojson& out) {
    const mark start = here();
    const std::size_t begin = pos_;
    while (is_word_char(peek())) advance();
    const std::string_view word = text_.substr(begin, pos_ - begin);
    if (word == "true" || word == "false" || word == "null") {
      out = word == "null" ? ojson(nullptr) : ojson(word == "true");
      return true;
    }
    const std::string shown = word.size() > 32 ? std::string(word.substr(0, 32)) + "..."
                                               : std::string(word);
    return fail(start, "unexpected word '" + shown + "'",
                "a value; strings are written in double quotes, and the literals are true, "
                "false and null");
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
  std::size_t column_ = 1;
  std::size_t depth_ = 0;
  std::string pointer_;
  json_document doc_;
  std::vector<diagnostic> diagnostics_;
};

// ---------------------------------------------------------------------------------------------

std::string escape_pointer_segment(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (const char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

std::string diagnostic::to_string() const {
  std::string prefix = where.file.empty() ? "<input>" : where.file;
  if (where.line != 0) prefix += ":" + position_text(where.line, where.column);
  prefix += ": ";
  if (where.line != 0 || !pointer.empty()) prefix += (pointer.empty() ? "/" : pointer) + ": ";
  // A problem of several lines (a jq compile error) repeats the prefix on each.
  std::string s = prefix_lines(problem, prefix, prefix);
  if (!expected.empty()) s += " (" + expected + ")";
  return s;
}

std::string prefix_lines(std::string_view text, std::string_view first, std::string_view rest) {
  std::string s;
  bool started = false;
  std::size_t from = 0;
  while (from <= text.size()) {
    const std::size_t to = std::min(text.find('\n', from), text.size());
    std::string_view line = text.substr(from, to - from);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.remove_suffix(1);
    if (!line.empty() || !started) {
      if (started) s += '\n';
      s += started ? rest : first;
      s += line;
      started = true;
    }
    from = to + 1;
  }
  return s;
}

json_document::json_document(nlohmann::ordered_json value, std::string file)
    : value_(std::move(value)), file_(std::move(file)) {}

const json_document::node_position* json_document::nearest(std::string_view pointer) const {
  while (true) {
    if (const auto it = positions_.find(pointer); it != positions_.end()) return &it->second;
    if (pointer.empty()) return nullptr;
    const auto slash = pointer.rfind('/');
    pointer = pointer.substr(0, slash == std::string_view::npos ? 0 : slash);
  }
}

source_location json_document::located(const position& p) const {
  return {p.origin.empty() ? file_ : p.origin, p.line, p.column};
}

source_location json_document::where(std::string_view pointer) const {
  const node_position* node = nearest(pointer);
  return node ? located(node->value) : source_location{file_, 0, 0};
}

source_location json_document::key_where(std::string_view pointer) const {
  if (const auto it = positions_.find(pointer); it != positions_.end() && it->second.key)
    return located(*it->second.key);
  return where(pointer);
}

json_document& document_result::value() & {
  if (!has_value()) {
    std::string text = "no document:";
    for (const auto& d : diagnostics()) {
      text += '\n';
      text += d.to_string();
    }
    throw std::logic_error(text);
  }
  return std::get<json_document>(state_);
}

const json_document& document_result::value() const& {
  return const_cast<document_result*>(this)->value();
}

json_document&& document_result::value() && { return std::move(value()); }

const std::vector<diagnostic>& document_result::diagnostics() const noexcept {
  static const std::vector<diagnostic> none;
  const auto* d = std::get_if<std::vector<diagnostic>>(&state_);
  return d ? *d : none;
}

document_result parse_document(std::string_view text, std::string file) {
  return json_document_builder(text, std::move(file)).run();
}

document_result read_document(const std::filesystem::path& path) {
  const std::string name = path.string();
  auto cannot_read = [&](int error) {
    return document_result(std::vector<diagnostic>{diagnostic{
        source_location{name, 0, 0}, "", "cannot read: " + std::system_category().message(error),
        ""}});
  };
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(name.c_str(), "rb"),
                                                             &std::fclose);
  if (!file) return cannot_read(errno);
  std::string text;
  char buffer[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) text.append(buffer, n);
  if (std::ferror(file.get())) return cannot_read(errno);
  return parse_document(text, name);
}

}  // namespace sluice::pipeline

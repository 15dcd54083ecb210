// Events and libjq's jv: the jq -c writer, the jv payload, and the jq bridge (see event_jq.hpp).
#include "pipeline/event_jq.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cfloat>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>
#include <unordered_map>
#include <utility>

namespace sluice::pipeline::internal {

static_assert(json_padding == simdjson::SIMDJSON_PADDING, "event.hpp's padding is simdjson's");

// ---- the writer ---------------------------------------------------------------------------------

namespace {

/// The shortest digits of |d| (no leading sign) and the decimal point's position, as dtoa's mode 0
/// gives them: d = 0.DIGITS * 10^decpt.
struct shortest_digits {
  char digits[24];
  int count = 0;
  int decpt = 0;
};

shortest_digits digits_of(double d) {
  char buf[40];
  const auto r = std::to_chars(buf, buf + sizeof buf, std::fabs(d), std::chars_format::scientific);
  const std::string_view s(buf, static_cast<std::size_t>(r.ptr - buf));  // "1.2345e+17", "5e-324"
  const std::size_t e = s.find('e');
  shortest_digits out;
  for (std::size_t i = 0; i < e; ++i)
    if (s[i] != '.') out.digits[out.count++] = s[i];
  int exp = 0;
  const char* from = s.data() + e + 1 + (s[e + 1] == '+' ? 1 : 0);
  std::from_chars(from, s.data() + s.size(), exp);
  out.decpt = exp + 1;
  return out;
}

void append_exponent(int e, std::string& out) {
  out += e < 0 ? '-' : '+';
  if (e < 0) e = -e;
  if (e < 10) out += '0';  // jq prints at least two exponent digits
  out += std::to_string(e);
}

}  // namespace

// jq 1.6's jvp_dtoa_fmt (freedtoa's g_fmt): exponential when decpt <= -4 or decpt > digits + 15.
void append_jq_number(double d, std::string& out) {
  if (std::isnan(d)) {
    out += "null";
    return;
  }
  d = std::clamp(d, -DBL_MAX, DBL_MAX);  // jq prints infinities as the largest double
  const shortest_digits s = digits_of(d);
  if (std::signbit(d)) out += '-';
  const std::string_view digits(s.digits, static_cast<std::size_t>(s.count));
  if (s.decpt <= -4 || s.decpt > s.count + 15) {
    out += digits[0];
    if (s.count > 1) {
      out += '.';
      out.append(digits.substr(1));
    }
    out += 'e';
    append_exponent(s.decpt - 1, out);
  } else if (s.decpt <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-s.decpt), '0');
    out.append(digits);
  } else if (s.decpt >= s.count) {
    out.append(digits);
    out.append(static_cast<std::size_t>(s.decpt - s.count), '0');
  } else {
    out.append(digits.substr(0, static_cast<std::size_t>(s.decpt)));
    out += '.';
    out.append(digits.substr(static_cast<std::size_t>(s.decpt)));
  }
}

void append_jq_string(const char* p, std::size_t n, std::string& out) {
  out += '"';
  std::size_t run = 0;  // start of the bytes not written yet that need no escape
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(p[i]);
    if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7F) continue;
    out.append(p + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      default: {
        static constexpr char hex[] = "0123456789abcdef";
        const char u[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        out.append(u, sizeof u);
      }
    }
  }
  out.append(p + run, n - run);
  out += '"';
}

namespace {

void append_jv_string(jv s, std::string& out) {
  const int n = jv_string_length_bytes(jv_copy(s));
  append_jq_string(jv_string_value(s), static_cast<std::size_t>(n), out);
}

/// The writer's and the key writer's walk over arrays and objects; `number` prints numbers.
template <void (*Number)(double, std::string&)>
void append_value(jv v, std::string& out) {
  switch (jv_get_kind(v)) {
    case JV_KIND_INVALID:
    case JV_KIND_NULL: out += "null"; return;
    case JV_KIND_FALSE: out += "false"; return;
    case JV_KIND_TRUE: out += "true"; return;
    case JV_KIND_NUMBER: Number(jv_number_value(v), out); return;
    case JV_KIND_STRING: append_jv_string(v, out); return;
    case JV_KIND_ARRAY: {
      out += '[';
      const int n = jv_array_length(jv_copy(v));
      for (int i = 0; i < n; ++i) {
        if (i > 0) out += ',';
        jv e = jv_array_get(jv_copy(v), i);
        append_value<Number>(e, out);
        jv_free(e);
      }
      out += ']';
      return;
    }
    case JV_KIND_OBJECT: {
      out += '{';
      bool first = true;
      for (int it = jv_object_iter(v); jv_object_iter_valid(v, it); it = jv_object_iter_next(v, it)) {
        if (!first) out += ',';
        first = false;
        jv k = jv_object_iter_key(v, it);
        append_jv_string(k, out);
        jv_free(k);
        out += ':';
        jv e = jv_object_iter_value(v, it);
        append_value<Number>(e, out);
        jv_free(e);
      }
      out += '}';
      return;
    }
  }
}

}  // namespace

void append_jv(jv v, std::string& out) { append_value<append_jq_number>(v, out); }

void append_key_number(double d, std::string& out) {
  if (std::isnan(d)) {
    out += "null";
    return;
  }
  if (d == std::trunc(d) && d >= -9223372036854775808.0 && d < 18446744073709551616.0) {
    out += d < 0 ? std::to_string(static_cast<long long>(d)) : std::to_string(static_cast<unsigned long long>(d));
    return;
  }
  char buf[40];
  const auto r = std::to_chars(buf, buf + sizeof buf, d);
  out.append(buf, r.ptr);
}

// ---- the jv payload ---------------------------------------------------------------------------

event event_of_jv(jv v) noexcept {
  event::jv_bytes b;
  std::memcpy(b.bytes, &v, sizeof v);
  return event::adopt_jv(b);
}

jv jv_of_event(const event& e) noexcept {
  const event::jv_bytes b = e.jv_payload();
  jv v;
  std::memcpy(&v, b.bytes, sizeof v);
  return jv_copy(v);
}

namespace {

/// One RFC 6901 segment, unescaped (~1 -> /, ~0 -> ~).
std::string unescape_segment(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '~' && i + 1 < s.size() && (s[i + 1] == '0' || s[i + 1] == '1')) {
      out += s[++i] == '0' ? '~' : '/';
    } else {
      out += s[i];
    }
  }
  return out;
}

/// The member or element `segment` of `v` (consumed): invalid when there is none.
jv step(jv v, const std::string& segment) {
  if (jv_get_kind(v) == JV_KIND_OBJECT) return jv_object_get(v, jv_string_sized(segment.data(), static_cast<int>(segment.size())));
  if (jv_get_kind(v) != JV_KIND_ARRAY || segment.empty() || segment.size() > 9 ||
      segment.find_first_not_of("0123456789") != std::string::npos || (segment.size() > 1 && segment[0] == '0')) {
    jv_free(v);
    return jv_invalid();
  }
  const int i = std::stoi(segment);
  if (i >= jv_array_length(jv_copy(v))) {
    jv_free(v);
    return jv_invalid();
  }
  return jv_array_get(v, i);
}

}  // namespace

std::optional<std::string> jv_key_at(jv v, std::string_view pointer) {
  if (!pointer.empty() && pointer[0] != '/') return std::nullopt;
  jv cur = jv_copy(v);
  while (!pointer.empty() && jv_is_valid(cur)) {
    pointer.remove_prefix(1);
    const std::size_t end = std::min(pointer.find('/'), pointer.size());
    cur = step(cur, unescape_segment(pointer.substr(0, end)));
    pointer.remove_prefix(end);
  }
  if (!jv_is_valid(cur)) {
    jv_free(cur);
    return std::nullopt;
  }
  std::string out;
  append_value<append_key_number>(cur, out);
  jv_free(cur);
  return out;
}

// ---- the bridge -------------------------------------------------------------------------------

namespace {

/// Object keys seen before, as jv strings (see the file comment of event_jq.hpp). Bounded in count
/// and key length.
class key_cache {
 public:
  key_cache() = default;
  key_cache(const key_cache&) = delete;
  key_cache& operator=(const key_cache&) = delete;
  ~key_cache() {
    for (auto& entry : keys_) jv_free(entry.second);
  }

  /// A new reference to the jv string `k`.
  jv key(std::string_view k) {
    if (auto it = keys_.find(k); it != keys_.end()) return jv_copy(it->second);
    jv s = jv_string_sized(k.data(), static_cast<int>(k.size()));
    if (keys_.size() < max_keys && k.size() <= max_key_bytes) {
      try {
        keys_.emplace(std::string(k), jv_copy(s));
      } catch (...) {
        jv_free(s);  // the cache's copy, when emplace threw after taking none
        jv_free(s);
        throw;
      }
    }
    return s;
  }

 private:
  struct hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  static constexpr std::size_t max_keys = 1024;
  static constexpr std::size_t max_key_bytes = 64;
  std::unordered_map<std::string, jv, hash, std::equal_to<>> keys_;
};

}  // namespace

struct jq_bridge::state {
  explicit state(std::size_t depth) : parser(), max_depth(depth) {
    if (parser.allocate(4096, depth + 1) != simdjson::SUCCESS) throw std::bad_alloc();
  }
  simdjson::dom::parser parser;
  key_cache keys;
  std::size_t max_depth;
  std::string scratch;  ///< a small text with its padding
  std::string out;      ///< an output's text

  jv build(simdjson::dom::element el);
  jv build_object(simdjson::dom::object o);
};

jv jq_bridge::state::build(simdjson::dom::element el) {
  using simdjson::dom::element_type;
  switch (el.type()) {
    case element_type::ARRAY: {
      jv a = jv_array();
      int i = 0;
      for (simdjson::dom::element x : simdjson::dom::array(el)) a = jv_array_set(a, i++, build(x));
      return a;
    }
    case element_type::OBJECT: return build_object(simdjson::dom::object(el));
    case element_type::INT64: return jv_number(static_cast<double>(std::int64_t(el)));
    case element_type::UINT64: return jv_number(static_cast<double>(std::uint64_t(el)));
    case element_type::DOUBLE: return jv_number(double(el));
    case element_type::STRING: {
      const std::string_view s(el);
      return jv_string_sized(s.data(), static_cast<int>(s.size()));
    }
    case element_type::BOOL: return jv_bool(bool(el));
    case element_type::NULL_VALUE: return jv_null();
  }
  return jv_null();
}

jv jq_bridge::state::build_object(simdjson::dom::object o) {
  jv out = jv_object();
  for (simdjson::dom::key_value_pair member : o) {
    jv k = keys.key(member.key);
    out = jv_object_set(out, k, build(member.value));
  }
  return out;
}

jq_bridge::jq_bridge(std::size_t max_depth) : s_(std::make_unique<state>(max_depth)) {}
jq_bridge::~jq_bridge() = default;

jv jq_bridge::to_jv(const event& e) {
  if (!e.has_text()) return jv_of_event(e);
  std::string_view text = e.text();
  if (e.is_inline()) {  // no padding after it: copy it next to some
    s_->scratch.assign(text);
    s_->scratch.append(json_padding, '\0');
    text = std::string_view(s_->scratch.data(), text.size());
  }
  simdjson::dom::element root;
  if (s_->parser.parse(text.data(), text.size(), false).get(root) != simdjson::SUCCESS) return jv_invalid();
  return s_->build(root);
}

event jq_bridge::to_event(jv out, const event& input, jv input_jv) {
  if (jv_identical(jv_copy(out), jv_copy(input_jv)) != 0) {
    jv_free(out);
    return input;
  }
  s_->out.clear();
  try {
    append_jv(out, s_->out);
  } catch (...) {
    jv_free(out);
    throw;
  }
  jv_free(out);
  event e = event::from_text_unchecked(s_->out);
  e.set_metadata_from(input);
  return e;
}

}  // namespace sluice::pipeline::internal

// The native evaluator of jq's commonest forms (see jq_subset.hpp): a small parser, a tree of
// nodes, and an evaluator over simdjson's tree that gives up wherever jq would raise an error or
// the answer depends on something not modelled here.
#include "stages/jq_subset.hpp"

#include <charconv>
#include <cstdint>
#include <cstring>
#include <vector>

#include "pipeline/event_jq.hpp"

namespace sluice::stages::detail {

using simdjson::dom::element;
using simdjson::dom::element_type;

namespace {

/// Thrown by the evaluator to give the input to libjq; never leaves this file.
struct give_up {};

}  // namespace

struct jq_subset::node {
  enum class kind : std::uint8_t { identity, field, index, literal, pipe, select, compare, conj, disj, negate, object };
  enum class op : std::uint8_t { eq, ne, lt, le, gt, ge };
  kind what = kind::identity;
  op cmp = op::eq;
  std::shared_ptr<const node> a, b;  // operands; for field/index: a is the value indexed
  std::string name;                  // field name; string literal
  std::int64_t at = 0;               // index
  // literal: one of
  enum class lit : std::uint8_t { null, no, yes, number, string } literal = lit::null;
  double number = 0;
  std::vector<std::pair<std::string, std::shared_ptr<const node>>> entries;  // object
};

namespace {

using node = jq_subset::node;
using node_ptr = std::shared_ptr<const node>;

// ---- parsing ---------------------------------------------------------------------------------------

/// A recursive-descent parser of the subset; any token or form outside it makes compile() fail.
class parser {
 public:
  explicit parser(std::string_view text) : s_(text) {}

  node_ptr program() {
    node_ptr n = pipe();
    skip_space();
    if (!n || p_ != s_.size()) return nullptr;
    return n;
  }

 private:
  node_ptr pipe() {
    node_ptr left = disjunction();
    while (left && eat("|")) left = binary(node::kind::pipe, left, disjunction());
    return left;
  }
  node_ptr disjunction() {
    node_ptr left = conjunction();
    while (left && eat_word("or")) left = binary(node::kind::disj, left, conjunction());
    return left;
  }
  node_ptr conjunction() {
    node_ptr left = comparison();
    while (left && eat_word("and")) left = binary(node::kind::conj, left, comparison());
    return left;
  }
  node_ptr comparison() {
    node_ptr left = postfix();
    if (!left) return nullptr;
    static constexpr std::pair<const char*, node::op> ops[] = {{"==", node::op::eq}, {"!=", node::op::ne}, {"<=", node::op::le},
                                                               {">=", node::op::ge}, {"<", node::op::lt},  {">", node::op::gt}};
    for (const auto& [text, op] : ops) {
      if (!eat(text)) continue;
      auto n = std::make_shared<node>();
      n->what = node::kind::compare;
      n->cmp = op;
      n->a = left;
      n->b = postfix();
      return n->b ? n : nullptr;
    }
    return left;
  }
  /// A term followed by field and index suffixes.
  node_ptr postfix() {
    node_ptr t = term();
    while (t) {
      skip_space();
      if (at_field()) {
        ++p_;
        t = field(t);
      } else if (peek('[')) {
        ++p_;
        t = bracket(t);
      } else {
        break;
      }
    }
    return t;
  }
  node_ptr term() {
    skip_space();
    if (p_ >= s_.size()) return nullptr;
    const char c = s_[p_];
    if (c == '.') {
      ++p_;
      if (p_ < s_.size() && (ident_start(s_[p_]) || s_[p_] == '"')) return field(identity());
      return identity();
    }
    if (c == '(') {
      ++p_;
      node_ptr inner = pipe();
      return inner && eat(")") ? inner : nullptr;
    }
    if (c == '{') return object();
    if (c == '"') return string_literal();
    if (c == '-' || (c >= '0' && c <= '9')) return number_literal();
    if (eat_word("select")) {
      if (!eat("(")) return nullptr;
      auto n = std::make_shared<node>();
      n->what = node::kind::select;
      n->a = pipe();
      return n->a && eat(")") ? n : nullptr;
    }
    if (eat_word("not")) {
      auto n = std::make_shared<node>();
      n->what = node::kind::negate;
      return n;
    }
    if (eat_word("null")) return literal(node::lit::null);
    if (eat_word("true")) return literal(node::lit::yes);
    if (eat_word("false")) return literal(node::lit::no);
    return nullptr;
  }
  /// After a '.': an identifier or a string naming the field of `of`.
  node_ptr field(node_ptr of) {
    auto n = std::make_shared<node>();
    n->what = node::kind::field;
    n->a = std::move(of);
    if (p_ < s_.size() && s_[p_] == '"') {
      if (!string_text(n->name)) return nullptr;
      return n;
    }
    const std::size_t from = p_;
    while (p_ < s_.size() && ident_char(s_[p_])) ++p_;
    if (p_ == from) return nullptr;
    n->name = std::string(s_.substr(from, p_ - from));
    return n;
  }
  /// After a '[': "name"] or n] (a literal index).
  node_ptr bracket(node_ptr of) {
    skip_space();
    auto n = std::make_shared<node>();
    n->a = std::move(of);
    if (peek('"')) {
      n->what = node::kind::field;
      if (!string_text(n->name)) return nullptr;
    } else {
      n->what = node::kind::index;
      const char* first = s_.data() + p_;
      const auto [end, ec] = std::from_chars(first, s_.data() + s_.size(), n->at);
      if (ec != std::errc() || (end < s_.data() + s_.size() && (*end == '.' || *end == 'e' || *end == 'E'))) return nullptr;
      p_ += static_cast<std::size_t>(end - first);
    }
    return eat("]") ? n : nullptr;
  }
  node_ptr object() {
    ++p_;  // '{'
    auto n = std::make_shared<node>();
    n->what = node::kind::object;
    if (eat("}")) return n;
    do {
      skip_space();
      std::string key;
      if (peek('"')) {
        if (!string_text(key)) return nullptr;
      } else {
        const std::size_t from = p_;
        while (p_ < s_.size() && ident_char(s_[p_])) ++p_;
        if (p_ == from || !ident_start(s_[from])) return nullptr;
        key = std::string(s_.substr(from, p_ - from));
      }
      node_ptr value;
      if (eat(":")) {
        value = object_value();
      } else {  // {a} is {a: .a}
        auto f = std::make_shared<node>();
        f->what = node::kind::field;
        f->a = identity();
        f->name = key;
        value = f;
      }
      if (!value) return nullptr;
      n->entries.emplace_back(std::move(key), std::move(value));
    } while (eat(","));
    return eat("}") ? n : nullptr;
  }
  /// An object's value: jq allows terms joined by pipes there (ExpD).
  node_ptr object_value() {
    node_ptr left = postfix();
    while (left && eat("|")) left = binary(node::kind::pipe, left, postfix());
    return left;
  }
  node_ptr string_literal() {
    auto n = std::make_shared<node>();
    n->what = node::kind::literal;
    n->literal = node::lit::string;
    return string_text(n->name) ? n : nullptr;
  }
  node_ptr number_literal() {
    auto n = std::make_shared<node>();
    n->what = node::kind::literal;
    n->literal = node::lit::number;
    std::size_t q = p_;
    if (s_[q] == '-') {
      ++q;
      while (q < s_.size() && (s_[q] == ' ' || s_[q] == '\t')) ++q;
    }
    const char* first = s_.data() + q;
    const auto [end, ec] = std::from_chars(first, s_.data() + s_.size(), n->number);
    if (ec != std::errc() || first == end || !(*first >= '0' && *first <= '9')) return nullptr;
    if (s_[p_] == '-') n->number = -n->number;
    p_ = static_cast<std::size_t>(end - s_.data());
    return n;
  }
  /// A JSON-style string at p_ into `out`; false for anything jq would read differently
  /// (interpolation, escapes beyond the plain ones).
  bool string_text(std::string& out) {
    ++p_;  // '"'
    while (p_ < s_.size()) {
      const char c = s_[p_++];
      if (c == '"') return true;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (p_ >= s_.size()) return false;
      const char e = s_[p_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        default: return false;  // \( interpolation, \uXXXX, \b, \f: left to libjq
      }
    }
    return false;
  }

  static node_ptr identity() { return std::make_shared<node>(); }
  static node_ptr literal(node::lit l) {
    auto n = std::make_shared<node>();
    n->what = node::kind::literal;
    n->literal = l;
    return n;
  }
  static node_ptr binary(node::kind k, node_ptr a, node_ptr b) {
    if (!b) return nullptr;
    auto n = std::make_shared<node>();
    n->what = k;
    n->a = std::move(a);
    n->b = std::move(b);
    return n;
  }
  static bool ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
  static bool ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9'); }

  /// A '.' that starts a field suffix (`.a.b`, `.a."b"`), not a '.' of its own.
  bool at_field() const {
    return p_ + 1 < s_.size() && s_[p_] == '.' && (ident_start(s_[p_ + 1]) || s_[p_ + 1] == '"');
  }
  bool peek(char c) {
    skip_space();
    return p_ < s_.size() && s_[p_] == c;
  }
  bool eat(std::string_view token) {
    skip_space();
    if (s_.substr(p_, token.size()) != token) return false;
    // "|" must not be the start of "|=", "<" of "<=" when "<" is asked (ordered above), "=" alone is not ours
    if (token == "|" && p_ + 1 < s_.size() && s_[p_ + 1] == '=') return false;
    p_ += token.size();
    return true;
  }
  bool eat_word(std::string_view word) {
    skip_space();
    if (s_.substr(p_, word.size()) != word) return false;
    if (p_ + word.size() < s_.size() && ident_char(s_[p_ + word.size()])) return false;
    p_ += word.size();
    return true;
  }
  void skip_space() {
    while (p_ < s_.size()) {
      const char c = s_[p_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++p_;
      } else if (c == '#') {
        while (p_ < s_.size() && s_[p_] != '\n') ++p_;
      } else {
        break;
      }
    }
  }

  std::string_view s_;
  std::size_t p_ = 0;
};

// ---- evaluation ------------------------------------------------------------------------------------

/// A value during evaluation: a scalar, a container of the input's tree, or an object built and
/// already written as text.
struct value {
  enum class kind : std::uint8_t { null, no, yes, number, string, container, text };
  kind what = kind::null;
  bool root = false;  // the input itself (jq's output would be jv_identical to its input)
  double number = 0;
  std::string_view string;
  element container;
  std::string text;

  static value of(element e) {
    value v;
    switch (e.type()) {
      case element_type::NULL_VALUE: break;
      case element_type::BOOL: v.what = bool(e) ? kind::yes : kind::no; break;
      case element_type::INT64: v.what = kind::number; v.number = static_cast<double>(std::int64_t(e)); break;
      case element_type::UINT64: v.what = kind::number; v.number = static_cast<double>(std::uint64_t(e)); break;
      case element_type::DOUBLE: v.what = kind::number; v.number = double(e); break;
      case element_type::STRING: v.what = kind::string; v.string = std::string_view(e); break;
      case element_type::ARRAY:
      case element_type::OBJECT: v.what = kind::container; v.container = e; break;
    }
    return v;
  }
  static value boolean(bool b) {
    value v;
    v.what = b ? kind::yes : kind::no;
    return v;
  }
  bool truthy() const { return what != kind::null && what != kind::no; }
  bool scalar() const { return what != kind::container && what != kind::text; }
};

/// jq's order of scalars: null < false < true < numbers < strings (numbers as doubles, strings by
/// their bytes, a prefix first).
int compare(const value& x, const value& y) {
  if (x.what != y.what) return x.what < y.what ? -1 : 1;
  if (x.what == value::kind::number) return x.number < y.number ? -1 : x.number == y.number ? 0 : 1;
  if (x.what != value::kind::string) return 0;
  const int c = std::memcmp(x.string.data(), y.string.data(), std::min(x.string.size(), y.string.size()));
  if (c != 0) return c < 0 ? -1 : 1;
  return x.string.size() < y.string.size() ? -1 : x.string.size() == y.string.size() ? 0 : 1;
}

void write(const value& v, std::string& out);

void write_element(element e, std::string& out) {
  if (e.type() == element_type::ARRAY) {
    out += '[';
    bool first = true;
    for (element x : simdjson::dom::array(e)) {
      if (!first) out += ',';
      first = false;
      write_element(x, out);
    }
    out += ']';
    return;
  }
  if (e.type() != element_type::OBJECT) return write(value::of(e), out);
  const simdjson::dom::object o(e);
  // jq keeps a duplicate key's last value in the first one's place: not modelled, libjq decides.
  std::vector<std::string_view> keys;
  for (auto member : o) {
    for (std::string_view k : keys) {
      if (k == member.key) throw give_up{};
    }
    keys.push_back(member.key);
  }
  out += '{';
  bool first = true;
  for (auto member : o) {
    if (!first) out += ',';
    first = false;
    pipeline::internal::append_jq_string(member.key.data(), member.key.size(), out);
    out += ':';
    write_element(member.value, out);
  }
  out += '}';
}

void write(const value& v, std::string& out) {
  switch (v.what) {
    case value::kind::null: out += "null"; break;
    case value::kind::no: out += "false"; break;
    case value::kind::yes: out += "true"; break;
    case value::kind::number: pipeline::internal::append_jq_number(v.number, out); break;
    case value::kind::string: pipeline::internal::append_jq_string(v.string.data(), v.string.size(), out); break;
    case value::kind::container: write_element(v.container, out); break;
    case value::kind::text: out += v.text; break;
  }
}

/// .name of `v`: jq's rules for null and objects (the last of duplicate keys); else give up.
value field_of(const value& v, std::string_view name) {
  if (v.what == value::kind::null) return {};
  if (v.what != value::kind::container || v.container.type() != element_type::OBJECT) throw give_up{};
  std::optional<element> found;
  for (auto member : simdjson::dom::object(v.container)) {
    if (member.key == name) found = member.value;
  }
  return found ? value::of(*found) : value{};
}

/// .[i] of `v`: null for null and past the ends, from the end when negative; else give up.
value index_of(const value& v, std::int64_t i) {
  if (v.what == value::kind::null) return {};
  if (v.what != value::kind::container || v.container.type() != element_type::ARRAY) throw give_up{};
  const simdjson::dom::array a(v.container);
  const auto n = static_cast<std::int64_t>(a.size());
  if (i < 0) i += n;
  if (i < 0 || i >= n) return {};
  element e;
  if (a.at(static_cast<std::size_t>(i)).get(e) != simdjson::SUCCESS) throw give_up{};
  return value::of(e);
}

/// The program's output for `in`, if it has one (at most one: the subset has no generators).
std::optional<value> eval(const node& n, const value& in) {
  switch (n.what) {
    case node::kind::identity: return in;
    case node::kind::field: {
      auto of = eval(*n.a, in);
      if (!of) return std::nullopt;
      return field_of(*of, n.name);
    }
    case node::kind::index: {
      auto of = eval(*n.a, in);
      if (!of) return std::nullopt;
      return index_of(*of, n.at);
    }
    case node::kind::literal: {
      value v;
      switch (n.literal) {
        case node::lit::null: break;
        case node::lit::no: v.what = value::kind::no; break;
        case node::lit::yes: v.what = value::kind::yes; break;
        case node::lit::number: v.what = value::kind::number; v.number = n.number; break;
        case node::lit::string: v.what = value::kind::string; v.string = n.name; break;
      }
      return v;
    }
    case node::kind::pipe: {
      auto mid = eval(*n.a, in);
      if (!mid) return std::nullopt;
      return eval(*n.b, *mid);
    }
    case node::kind::select: {
      auto test = eval(*n.a, in);
      if (!test || !test->truthy()) return std::nullopt;
      return in;
    }
    case node::kind::compare: {
      // jq evaluates the right operand first (for generators; here only for errors: either
      // side's error ends the run the same way).
      auto y = eval(*n.b, in);
      auto x = eval(*n.a, in);
      if (!x || !y) return std::nullopt;
      if (!x->scalar() || !y->scalar()) throw give_up{};
      const int c = compare(*x, *y);
      switch (n.cmp) {
        case node::op::eq: return value::boolean(c == 0);
        case node::op::ne: return value::boolean(c != 0);
        case node::op::lt: return value::boolean(c < 0);
        case node::op::le: return value::boolean(c <= 0);
        case node::op::gt: return value::boolean(c > 0);
        case node::op::ge: return value::boolean(c >= 0);
      }
      return std::nullopt;
    }
    case node::kind::conj:
    case node::kind::disj: {
      auto x = eval(*n.a, in);
      if (!x) return std::nullopt;
      const bool is_and = n.what == node::kind::conj;
      if (x->truthy() != is_and) return value::boolean(!is_and);  // decided by the left operand
      auto y = eval(*n.b, in);
      if (!y) return std::nullopt;
      return value::boolean(y->truthy());
    }
    case node::kind::negate: return value::boolean(!in.truthy());
    case node::kind::object: {
      value v;
      v.what = value::kind::text;
      v.text += '{';
      std::vector<std::string_view> keys;  // a key given twice: jq keeps the last value in the first place
      for (const auto& [key, expr] : n.entries) {
        for (std::string_view k : keys) {
          if (k == key) throw give_up{};
        }
        keys.push_back(key);
        auto x = eval(*expr, in);
        if (!x) return std::nullopt;  // an entry with no value: no object at all
        if (v.text.size() > 1) v.text += ',';
        pipeline::internal::append_jq_string(key.data(), key.size(), v.text);
        v.text += ':';
        write(*x, v.text);
      }
      v.text += '}';
      return v;
    }
  }
  return std::nullopt;
}

/// Whether jq would find `out` identical to its input (jv_identical): the input itself; or, for
/// numbers, the same double; for null, true and false, the same kind.
bool identical_to_input(const value& out, const value& input) {
  if (out.root) return true;
  if (!input.scalar() || out.what != input.what) return false;
  if (out.what == value::kind::number) return std::memcmp(&out.number, &input.number, sizeof(double)) == 0;
  return out.what != value::kind::string;
}

}  // namespace

std::optional<jq_subset> jq_subset::compile(std::string_view program) {
  node_ptr root = parser(program).program();
  if (!root) return std::nullopt;
  return jq_subset(std::move(root));
}

jq_subset::outcome jq_subset::run(element input, std::string& out) const {
  const std::size_t size = out.size();
  try {
    value in = value::of(input);
    in.root = true;
    auto result = eval(*root_, in);
    if (!result) return outcome::empty;
    if (identical_to_input(*result, in)) return outcome::identity;
    write(*result, out);
    return outcome::written;
  } catch (const give_up&) {
    out.resize(size);
    return outcome::give_up;
  }
}

}  // namespace sluice::stages::detail

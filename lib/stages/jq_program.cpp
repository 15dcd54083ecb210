// The libjq wrapper behind the `jq` stage: compile, run, and convert between nlohmann::json and jv.
//
// libjq's ownership rule: every jv function consumes (frees) its jv arguments and returns a new
// reference, except jv_copy, jv_get_kind, jv_number_value, jv_string_value and the object
// iterator functions (jv_object_iter*, whose key and value results are new references). Every
// function below says which jv it consumes; a jv held across a call that may throw is owned by a
// `jv_owner` (or watched by a `jv_guard`) so that an exception frees it.
//
// libjq 1.6 quirks handled here (checked against the source and Debian's 1.6-2.1+deb12u3 binary):
// - jq_init leaves the nomem handler, the input callback and the debug callback uninitialised:
//   `new_state` sets all three before anything can call them.
// - jq_reset frees the halt exit code and message but leaves the freed values in place, so after
//   `halt_error` with an allocated message (a string, an array, an object) every later jq_start
//   and the final jq_teardown free that memory again: a use after free inside libjq, which ASan
//   cannot see (libjq is not instrumented) but valgrind reports. `forget_halt` repairs the state
//   after every halt.
// - Once jq_next has returned an invalid value, calling it again fails an assertion: `run` stops
//   at the first one.
// - `error(null)` is a plain invalid value in jq 1.6, so it behaves as `empty` (jq's behaviour,
//   kept).
#include <sluice/stages/jq_program.hpp>

#include "pipeline/event_jq.hpp"
#include "stages/jq_subset.hpp"

extern "C" {  // libjq 1.6's headers do not say so themselves
#include <jq.h>
#include <jv.h>
}

#include <algorithm>
#include <climits>
#include <exception>
#include <limits>
#include <cmath>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace sluice::stages {

using nlohmann::json;

namespace {

/// Owns one jv reference: frees it unless released.
class jv_owner {
 public:
  explicit jv_owner(jv v) noexcept : v_(v) {}
  jv_owner(const jv_owner&) = delete;
  jv_owner& operator=(const jv_owner&) = delete;
  ~jv_owner() { jv_free(v_); }
  [[nodiscard]] jv get() const noexcept { return v_; }
  [[nodiscard]] jv release() noexcept { return std::exchange(v_, jv_invalid()); }

 private:
  jv v_;
};

/// Watches a jv variable that is reassigned as it grows (`a = jv_array_set(a, ...)`): frees its
/// current value if the scope is left by an exception, unless released.
class jv_guard {
 public:
  explicit jv_guard(jv& v) noexcept : v_(&v) {}
  jv_guard(const jv_guard&) = delete;
  jv_guard& operator=(const jv_guard&) = delete;
  ~jv_guard() {
    if (v_ != nullptr) jv_free(*v_);
  }
  [[nodiscard]] jv release() noexcept { return *std::exchange(v_, nullptr); }

 private:
  jv* v_;
};

constexpr double two_to_53 = 9007199254740992.0;
constexpr int error_exit_code = 5;  // the jq CLI's exit status after a runtime error

/// `what` ("input", "output") is nested deeper than `limit`.
[[noreturn]] void too_deep(const char* what, std::size_t limit) {
  std::string text = std::string("jq ") + what + " nested deeper than max_depth (" + std::to_string(limit) + " levels)";
  json value = text;
  throw jq_error(text, std::move(value), error_exit_code, false);
}

/// Frees `v` without recursion: libjq's jv_free recurses once per level of nesting, which a value
/// built 100,000 levels deep (`reduce range(100000) as $i (0; [.])`) turns into a stack overflow.
/// A container this code holds the only reference to is opened: its members are taken out (new
/// references) before it is freed, so that free only drops references. Shared values just lose
/// ours.
void free_deep(jv v) {
  std::vector<jv> pending{v};
  while (!pending.empty()) {
    jv top = pending.back();
    pending.pop_back();
    const jv_kind kind = jv_get_kind(top);
    if ((kind == JV_KIND_ARRAY || kind == JV_KIND_OBJECT) && jv_get_refcnt(top) == 1) {
      if (kind == JV_KIND_ARRAY) {
        const int n = jv_array_length(jv_copy(top));
        for (int i = 0; i < n; ++i) pending.push_back(jv_array_get(jv_copy(top), i));
      } else {
        for (int it = jv_object_iter(top); jv_object_iter_valid(top, it); it = jv_object_iter_next(top, it)) {
          pending.push_back(jv_object_iter_value(top, it));
        }
      }
    }
    jv_free(top);
  }
}

int checked_size(std::size_t n) {
  if (n > static_cast<std::size_t>(INT_MAX)) throw std::length_error("value too large for jq");
  return static_cast<int>(n);
}

/// The text of a jv string (does not consume it).
std::string string_of(jv s) {
  const char* p = jv_string_value(s);
  return std::string(p, static_cast<std::size_t>(jv_string_length_bytes(jv_copy(s))));
}

// ---- json -> jv ----------------------------------------------------------------------------------

jv to_jv(const std::string& s) { return jv_string_sized(s.data(), checked_size(s.size())); }

/// Object keys seen before, as jv strings. Events repeat their keys; a cached key saves libjq an
/// allocation, a UTF-8 check and a hash per member (libjq keeps a string's hash in the string).
/// Bounded in count and key length. Owned by one jq_program, so used like its jq_state: by one
/// thread at a time (the cached strings' reference counts are not atomic).
class key_cache {
 public:
  key_cache() = default;
  key_cache(const key_cache&) = delete;
  key_cache& operator=(const key_cache&) = delete;
  ~key_cache() {
    for (auto& entry : keys_) jv_free(entry.second);
  }

  /// A new reference to the jv string `k`.
  jv key(const std::string& k) {
    if (auto it = keys_.find(k); it != keys_.end()) return jv_copy(it->second);
    jv_owner s(to_jv(k));
    if (keys_.size() < max_keys && k.size() <= max_key_bytes) {
      auto [it, inserted] = keys_.emplace(k, jv_null());  // may throw: nothing to undo yet
      it->second = jv_copy(s.get());
    }
    return s.release();
  }

 private:
  static constexpr std::size_t max_keys = 1024;
  static constexpr std::size_t max_key_bytes = 64;
  std::unordered_map<std::string, jv> keys_;
};

/// Converts nlohmann values to new jv values. Binary values become arrays of byte values.
class to_jv_converter {
 public:
  to_jv_converter(key_cache& keys, std::size_t limit) noexcept : keys_(keys), limit_(limit) {}

  jv operator()(const json& j, std::size_t depth = 0) {
    switch (j.type()) {
      case json::value_t::null:
      case json::value_t::discarded: return jv_null();
      case json::value_t::boolean: return jv_bool(j.get<bool>());
      case json::value_t::number_integer: return jv_number(static_cast<double>(j.get<std::int64_t>()));
      case json::value_t::number_unsigned: return jv_number(static_cast<double>(j.get<std::uint64_t>()));
      case json::value_t::number_float: return jv_number(j.get<double>());
      case json::value_t::string: return to_jv(j.get_ref<const std::string&>());
      case json::value_t::binary: return binary(j.get_binary());
      case json::value_t::array:
        if (depth >= limit_) too_deep("input", limit_);
        return array(j, depth);
      case json::value_t::object:
        if (depth >= limit_) too_deep("input", limit_);
        return object(j, depth);
    }
    return jv_null();
  }

 private:
  jv array(const json& j, std::size_t depth) {
    jv a = jv_array_sized(checked_size(j.size()));
    jv_guard g(a);
    int i = 0;
    for (const json& e : j) a = jv_array_set(a, i++, (*this)(e, depth + 1));
    return g.release();
  }

  jv object(const json& j, std::size_t depth) {
    jv o = jv_object();
    jv_guard g(o);
    for (const auto& [k, v] : j.get_ref<const json::object_t&>()) {
      jv_owner key(keys_.key(k));
      jv value = (*this)(v, depth + 1);
      o = jv_object_set(o, key.release(), value);
    }
    return g.release();
  }

  static jv binary(const json::binary_t& b) {
    jv a = jv_array_sized(checked_size(b.size()));
    int i = 0;
    for (std::uint8_t byte : b) a = jv_array_set(a, i++, jv_number(byte));
    return a;
  }

  key_cache& keys_;
  std::size_t limit_;
};

// ---- jv -> json ----------------------------------------------------------------------------------

/// jq 1.6 numbers are doubles; integral ones below 2^53 become integers again (exact there).
json number_of(double d) {
  if (std::fabs(d) < two_to_53 && d == std::trunc(d) && !(d == 0 && std::signbit(d))) {
    if (d >= 0) return json(static_cast<std::uint64_t>(d));
    return json(static_cast<std::int64_t>(d));
  }
  return json(d);
}

/// Converts jv values to new nlohmann values, nested at most `limit` deep.
class from_jv_converter {
 public:
  explicit from_jv_converter(std::size_t limit) noexcept : limit_(limit) {}

  /// The json equal to `v`; consumes `v`, without recursion when `v` is too deep.
  json operator()(jv v) {
    json out;
    try {
      out = convert(jv_copy(v), 0);
    } catch (...) {
      free_deep(v);
      throw;
    }
    jv_free(v);  // within the limit: libjq's recursion is as deep as ours was
    return out;
  }

 private:
  json convert(jv v, std::size_t depth) {
    jv_owner own(v);
    switch (jv_get_kind(v)) {
      case JV_KIND_INVALID:
      case JV_KIND_NULL: return json();
      case JV_KIND_FALSE: return json(false);
      case JV_KIND_TRUE: return json(true);
      case JV_KIND_NUMBER: return number_of(jv_number_value(v));
      case JV_KIND_STRING: return json(string_of(v));
      case JV_KIND_ARRAY:
        if (depth >= limit_) too_deep("output", limit_);
        return array(v, depth);
      case JV_KIND_OBJECT:
        if (depth >= limit_) too_deep("output", limit_);
        return object(v, depth);
    }
    return json();
  }

  json array(jv a, std::size_t depth) {
    json out = json::array();
    auto& elements = out.get_ref<json::array_t&>();
    const int n = jv_array_length(jv_copy(a));
    elements.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) elements.push_back(convert(jv_array_get(jv_copy(a), i), depth + 1));
    return out;
  }

  json object(jv o, std::size_t depth) {
    json out = json::object();
    auto& members = out.get_ref<json::object_t&>();
    for (int it = jv_object_iter(o); jv_object_iter_valid(o, it); it = jv_object_iter_next(o, it)) {
      std::string key;
      {
        jv_owner k(jv_object_iter_key(o, it));
        key = string_of(k.get());
      }
      members.emplace(std::move(key), convert(jv_object_iter_value(o, it), depth + 1));
    }
    return out;
  }

  std::size_t limit_;
};

// ---- messages ------------------------------------------------------------------------------------

/// jq's text for a message or error value (does not consume it): a string as is, an invalid's
/// message, anything else as JSON followed by " (not a string)", as the jq CLI prints it.
std::string text_of(jv m) {
  switch (jv_get_kind(m)) {
    case JV_KIND_STRING: return string_of(m);
    case JV_KIND_INVALID: {
      jv_owner inner(jv_invalid_get_msg(jv_copy(m)));
      if (jv_get_kind(inner.get()) == JV_KIND_NULL) return "unknown error";
      return text_of(inner.get());
    }
    default: {
      jv_owner dumped(jv_dump_string(jv_copy(m), 0));
      return string_of(dumped.get()) + " (not a string)";
    }
  }
}

/// jq's message callback (compile errors, and the rare runtime report): collects, never prints.
/// Called from C: must not throw.
void collect_message(void* data, jv msg) noexcept {
  jv_owner own(msg);
  try {
    static_cast<std::vector<std::string>*>(data)->push_back(text_of(msg));
  } catch (...) {
    // Out of memory while keeping a diagnostic: the message is lost, not the process.
  }
}

/// jq's debug callback: `debug` messages are dropped.
void drop_message(void*, jv msg) noexcept { jv_free(msg); }

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) {
    if (!out.empty()) out += '\n';
    out += l;
  }
  return out;
}

/// A fresh jq_state with every callback set; messages go to `sink`. Null when out of memory.
jq_state* new_state(std::vector<std::string>* sink) {
  jq_state* jq = jq_init();
  if (jq == nullptr) return nullptr;
  jq_set_error_cb(jq, collect_message, sink);
  jq_set_nomem_handler(jq, nullptr, nullptr);  // libjq's default: message and abort()
  jq_set_input_cb(jq, nullptr, nullptr);       // `input`: no more inputs
  jq_set_debug_cb(jq, drop_message, nullptr);  // `debug`: dropped
  return jq;
}

/// Oniguruma initialises itself, unsynchronised, on its first regular expression: do it once,
/// before any program can, by running a regex in a throwaway program.
void initialise_regex_library() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::vector<std::string> ignored;
    jq_state* jq = new_state(&ignored);
    if (jq == nullptr) return;
    if (jq_compile(jq, "\"a\" | test(\"a\")") != 0) {
      jq_start(jq, jv_null(), 0);
      for (jv out = jq_next(jq);; out = jq_next(jq)) {
        const bool more = jv_is_valid(out);
        jv_free(out);
        if (!more) break;
      }
    }
    jq_teardown(&jq);
  });
}

/// Undoes what halt left behind (see the file comment): jq_start's reset frees the exit code and
/// message once, then an empty halt replaces the dangling copies with invalid values, which the
/// next reset frees harmlessly. Correct whether or not this libjq has the bug.
void forget_halt(jq_state* jq) noexcept {
  jq_start(jq, jv_null(), 0);
  jq_halt(jq, jv_invalid(), jv_invalid());
}

}  // namespace

// ---- jq_program ----------------------------------------------------------------------------------

/// True when `v` (not consumed) nests arrays and objects deeper than `limit` (stops looking there).
bool deeper_than(jv v, std::size_t limit, std::size_t depth = 0) {
  const jv_kind kind = jv_get_kind(v);
  if (kind != JV_KIND_ARRAY && kind != JV_KIND_OBJECT) return false;
  if (depth >= limit) return true;
  if (kind == JV_KIND_ARRAY) {
    const int n = jv_array_length(jv_copy(v));
    for (int i = 0; i < n; ++i) {
      jv_owner x(jv_array_get(jv_copy(v), i));
      if (deeper_than(x.get(), limit, depth + 1)) return true;
    }
    return false;
  }
  for (int it = jv_object_iter(v); jv_object_iter_valid(v, it); it = jv_object_iter_next(v, it)) {
    jv_owner x(jv_object_iter_value(v, it));
    if (deeper_than(x.get(), limit, depth + 1)) return true;
  }
  return false;
}

struct jq_program::state {
  jq_state* jq = nullptr;
  std::string source;
  std::vector<std::string> reported;  ///< messages jq sent to its callback (compile errors)
  key_cache keys;
  std::size_t max_depth = default_max_depth;
  bool running = false;  ///< a run was started and jq_next has not ended it
  std::unique_ptr<pipeline::internal::jq_bridge> bridge;  ///< for event runs, made on the first
  jv input = jv_invalid();  ///< an event run's input as jq got it (to recognise it in the outputs)
  std::optional<detail::jq_subset> native;  ///< the program, when in the native subset
  bool with_meta = false;  ///< the program reads $meta: its input is [payload, metadata]
  struct native_state {
    simdjson::dom::parser parser;
    std::string scratch;  ///< a small input with its padding
    std::string out;      ///< the output's text
    detail::jq_subset::outcome result = detail::jq_subset::outcome::empty;
    bool pending = false;  ///< a native run's output is waiting for next()
  };
  std::unique_ptr<native_state> fast;  ///< made on the first event run of a native program

  state() = default;
  state(const state&) = delete;
  state& operator=(const state&) = delete;
  ~state() {
    jv_free(input);
    jq_teardown(&jq);
  }

  void start(jv in);
  /// Takes up to `max` outputs of the run, each handed (consumed) to `take`; see next().
  template <class Take>
  jq_outcome next(std::size_t max, Take&& take);
  [[noreturn]] void throw_runtime_error(jv msg);
  jq_outcome end_halt();
};

void jq_program::state::start(jv in) {
  running = false;
  reported.clear();
  jv_free(std::exchange(input, jv_invalid()));
  jq_start(jq, in, 0);
  running = true;
}

template <class Take>
jq_outcome jq_program::state::next(std::size_t max, Take&& take) {
  if (!running) return jq_outcome::finished;
  struct end_on_throw {  // an output too deep or a failed allocation ends the run too
    bool& running;
    ~end_on_throw() {
      if (std::uncaught_exceptions() != 0) running = false;
    }
  } guard{running};
  for (std::size_t k = 0; k < max; ++k) {
    jv out = jq_next(jq);
    if (jv_is_valid(out)) {
      take(out);
      continue;
    }
    // jq_next must not be called again after an invalid value (libjq asserts).
    running = false;
    if (jv_invalid_has_msg(jv_copy(out))) throw_runtime_error(jv_invalid_get_msg(out));
    jv_free(out);
    if (jq_halted(jq) != 0) return end_halt();
    return jq_outcome::finished;
  }
  return jq_outcome::more;
}

/// Throws the jq_error for the error value `msg` (consumed).
void jq_program::state::throw_runtime_error(jv msg) {
  jv_owner own(msg);
  std::string text = text_of(msg);
  if (!reported.empty()) text += '\n' + join(reported);
  throw jq_error(text, from_jv_converter(max_depth)(jv_copy(msg)), error_exit_code, false);
}

/// After a halt: `halt` reports halted; `halt_error` throws. Either way the state is repaired.
jq_outcome jq_program::state::end_halt() {
  struct repair {
    jq_state* jq;
    ~repair() { forget_halt(jq); }
  } repair_last{jq};  // destroyed after the copies below are freed
  jv_owner code(jq_get_exit_code(jq));
  jv_owner message(jq_get_error_message(jq));
  if (!jv_is_valid(code.get())) return jq_outcome::halted;

  const int exit_code = jv_get_kind(code.get()) == JV_KIND_NUMBER
                            ? static_cast<int>(jv_number_value(code.get()))
                            : error_exit_code;
  json value = jv_is_valid(message.get()) ? from_jv_converter(max_depth)(jv_copy(message.get())) : json();
  std::string text = value.is_string() ? value.get<std::string>() : value.dump();
  throw jq_error(text, std::move(value), exit_code, true);
}

jq_program::jq_program(std::unique_ptr<state> s) noexcept : s_(std::move(s)) {}
jq_program::jq_program(jq_program&&) noexcept = default;
jq_program& jq_program::operator=(jq_program&&) noexcept = default;
jq_program::~jq_program() = default;

const std::string& jq_program::source() const noexcept { return s_->source; }

std::variant<jq_program, std::string> jq_program::compile(std::string_view program, std::size_t max_depth, bool native_subset) {
  if (program.find('\0') != std::string_view::npos) return std::string("jq program contains a NUL byte");
  initialise_regex_library();

  auto s = std::make_unique<state>();
  s->source = std::string(program);
  s->max_depth = std::clamp<std::size_t>(max_depth, 1, max_max_depth);
  s->jq = new_state(&s->reported);
  if (s->jq == nullptr) throw std::bad_alloc();
  // $meta: the input becomes [payload, metadata], unpacked before the user's program runs. The
  // wrapper adds no line, so jq's messages keep their line numbers.
  s->with_meta = program.find("$meta") != std::string_view::npos;
  const std::string text = s->with_meta ? ". as [$__sluice_event, $meta] | $__sluice_event | (" + s->source + "\n)" : s->source;
  if (jq_compile(s->jq, text.c_str()) == 0) {
    std::string errors = join(s->reported);
    return errors.empty() ? std::string("jq program does not compile") : errors;
  }
  s->reported.clear();
  if (native_subset && !s->with_meta) s->native = detail::jq_subset::compile(s->source);
  return jq_program(std::move(s));
}

std::size_t jq_program::max_depth() const noexcept { return s_->max_depth; }
bool jq_program::running() const noexcept { return s_->running; }
void jq_program::abandon() noexcept {
  s_->running = false;
  if (s_->fast) s_->fast->pending = false;
}

jq_outcome jq_program::run(const json& input, std::vector<json>& outputs) {
  start(input);
  return next(std::numeric_limits<std::size_t>::max(), outputs);
}

void jq_program::start(const json& input) {
  jv in = to_jv_converter(s_->keys, s_->max_depth)(input);
  if (s_->with_meta) in = JV_ARRAY_2(in, jv_null());  // no metadata
  s_->start(in);
}

jq_outcome jq_program::next(std::size_t max, std::vector<json>& outputs) {
  return s_->next(max, [&](jv out) { outputs.push_back(from_jv_converter(s_->max_depth)(out)); });
}

/// Nanoseconds since the epoch as seconds: whole seconds and the fraction apart, so that a time
/// set as 1700000000.25 reads back as exactly that.
double seconds_of(std::int64_t ns) {
  const std::int64_t whole = ns / 1'000'000'000;
  const std::int64_t rest = ns % 1'000'000'000;
  return static_cast<double>(whole) + static_cast<double>(rest) / 1e9;
}

/// $meta for an event: {source, path, position, time (seconds since the epoch), id, key}, each
/// null when unknown.
jv metadata_of(const pipeline::event& e) {
  auto text = [](std::string_view s) { return jv_string_sized(s.data(), checked_size(s.size())); };
  const pipeline::event_origin* o = e.origin();
  jv m = jv_object();
  m = jv_object_set(m, jv_string("source"), o != nullptr ? text(o->stage) : jv_null());
  m = jv_object_set(m, jv_string("path"), o != nullptr && !o->path.empty() ? text(o->path) : jv_null());
  m = jv_object_set(m, jv_string("position"), e.position() != 0 ? jv_number(static_cast<double>(e.position())) : jv_null());
  m = jv_object_set(m, jv_string("time"), e.time_ns() != 0 ? jv_number(seconds_of(e.time_ns())) : jv_null());
  m = jv_object_set(m, jv_string("id"), e.message_id().empty() ? jv_null() : text(e.message_id()));
  jv key = jv_null();
  if (auto k = e.key()) {
    jv parsed = jv_parse_sized(k->data(), checked_size(k->size()));
    key = jv_is_valid(parsed) ? parsed : (jv_free(parsed), jv_null());
  }
  return jv_object_set(m, jv_string("key"), key);
}

bool jq_program::uses_native_subset() const noexcept { return s_->native.has_value(); }

/// Runs `input` natively when the program and the input allow it; false: run it through libjq.
bool jq_program::start_native(const pipeline::event& input) {
  if (!s_->native || !input.has_text()) return false;
  if (!s_->fast) {
    s_->fast = std::make_unique<state::native_state>();
    if (s_->fast->parser.allocate(4096, s_->max_depth + 1) != simdjson::SUCCESS) throw std::bad_alloc();
  }
  state::native_state& f = *s_->fast;
  std::string_view text = input.text();
  if (input.is_inline()) {  // no padding after it: copy it next to some
    f.scratch.assign(text);
    f.scratch.append(pipeline::json_padding, '\0');
    text = std::string_view(f.scratch.data(), text.size());
  }
  simdjson::dom::element root;
  if (f.parser.parse(text.data(), text.size(), false).get(root) != simdjson::SUCCESS) return false;  // too deep: libjq says so
  f.out.clear();
  f.result = s_->native->run(root, f.out);
  if (f.result == detail::jq_subset::outcome::give_up) return false;
  if (f.result == detail::jq_subset::outcome::written && pipeline::internal::too_deep_at(f.out, s_->max_depth) != std::string_view::npos) return false;  // libjq's error
  s_->running = true;
  f.pending = true;
  return true;
}

void jq_program::start(const pipeline::event& input) {
  s_->running = false;
  if (s_->fast) s_->fast->pending = false;
  if (start_native(input)) return;
  if (!s_->bridge) s_->bridge = std::make_unique<pipeline::internal::jq_bridge>(s_->max_depth);
  jv in = s_->bridge->to_jv(input);
  if (!jv_is_valid(in)) {  // the only reason for valid text: deeper than the bridge's max_depth
    jv_free(in);
    s_->running = false;
    too_deep("input", s_->max_depth);
  }
  s_->start(s_->with_meta ? JV_ARRAY_2(jv_copy(in), metadata_of(input)) : jv_copy(in));
  s_->input = in;
}

jq_outcome jq_program::next(std::size_t max, const pipeline::event& input, std::vector<pipeline::event>& outputs) {
  if (s_->fast && s_->fast->pending) {
    if (max == 0) return jq_outcome::more;
    state::native_state& f = *s_->fast;
    f.pending = false;
    s_->running = false;
    if (f.result == detail::jq_subset::outcome::identity) {
      outputs.push_back(input);
    } else if (f.result == detail::jq_subset::outcome::written) {
      pipeline::event e = pipeline::event::from_text_unchecked(f.out);
      e.set_metadata_from(input);
      outputs.push_back(std::move(e));
    }
    return jq_outcome::finished;
  }
  return s_->next(max, [&](jv out) {
    if (deeper_than(out, s_->max_depth)) {
      free_deep(out);
      too_deep("output", s_->max_depth);
    }
    outputs.push_back(s_->bridge->to_event(out, input, s_->input));
  });
}

std::optional<std::string> first_output(jq_program& p, const pipeline::event& e) {
  p.start(e);
  std::vector<pipeline::event> out;
  (void)p.next(1, e, out);
  p.abandon();
  if (out.empty()) return std::nullopt;
  std::string text = out.front().json();
  for (pipeline::event& x : out) x.ack().done();
  return text;
}

}  // namespace sluice::stages

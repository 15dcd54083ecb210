// sluice/stages/jq_program.hpp: a compiled jq program (libjq 1.6) run on JSON events.
//
// What the built-in `jq` stage runs: compile a program once, then run it on each event; every
// input gives zero or more outputs (`select` filters, `{id, msg}` maps, `.[]` flattens).
//
// Choices:
// - Events cross into jq by direct conversion, no text round trip: pipeline events from their
//   validated text through simdjson's tree (lib/pipeline/event_jq.hpp), nlohmann::json values
//   value by value; object keys already seen are reused from a small per-program cache. Strings
//   that are not valid UTF-8 reach jq with each bad byte replaced by U+FFFD (libjq does it).
//   Arrays and objects may nest `max_depth()` deep (512 unless compiled otherwise), in and out;
//   a deeper output is freed without recursion (libjq's own free recurses once per level), so a
//   program building a value 100,000 levels deep fails cleanly instead of crashing. (A deep value
//   jq itself still holds, as in `deep | ., .`, is freed by libjq later, recursively.)
// - Streaming: `start` a run, then take its outputs with `next(max, ...)` as they are wanted; the
//   run's jq_state stays alive in between, so `range(1e9)` costs no more memory than `range(1)`.
//   `run` takes them all at once.
// - Numbers: jq 1.6 computes in doubles, so an integer input beyond 2^53 reaches jq rounded. On
//   the way out, a double that is integral and below 2^53 in magnitude becomes an integer again
//   (uint64 when >= 0, int64 when < 0, as nlohmann's parser types them); any other double,
//   -0.0, NaN and the infinities stay doubles.
// - Errors: a program that does not compile gives all of jq's messages; a runtime error
//   (`error("x")`, `.a` on a number, `halt_error`) is a thrown `jq_error` with jq's message.
//   Nothing is printed, except by jq's own `stderr` builtin, which writes its input to the
//   process's stderr because the program asked for it. `debug` messages are dropped; `input`
//   finds no further inputs (an error, as at the end of jq's input).
// - `halt` ends a run early and reports `jq_outcome::halted`; the program stays usable.
// - Out of memory inside libjq is not an exception: libjq prints a message and aborts.
// - libjq 1.6 compiles slowly (it parses its jq-coded builtins every time: tens of ms) and, like
//   the jq CLI, imports `$HOME/.jq` into every program when that file exists.
//
// Thread safety: a jq_program is not thread-safe; one user at a time. It may move to another
// thread between runs when the hand-over orders memory (a mailbox, a join). Two jq_programs may
// run at the same time on two threads: on that path libjq 1.6 keeps no mutable process-wide state
// (its allocation-failure handler and sort-error flag are thread-local, Debian's string hash seed
// is set once under pthread_once, jv reference counts are per value and no jv is shared between
// programs). The exception is Oniguruma, which initialises itself unsynchronised on the first
// regular expression (`test`, `match`, `sub`...): the first `compile` does that once, under
// std::call_once, before any program can. Time builtins (`mktime`, `strftime`, `localtime`...)
// read the process's TZ and locale, `env` its environment, as libc does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include <sluice/pipeline/event.hpp>

namespace sluice::stages {

/// A jq runtime error: `error(v)`, a type error such as `.a` on a number, or `halt_error`.
class jq_error : public std::runtime_error {
 public:
  /// `message` is jq's text; `value` the error's value (`v` of `error(v)`, the input of
  /// `halt_error`); `exit_code` what the jq CLI would exit with (5, or halt_error's argument).
  jq_error(const std::string& message, nlohmann::json value, int exit_code, bool from_halt_error)
      : std::runtime_error(message),
        value_(std::move(value)),
        exit_code_(exit_code),
        from_halt_error_(from_halt_error) {}

  /// The error's value: a string for jq's own errors, any JSON for `error(v)`.
  [[nodiscard]] const nlohmann::json& value() const noexcept { return value_; }
  /// 5 for a runtime error; the program's code for `halt_error`.
  [[nodiscard]] int exit_code() const noexcept { return exit_code_; }
  /// True when the program stopped itself with `halt_error`.
  [[nodiscard]] bool from_halt_error() const noexcept { return from_halt_error_; }

 private:
  nlohmann::json value_;
  int exit_code_;
  bool from_halt_error_;
};

/// How a run ended, or that it has not ended yet.
enum class jq_outcome : std::uint8_t {
  finished,  ///< the program produced all its outputs for this input
  halted,    ///< the program called `halt`: no more outputs for this input
  more,      ///< `next` stopped at its `max`: the run may have more outputs (call `next` again)
};

/// A compiled jq program; move-only. Compile once, run many times: the same jq_state is reused.
/// Not thread-safe: one user at a time (see the file comment).
class jq_program {
 public:
  /// The default deepest nesting of arrays and objects converted to or from jq; deeper values are
  /// a jq_error. It bounds the converters' recursion (and libjq's own, which frees and compares
  /// recursively) on small thread stacks and in sanitizer builds; jq 1.6's parser stops at 256.
  static constexpr std::size_t default_max_depth = 512;
  /// The largest `max_depth` a program accepts (the converters recurse once per level).
  /// As the sources' max_depth: what downstream does with a value recurses (serialising, copying),
  /// and 1000 levels stay far from the end of a worker's stack in every build (ASan included).
  static constexpr std::size_t max_max_depth = 1000;

  /// Compiles `program`; on failure, all of jq's compile messages joined by newlines (the last one
  /// says how many errors there were). `max_depth` (1 to max_max_depth; clamped) bounds the
  /// nesting of inputs and outputs. Thread-safe. Throws std::bad_alloc when out of memory.
  /// With `native_subset`, a program made only of jq's commonest forms (paths, literals,
  /// comparisons, and/or/not, select, pipes, object construction: lib/stages/jq_subset.hpp) also
  /// runs natively on events, with libjq's results exactly, several times faster; each event the
  /// native evaluator cannot decide (a jq error, duplicate keys) runs through libjq.
  static std::variant<jq_program, std::string> compile(std::string_view program,
                                                       std::size_t max_depth = default_max_depth,
                                                       bool native_subset = true);

  /// True when event runs go through the native evaluator first (see compile).
  [[nodiscard]] bool uses_native_subset() const noexcept;

  jq_program(jq_program&&) noexcept;
  jq_program& operator=(jq_program&&) noexcept;
  jq_program(const jq_program&) = delete;
  jq_program& operator=(const jq_program&) = delete;
  ~jq_program();

  /// Runs the program on `input` and appends all its outputs to `outputs`, in jq's order
  /// (`start` then `next` without a limit): finished or halted. Throws jq_error on a runtime error;
  /// the outputs produced before the error stay appended (the jq CLI prints them too), and the
  /// program stays usable. May throw std::bad_alloc. Precondition: not moved from.
  [[nodiscard]] jq_outcome run(const nlohmann::json& input, std::vector<nlohmann::json>& outputs);

  /// Starts a run on `input`, whose outputs `next` then gives; a run still in progress is
  /// abandoned. Throws jq_error when `input` is nested deeper than max_depth() (no run then).
  /// Precondition: not moved from.
  void start(const nlohmann::json& input);

  /// Appends at most `max` further outputs of the run `start`ed last to `outputs`: `more` when it
  /// stopped at `max` (the run is still in progress, perhaps with no output left), else how the
  /// run ended (`finished` too when no run is in progress). Throws jq_error as `run` does; the run
  /// has then ended. Precondition: not moved from.
  [[nodiscard]] jq_outcome next(std::size_t max, std::vector<nlohmann::json>& outputs);

  /// Starts a run on the event `input`: its payload becomes jq's value directly (from its text, no
  /// intermediate tree). As `start(json)` otherwise.
  void start(const pipeline::event& input);

  /// As `next(max, json outputs)`, with outputs as events: `input` must be the event the run was
  /// started on (still alive). Each output carries the input's metadata (a new holder of its
  /// acknowledgement); an output identical to the input (as `select` passes it) is the input
  /// itself, its bytes untouched; any other is written as `jq -c` prints it. Outputs are text,
  /// ready to leave the thread.
  [[nodiscard]] jq_outcome next(std::size_t max, const pipeline::event& input, std::vector<pipeline::event>& outputs);

  /// True between a `start` and the `next` that ends its run.
  [[nodiscard]] bool running() const noexcept;

  /// Abandons the run in progress, if any (its remaining outputs are never computed).
  void abandon() noexcept;

  /// The deepest nesting of arrays and objects this program converts, in and out.
  [[nodiscard]] std::size_t max_depth() const noexcept;

  /// The program's text, as compiled. Precondition: not moved from.
  [[nodiscard]] const std::string& source() const noexcept;

 private:
  bool start_native(const pipeline::event& input);
  struct state;
  explicit jq_program(std::unique_ptr<state> s) noexcept;
  std::unique_ptr<state> s_;
};

/// The compact JSON text of `p`'s first output on `e`, or nothing when it has none (a `key` or
/// `time` expression, a window's key or value). The outputs' holders of e's acknowledgement end
/// here (done): they are not events that go on. Throws jq_error as next() does.
std::optional<std::string> first_output(jq_program& p, const pipeline::event& e);

}  // namespace sluice::stages

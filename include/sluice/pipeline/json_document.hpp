// sluice/pipeline/json_document.hpp: a JSON document that remembers where each value came from.
//
// The first layer of pipeline loading. It reads JSON (RFC 8259, plus `//` and `/* */` comments),
// keeps the line and column of every value and of every object member's key, substitutes
// `${ENV}` references in string values and applies `--set path=value` overrides. Later layers
// (the pipeline model, the registry's option checks) turn a JSON pointer back into a position
// with `where()` / `key_where()` so that every error reads `file:line:col: /json/pointer: ...`.
//
// Choices:
// - Values are `nlohmann::ordered_json`: objects keep the file's member order (stage order).
// - Lines and columns are 1-based; a column counts Unicode code points (a tab is one), so a
//   position stays right after non-ASCII text. A UTF-8 byte order mark at the start is skipped.
// - Integers stay exact: a non-negative integer is a uint64, a negative one an int64 (as
//   nlohmann's own parser does); an integer beyond 64 bits, a fraction or an exponent is a double.
//   A number too large for a double is an error; one too small becomes 0.
// - Syntax errors stop the parse at the first one (with the duplicate keys found before it);
//   duplicate keys do not stop it, so one run reports all of them.
// - Nesting deeper than `max_depth` arrays and objects is an error (it bounds the recursion).
//
// Nothing here is shared between threads: a json_document is a plain value.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::pipeline {

/// Where something is in a source. `line` and `column` are 1-based; `line == 0` means "the
/// source as a whole" (a file that cannot be read, a value given on the command line).
struct source_location {
  std::string file;
  std::size_t line = 0;
  std::size_t column = 0;

  friend bool operator==(const source_location&, const source_location&) = default;
};

/// One problem found while reading or checking a document.
struct diagnostic {
  source_location where;
  std::string pointer;   ///< RFC 6901 JSON pointer of the value concerned ("" is the root)
  std::string problem;   ///< what is wrong
  std::string expected;  ///< what was expected instead ("" if nothing useful to say)

  /// `file:line:col: /pointer: problem (expected)`. The root pointer prints as `/`; ` (expected)`
  /// is left out when `expected` is empty; `:line:col` is left out when `where.line == 0`, and so
  /// is the pointer when it is also the root: a file that cannot be read gives `file: problem`.
  /// An empty file name prints as `<input>`. A problem of several lines gives as many lines, each
  /// with the same prefix (` (expected)` goes at the end of the last).
  std::string to_string() const;
};

/// `text` with `first` before its first line and `rest` before each later one, so that every line
/// of a message of several lines (a jq error) still says what it belongs to. Trailing blanks and
/// empty lines are dropped; an empty text gives `first` alone.
std::string prefix_lines(std::string_view text, std::string_view first, std::string_view rest);

/// The largest number of nested arrays and objects a document may have.
inline constexpr std::size_t max_depth = 512;

/// A parsed JSON value with the source location of each value and object key, found by JSON
/// pointer. Made by parse_document()/read_document(); changed only by substitute_env() and
/// apply_override(), which keep the locations in step.
class json_document {
 public:
  /// A document with no recorded positions (every where() is `{file, 0, 0}`): for pipelines built
  /// in code, and tests.
  explicit json_document(nlohmann::ordered_json value = {}, std::string file = {});

  /// The parsed value.
  const nlohmann::ordered_json& value() const noexcept { return value_; }
  /// The file name given when parsing, used in every location.
  const std::string& file() const noexcept { return file_; }

  /// Where the value at `pointer` starts (its first character). A pointer with no recorded
  /// position (a value an override created, a pointer that names nothing) gets the position of
  /// its nearest ancestor that has one; `{file(), 0, 0}` if none does. A value set by an override
  /// is located at the override (see apply_override), and so are the values inside it.
  source_location where(std::string_view pointer) const;
  /// Where the key of the object member at `pointer` starts (its opening quote): the place to
  /// point at for an unknown or misplaced key. Falls back to where(pointer) for array elements,
  /// the root, and members with no recorded key.
  source_location key_where(std::string_view pointer) const;

 private:
  struct position {
    std::size_t line = 0;
    std::size_t column = 0;
    std::string origin;  ///< "" for file(), else the override's label ("--set")
  };
  struct node_position {
    position value;
    std::optional<position> key;
  };

  const node_position* nearest(std::string_view pointer) const;
  source_location located(const position& p) const;

  nlohmann::ordered_json value_;
  std::string file_;
  std::map<std::string, node_position, std::less<>> positions_;

  friend class json_document_builder;
  friend std::vector<diagnostic> substitute_env(
      json_document&, const std::function<std::optional<std::string>(std::string_view)>&);
  friend std::optional<diagnostic> apply_override(json_document&, std::string_view,
                                                  std::string_view);
};

/// The outcome of reading a document: the document, or every diagnostic found (at least one).
/// Expected-like: test it, then use `*result` / `result->` / `value()`, or `diagnostics()`.
class document_result {
 public:
  document_result(json_document document) : state_(std::move(document)) {}
  /// Precondition: `diagnostics` is not empty.
  document_result(std::vector<diagnostic> diagnostics) : state_(std::move(diagnostics)) {}

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  /// The document; throws std::logic_error (listing the diagnostics) if there is none.
  json_document& value() &;
  const json_document& value() const&;
  json_document&& value() &&;
  json_document& operator*() & { return value(); }
  const json_document& operator*() const& { return value(); }
  json_document* operator->() { return &value(); }
  const json_document* operator->() const { return &value(); }

  /// Every problem found; empty when there is a document.
  const std::vector<diagnostic>& diagnostics() const noexcept;

 private:
  std::variant<json_document, std::vector<diagnostic>> state_;
};

/// Parses `text` (JSON with comments). `file` names the source in every location. Thread-safe.
document_result parse_document(std::string_view text, std::string file);

/// Reads and parses the file at `path` (named by `path.string()`). A file that cannot be opened or
/// read gives one diagnostic `file: cannot read: <OS reason>`. Thread-safe.
document_result read_document(const std::filesystem::path& path);

/// Looks up an environment variable: its value, or nullopt if unset.
using env_lookup = std::function<std::optional<std::string>(std::string_view)>;

/// Replaces `${NAME}` and `${NAME:-default}` in every string value of `document` (keys are left
/// alone), as often as they occur. As in the shell, the default applies when NAME is unset or
/// empty; it runs to the first `}` and is not itself expanded. NAME is `[A-Za-z_][A-Za-z0-9_]*`.
/// `$${` stands for a literal `${`; any other `$` is kept as it is. Substituted text is not scanned
/// again, and a string stays a string (`"${N}"` with N=5 gives "5"). Returns one diagnostic per
/// unset variable without a default and per malformed reference, located at its string; the
/// strings with problems are left unchanged, every other one is substituted.
std::vector<diagnostic> substitute_env(json_document& document, const env_lookup& getenv);

/// The process environment (std::getenv), for substitute_env. Not thread-safe against setenv.
std::optional<std::string> process_env(std::string_view name);

/// Applies one `path=value` assignment (sluice run --set). `path` is dotted (`stages.out.path`,
/// each segment an object key) or a JSON pointer starting with `/` (for keys with dots; `~1` and
/// `~0` escape `/` and `~`). `value` is parsed as JSON (comments allowed) if it is a complete JSON
/// value, else taken as a string: `n=5` sets a number, `p=x.jsonl` and `s="5"` set strings.
/// Missing objects along the path are created; an existing value at the end is replaced. The new
/// value, and any object created for it, is located at `{origin, 0, 0}`. Returns a diagnostic
/// (and leaves the document unchanged) for a malformed assignment or a path through something
/// that is not an object, e.g. an array or a string.
std::optional<diagnostic> apply_override(json_document& document, std::string_view assignment,
                                         std::string_view origin = "--set");

/// Escapes one key as a JSON pointer segment (`~` -> `~0`, `/` -> `~1`), without the leading `/`.
std::string escape_pointer_segment(std::string_view key);

}  // namespace sluice::pipeline

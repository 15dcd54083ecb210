// lib/stages/jq_subset.hpp: a native evaluator for the commonest jq programs, beside libjq.
//
// Most jq stages in pipelines filter and project: `select(.level == "error") | {id, msg}`. libjq
// 1.6 spends most of its time in its interpreter and its value allocator on such programs (about
// 2 us per event of a 100-byte log line); evaluated directly on simdjson's tree of the event, the
// same program costs a small fraction of that. So a program made only of the forms below is also
// compiled here, and events run here first:
//   .   .a   ."a"   .["a"]   .[n]   .a.b[0] (paths)   "text" 1.5 true false null (literals)
//   f | g   select(f)   f == g  !=  <  <=  >  >=   f and g   f or g   not   (f)
//   {a, "b", c: f, "d": g}
// with jq 1.6's meaning exactly: numbers compare and print as doubles (as jq prints them), a
// missing key or an index past the end is null, null indexes to null, false and null are false.
// Anything else jq would do differently is not guessed at: an index into a value that is not an
// object (or not an array), a comparison between arrays or objects, an object with duplicate keys
// (jq keeps the last value, in the first one's place) make the evaluation give up, and the event
// runs through libjq instead, which raises jq's own error or gives jq's own answer. An evaluation
// writes nothing until it has succeeded, so giving up midway costs nothing but the time.
// Tests run both on the same programs and inputs and compare (tests/unit/jq_subset_test.cpp).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <simdjson.h>

namespace sluice::stages::detail {

/// A jq program of the subset above, compiled; immutable, so usable from several threads.
class jq_subset {
 public:
  /// The program compiled, or nullopt when it is not (entirely) in the subset. Call only with a
  /// program libjq compiles (the subset's parser is lenient where jq's grammar already refused).
  static std::optional<jq_subset> compile(std::string_view program);

  /// What one run on an input gave.
  enum class outcome {
    empty,     ///< no output (select refused it)
    identity,  ///< one output: the input itself (keep its bytes)
    written,   ///< one output, appended to `out` as `jq -c` prints it
    give_up,   ///< not decided here: run the input through libjq (`out` is as it was)
  };

  /// Runs the program on `input` (the root of an event's tree).
  outcome run(simdjson::dom::element input, std::string& out) const;

  struct node;

 private:
  explicit jq_subset(std::shared_ptr<const node> root) : root_(std::move(root)) {}
  std::shared_ptr<const node> root_;
};

}  // namespace sluice::stages::detail

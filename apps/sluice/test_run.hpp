// apps/sluice/test_run.hpp: running one `sluice test` case on a virtual clock, and checking it.
#pragma once

#include <string>
#include <vector>

#include "test_file.hpp"

namespace sluice::app {

/// How a case went: passed, or what failed (lines ready to print, indented).
struct case_report {
  bool passed = true;
  std::string details;
};

/// Runs `tc`: a runtime with virtual time and one thread; the sources its steps feed (and `stdin`
/// sources) replaced by the steps' events, every sink by a capture; then the steps in order, each
/// one settled (every stage idle) before the next; then the end of input (fed sources end after
/// their events, the others are drained), the clock running on from timer to timer until the
/// pipeline has ended; then the expectations.
case_report run_test_case(const test_case& tc);

/// "" if `got` (the events' JSON texts) meets `x`, else what differs (a diff of expected and
/// received, the events a jq predicate rejects...).
std::string check_sink(const sink_expectation& x, const std::vector<std::string>& got);

}  // namespace sluice::app

// sluice-bench/machine.hpp: what the numbers were measured on.
#pragma once

#include <string>

namespace sluice::bench {

/// The machine and build a report belongs to.
struct machine_info {
  unsigned cores = 0;      ///< std::thread::hardware_concurrency()
  std::string model;       ///< the first "model name" in /proc/cpuinfo, or "unknown"
  std::string kernel;      ///< uname: sysname, release and machine
  std::string compiler;    ///< compiler name and __VERSION__
  std::string build_type;  ///< "release (NDEBUG)" or "debug (assertions on)"
  std::string date;        ///< now, UTC, ISO 8601
};

/// Describes this machine and this build.
machine_info describe_machine();

}  // namespace sluice::bench

// sluice-bench/machine.cpp: machine and build description from /proc, uname and the compiler.
#include "machine.hpp"

#include <sys/utsname.h>

#include <ctime>
#include <fstream>
#include <thread>

namespace sluice::bench {

namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) break;
    const auto start = line.find_first_not_of(' ', colon + 1);
    return start == std::string::npos ? std::string{} : line.substr(start);
  }
  return "unknown";
}

std::string kernel() {
  utsname u{};
  if (uname(&u) != 0) return "unknown";
  return std::string(u.sysname) + ' ' + u.release + ' ' + u.machine;
}

std::string compiler() {
#if defined(__clang__)
  return std::string("clang ") + __VERSION__;
#elif defined(__GNUC__)
  return std::string("gcc ") + __VERSION__;
#else
  return __VERSION__;
#endif
}

std::string build_type() {
#ifdef NDEBUG
  return "release (NDEBUG)";
#else
  return "debug (assertions on)";
#endif
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

}  // namespace

machine_info describe_machine() {
  return {std::thread::hardware_concurrency(), cpu_model(), kernel(), compiler(), build_type(),
          utc_now()};
}

}  // namespace sluice::bench

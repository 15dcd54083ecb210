// lib/observe/prometheus.hpp: a snapshot in the Prometheus text exposition format 0.0.4.
#pragma once

#include <string>
#include <string_view>

#include "observe/figures.hpp"

namespace sluice::observe {

/// The Content-Type of prometheus_text().
inline constexpr std::string_view prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric of `s` (families contiguous, HELP and TYPE first, every known series present from
/// the start, base units, counters ending in _total); `version`: sluice_build_info's label.
std::string prometheus_text(const snapshot& s, std::string_view version);

}  // namespace sluice::observe

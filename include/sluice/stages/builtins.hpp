// sluice/stages/builtins.hpp: the built-in stage library's entry point. The built-in stages
// register the way a plugin's do (`sluice_register_stages`): the pipeline layer knows none of them.
#pragma once

#include <sluice/pipeline/registry.hpp>

namespace sluice::stages {

/// Registers the built-in stage types (sources `range`, `generate`, `tick`, `file`, `stdin`;
/// transforms `jq`, `batch`, `rate_limit`; sinks `stdout`, `file`, `null`) into `r`. Throws
/// std::invalid_argument (from registry::add) if one of their names is already taken for its role.
/// Not thread-safe with other uses of `r`: fill a registry before loading pipelines with it.
void register_builtins(pipeline::registry& r);

}  // namespace sluice::stages

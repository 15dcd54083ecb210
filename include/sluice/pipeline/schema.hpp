// sluice/pipeline/schema.hpp: the JSON Schema of a pipeline file, generated from the engine key
// table (engine_keys.hpp) and a registry's stage types: what `sluice schema` prints.
#pragma once

#include <sluice/pipeline/registry.hpp>

namespace sluice::pipeline {

/// The JSON Schema (draft 2020-12) of a pipeline file whose stages are of `types`' types: the
/// engine keys with their types, ranges and defaults, which roles take them (a branch per stage
/// type and role), and each type's options. Thread-safe.
json pipeline_schema(const registry& types);

/// The JSON Schema of one stage type's `options` object (as `sluice stages --json` lists it).
json options_schema(const stage_type& type);

}  // namespace sluice::pipeline

// The built-in stage library's one entry point (include/sluice/stages/builtins.hpp).
#include <sluice/stages/builtins.hpp>

#include "stages/builtin.hpp"
#include "stages/nats_stages.hpp"

namespace sluice::stages {

void register_builtins(pipeline::registry& r) {
  register_sources(r);
  register_transforms(r);
  register_sinks(r);
  register_nats(r);
}

}  // namespace sluice::stages

// Registration of the `nats` stage types.
#include "stages/nats_stages.hpp"

namespace sluice::stages {

void register_nats(pipeline::registry& r) {
  r.add(nats_source_type());
  r.add(nats_sink_type());
}

}  // namespace sluice::stages

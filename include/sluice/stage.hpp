// sluice/stage.hpp: stages with GenStage's semantics (umbrella header; includes only).
#pragma once

#include <sluice/stage/bridges.hpp>
#include <sluice/stage/broadcast_dispatcher.hpp>
#include <sluice/stage/callbacks.hpp>
#include <sluice/stage/consumer_supervisor.hpp>
#include <sluice/stage/demand_dispatcher.hpp>
#include <sluice/stage/dispatcher.hpp>
#include <sluice/stage/options.hpp>
#include <sluice/stage/partition_dispatcher.hpp>
#include <sluice/stage/protocol.hpp>
#include <sluice/stage/stage_context.hpp>
#include <sluice/stage/start.hpp>
#include <sluice/stage/start_result.hpp>
#include <sluice/stage/subscription.hpp>

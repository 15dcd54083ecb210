// sluice/process.hpp: the process core (umbrella header; includes only).
#pragma once

#include <sluice/process/behaviour.hpp>
#include <sluice/process/call.hpp>
#include <sluice/process/context.hpp>
#include <sluice/process/exit_reason.hpp>
#include <sluice/process/message.hpp>
#include <sluice/process/pid.hpp>
#include <sluice/process/runtime.hpp>
#include <sluice/process/signals.hpp>
#include <sluice/process/supervisor.hpp>

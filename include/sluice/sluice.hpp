// sluice/sluice.hpp: everything an embedding program needs (umbrella header; includes only).
#pragma once

#include <sluice/process.hpp>
#include <sluice/stage.hpp>

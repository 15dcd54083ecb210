// lib/observe/web_page.hpp: the web view served at `/` (web_page.cpp).
#pragma once

#include <string_view>

namespace sluice::observe {

/// The page: plain HTML, CSS and JavaScript (no build step, no library), drawing the pipeline's
/// graph from /api/pipeline once a second.
std::string_view web_page() noexcept;

}  // namespace sluice::observe

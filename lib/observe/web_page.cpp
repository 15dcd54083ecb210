#include "observe/web_page.hpp"

namespace sluice::observe {

std::string_view web_page() noexcept {
  return R"html(<!doctype html><title>sluice</title><p>sluice</p>)html";
}

}  // namespace sluice::observe

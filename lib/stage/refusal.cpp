#include <array>
#include <string>

#include <sluice/stage/refusal.hpp>

namespace sluice {

namespace {

struct refusal_name {
  std::string_view name;
  std::string_view separator;  // between the name and a detail
};

// In the enum's order.
constexpr std::array<refusal_name, 11> names{{
    {"event_type_mismatch", " "},
    {"duplicated_subscription", " "},
    {"unknown_subscription", " "},
    {"not_a_producer", " "},
    {"not_a_consumer", " "},
    {"bad_opts", ": "},
    {"already_subscribed", " "},
    {"bad_selector", ": "},
    {"partition_required", " "},
    {"unknown_partition", " "},
    {"partition_taken", " "},
}};

}  // namespace

std::string_view to_string(refusal r) noexcept { return names[static_cast<std::size_t>(r)].name; }

exit_reason refusal_reason(refusal r, std::string_view detail) {
  const refusal_name& n = names[static_cast<std::size_t>(r)];
  std::string text(n.name);
  if (!detail.empty()) text.append(n.separator).append(detail);
  return exit_reason::other(std::move(text));
}

std::optional<refusal> refusal_of(const exit_reason& reason) {
  if (reason.what() != exit_reason::kind::other) return std::nullopt;
  const std::string_view text = reason.detail();
  for (std::size_t i = 0; i < names.size(); ++i) {
    const refusal_name& n = names[i];
    if (text.substr(0, n.name.size()) != n.name) continue;
    const std::string_view rest = text.substr(n.name.size());
    if (rest.empty() || rest.substr(0, n.separator.size()) == n.separator) return static_cast<refusal>(i);
  }
  return std::nullopt;
}

}  // namespace sluice

// A test plugin that fails to register, as the environment variable SLUICE_MISBEHAVE says:
// `throw_int` throws something that is not a std::exception; `bad_default` and `default_out_of_range`
// register an option whose default does not fit the option (registry::add must refuse it).
#include <cstdlib>
#include <memory>
#include <string>

#include <sluice/pipeline/event.hpp>
#include <sluice/pipeline/registry.hpp>
#include <sluice/stage.hpp>

namespace {

class pass_through final : public sluice::producer_consumer<sluice::pipeline::event, sluice::pipeline::event> {
 public:
  void handle_events(std::span<sluice::pipeline::event> events, sluice::subscription_ref,
                     sluice::stage_context<sluice::pipeline::event>& ctx) override {
    ctx.emit_in_place(events);
  }
};

sluice::pipeline::stage_type type_with(sluice::pipeline::option_spec option) {
  sluice::pipeline::stage_type t;
  t.name = "misbehaving";
  t.role = sluice::pipeline::stage_role::transform;
  t.description = "Passes events on (a test plugin whose option is wrong).";
  t.options = {std::move(option)};
  t.start = [](sluice::pipeline::spawner& where, const sluice::json&, sluice::pipeline::stage_instance instance) {
    return sluice::start(where, std::make_unique<pass_through>(), std::move(instance.engine));
  };
  return t;
}

}  // namespace

extern "C" void sluice_register_stages(sluice::pipeline::registry& r) {
  const char* how = std::getenv("SLUICE_MISBEHAVE");
  const std::string mode = how != nullptr ? how : "";
  if (mode == "throw_int") throw 42;
  sluice::pipeline::option_spec at;
  at.name = "at";
  at.type = sluice::pipeline::option_type::integer;
  at.description = "which event";
  at.minimum = 1;
  at.default_value = mode == "bad_default" ? sluice::json("ten") : mode == "default_out_of_range" ? sluice::json(0) : sluice::json(10);
  r.add(type_with(std::move(at)));
}

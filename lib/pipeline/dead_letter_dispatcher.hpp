// lib/pipeline/dead_letter_dispatcher.hpp: the dispatcher of a stage with a dead-letter stage.
//
// A stage whose `on_error` names a dead-letter stage emits its dead letters on its one output,
// marked by an origin of their own (stage_instance::dead_letter_origin). This dispatcher sends
// them to the subscriptions the loader made for the dead-letter stage (subscription_spec::
// dead_letters, which the runner passes as the custom subscription option "dead_letters"), and
// everything else through the stage's own dispatcher, which never sees those subscriptions.
//
// Flow control is the usual one: a dead letter goes only where demand was asked, and one nobody
// asked for stays in the stage's buffer, so a slow (or restarting) dead-letter stage holds the
// failing stage back instead of letting dead letters pile up. Demand the dead-letter stage asks
// counts as demand for the stage's input too: without that, a dead letter could use up the last
// unit of demand a consumer with max_demand 1 gave, and both sides would wait for each other.
// Used only inside the owning stage's process.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <sluice/pipeline/event.hpp>
#include <sluice/stage/demand_dispatcher.hpp>
#include <sluice/stage/dispatcher.hpp>

namespace sluice::pipeline::internal {

/// The custom subscription option that marks a dead-letter stage's subscription.
inline constexpr const char* dead_letters_option = "dead_letters";

class dead_letter_dispatcher final : public dispatcher<event> {
 public:
  /// `inner`: the stage's own dispatcher (null: a demand dispatcher); `marker`: the origin of its
  /// dead letters.
  dead_letter_dispatcher(std::unique_ptr<dispatcher<event>> inner, origin_ref marker)
      : inner_(inner ? std::move(inner) : std::make_unique<demand_dispatcher<event>>()), marker_(std::move(marker)) {}

  dispatcher_subscribed subscribe(const subscription_options& o, const consumer_ref& c) override {
    if (!o.custom.contains(dead_letters_option)) return inner_->subscribe(o, c);
    letter_takers_.push_back(c);
    return letters_.subscribe(o, c);
  }
  std::size_t ask(std::size_t n, const consumer_ref& c, dispatch_target<event>& out) override {
    return takes_letters(c) ? letters_.ask(n, c, out) : inner_->ask(n, c, out);
  }
  std::size_t cancel(const consumer_ref& c, dispatch_target<event>& out) override {
    if (!takes_letters(c)) return inner_->cancel(c, out);
    std::erase(letter_takers_, c);
    return letters_.cancel(c, out);
  }
  void dispatch(std::vector<event>& events, dispatch_target<event>& out) override {
    const auto is_letter = [&](const event& e) { return e.origin() == marker_.get(); };
    if (std::none_of(events.begin(), events.end(), is_letter)) return inner_->dispatch(events, out);
    std::vector<event> others;
    std::vector<event> letters;
    for (event& e : events) (is_letter(e) ? letters : others).push_back(std::move(e));
    events.clear();
    if (!others.empty()) inner_->dispatch(others, out);
    letters_.dispatch(letters, out);
    // What could not be placed, each kind in its order (the two kinds need no order between them).
    events = std::move(others);
    events.insert(events.end(), std::make_move_iterator(letters.begin()), std::make_move_iterator(letters.end()));
  }
  [[nodiscard]] std::size_t take_upstream() noexcept override { return inner_->take_upstream(); }
  std::optional<message> info(message&& msg, dispatch_target<event>& out) override { return inner_->info(std::move(msg), out); }
  void not_coming(std::size_t n) noexcept override { inner_->not_coming(n); }
  [[nodiscard]] std::size_t held() const noexcept override { return inner_->held(); }
  [[nodiscard]] std::size_t outstanding() const noexcept override { return inner_->outstanding() + letters_.outstanding(); }

 private:
  [[nodiscard]] bool takes_letters(const consumer_ref& c) const {
    return std::find(letter_takers_.begin(), letter_takers_.end(), c) != letter_takers_.end();
  }

  std::unique_ptr<dispatcher<event>> inner_;
  demand_dispatcher<event> letters_;  // among the dead-letter stage's copies
  std::vector<consumer_ref> letter_takers_;
  origin_ref marker_;
};

}  // namespace sluice::pipeline::internal

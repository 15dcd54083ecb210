// lib/pipeline/dead_letter_dispatcher.hpp: the dispatcher of a stage with a dead-letter stage.
//
// A stage whose `on_error` names a dead-letter stage emits its dead letters on its one output,
// marked by an origin of their own (stage_instance::dead_letter_origin). This dispatcher sends
// them to the subscriptions the loader made for the dead-letter stage (subscription_spec::
// dead_letters, which the runner passes as the custom subscription option "dead_letters"), and
// everything else through the stage's own dispatcher, which never sees those subscriptions.
//
// Flow control. A dead letter goes only where demand was asked; until then it waits here, in
// order, not in the stage's buffer (where it would hold back the events behind it). While
// `max_waiting` or more wait, the demand the stage's other consumers ask is held back from the
// stage: it finishes what it was already asked for and then takes no input until the dead-letter
// stage asks again, so a slow (or restarting) dead-letter stage holds the failing stage back and
// the letters waiting stay bounded (max_waiting plus the failures among what was already asked).
// Infos wait behind the letters too, so a stage that stops after dispatching stops after its
// dead letters went out. Demand the dead-letter stage asks counts as demand for the stage's input
// as well (its letters lower the stage's count of demand met, as any event sent does).
// Used only inside the owning stage's process.
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <iterator>
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
  /// Dead letters waiting at which the other consumers' demand is held back from the stage.
  static constexpr std::size_t max_waiting = 1000;

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
    if (takes_letters(c)) {
      const std::size_t upstream = letters_.ask(n, c, out);
      send_letters(out);
      return upstream;
    }
    const std::size_t upstream = inner_->ask(n, c, out);
    if (waiting_.size() < max_waiting) return upstream;
    held_back_ += upstream;  // returned by take_upstream once the letters have gone
    return 0;
  }
  std::size_t cancel(const consumer_ref& c, dispatch_target<event>& out) override {
    if (!takes_letters(c)) return inner_->cancel(c, out);
    std::erase(letter_takers_, c);
    return letters_.cancel(c, out);  // its letters wait for the next taker (a restarted copy)
  }
  void dispatch(std::vector<event>& events, dispatch_target<event>& out) override {
    const auto is_letter = [&](const event& e) { return e.origin() == marker_.get(); };
    if (std::none_of(events.begin(), events.end(), is_letter)) return inner_->dispatch(events, out);
    std::vector<event> others;
    for (event& e : events) {
      if (is_letter(e)) waiting_.push_back(std::move(e));
      else others.push_back(std::move(e));
    }
    events.clear();
    if (!others.empty()) inner_->dispatch(others, out);
    events = std::move(others);  // what the stage's own dispatcher could not place goes to the buffer
    send_letters(out);
  }
  [[nodiscard]] std::size_t take_upstream() noexcept override {
    return inner_->take_upstream() + std::exchange(released_, 0);
  }
  std::optional<message> info(message&& msg, dispatch_target<event>& out) override {
    if (waiting_.empty()) return inner_->info(std::move(msg), out);
    infos_.push_back(std::move(msg));  // released once the letters before it have gone
    return std::nullopt;
  }
  void not_coming(std::size_t n) noexcept override { inner_->not_coming(n); }
  [[nodiscard]] std::size_t held() const noexcept override { return inner_->held() + waiting_.size(); }
  [[nodiscard]] std::size_t outstanding() const noexcept override { return inner_->outstanding(); }

 private:
  [[nodiscard]] bool takes_letters(const consumer_ref& c) const {
    return std::find(letter_takers_.begin(), letter_takers_.end(), c) != letter_takers_.end();
  }

  /// Sends the waiting letters the dead-letter stage asked for; once fewer than max_waiting wait,
  /// hands back the demand held back, and once none wait, the infos behind them.
  void send_letters(dispatch_target<event>& out) {
    const std::size_t n = std::min(waiting_.size(), letters_.outstanding());
    if (n > 0) {
      std::vector<event> batch(std::make_move_iterator(waiting_.begin()), std::make_move_iterator(waiting_.begin() + static_cast<std::ptrdiff_t>(n)));
      waiting_.erase(waiting_.begin(), waiting_.begin() + static_cast<std::ptrdiff_t>(n));
      letters_.dispatch(batch, out);  // places all n: that is the demand there is
    }
    if (waiting_.size() < max_waiting) released_ += std::exchange(held_back_, 0);
    while (waiting_.empty() && !infos_.empty()) {
      message msg = std::move(infos_.front());
      infos_.pop_front();
      if (std::optional<message> now = inner_->info(std::move(msg), out)) out.release_info(std::move(*now));
    }
  }

  std::unique_ptr<dispatcher<event>> inner_;
  demand_dispatcher<event> letters_;  // among the dead-letter stage's copies
  std::vector<consumer_ref> letter_takers_;
  origin_ref marker_;
  std::deque<event> waiting_;    // dead letters nobody has asked for yet, in order
  std::deque<message> infos_;    // infos behind them
  std::size_t held_back_ = 0;    // the other consumers' demand held back while too many letters wait
  std::size_t released_ = 0;     // held-back demand to hand to the stage (take_upstream)
};

}  // namespace sluice::pipeline::internal

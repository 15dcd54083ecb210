#include <sluice/process/runtime.hpp>

#include <algorithm>
#include <future>
#include <stdexcept>

#include <sluice/process/context.hpp>

#include "process/runtime_impl.hpp"

namespace sluice {

namespace {
/// The process behind await_exit: monitors its target and reports the first down.
class exit_watcher final : public behaviour {
 public:
  exit_watcher(pid target, std::promise<exit_reason> done) : target_(target), done_(std::move(done)) {}
  void init(context& self) override { self.monitor(target_); }
  void handle(context& self, message& m) override {
    if (auto* d = m.get_if<down>()) {
      done_.set_value(d->reason);
      self.exit(exit_reason::normal());
    }
  }

 private:
  pid target_;
  std::promise<exit_reason> done_;
};
}  // namespace

runtime::runtime(runtime_options options) : impl_(std::make_unique<detail::runtime_impl>(*this, options)) {}
runtime::~runtime() = default;

pid runtime::spawn(std::unique_ptr<behaviour> b, spawn_options o) { return impl_->spawn(std::move(b), o); }

send_result runtime::send_message(pid to, message msg) { return impl_->send_node(to, msg.release()); }

void runtime::exit(pid target, exit_reason reason) {
  impl_->send_exit_signal(target, pid{}, std::move(reason), /*from_link=*/false);
}

bool runtime::register_name(std::string name, pid p) { return impl_->register_name(name, p); }
bool runtime::unregister_name(const std::string& name) { return impl_->unregister_name(name); }
std::optional<pid> runtime::whereis(const std::string& name) const { return impl_->whereis(name); }

timer_ref runtime::send_after_message(pid to, message msg, duration delay) {
  return impl_->send_after(to, msg.release(), delay);
}
bool runtime::cancel_timer(timer_ref ref) { return impl_->cancel_timer(ref); }

std::optional<exit_reason> runtime::await_exit(pid p, duration timeout) {
  std::promise<exit_reason> done;
  auto result = done.get_future();
  const pid watcher = spawn(std::make_unique<exit_watcher>(p, std::move(done)));
  if (result.wait_for(timeout) != std::future_status::ready) {
    exit(watcher, exit_reason::kill());
    return std::nullopt;
  }
  return result.get();
}

bool runtime::is_alive(pid p) const noexcept { return impl_->is_alive(p); }

std::chrono::steady_clock::time_point runtime::now() const { return impl_->timers().now(); }

std::chrono::system_clock::time_point runtime::system_now() const {
  if (!impl_->virtual_time()) return std::chrono::system_clock::now();
  const auto passed = impl_->timers().now() - (std::chrono::steady_clock::time_point{} + std::chrono::hours(1));
  return impl_->virtual_start() + std::chrono::duration_cast<std::chrono::system_clock::duration>(passed);
}

bool runtime::virtual_time() const noexcept { return impl_->virtual_time(); }

void runtime::settle() {
  if (!impl_->virtual_time()) throw std::logic_error("sluice: runtime::settle needs virtual time");
  impl_->settle();
}

void runtime::advance(duration by) {
  if (!impl_->virtual_time()) throw std::logic_error("sluice: runtime::advance needs virtual time");
  impl_->settle();
  const auto target = impl_->timers().now() + by;
  while (impl_->timers().advance_to(target)) impl_->settle();
}

std::optional<runtime::duration> runtime::next_timer() const {
  if (!impl_->virtual_time()) throw std::logic_error("sluice: runtime::next_timer needs virtual time");
  const auto due = impl_->timers().next_due();
  if (due == std::chrono::steady_clock::time_point::max()) return std::nullopt;
  return std::max(duration::zero(), due - impl_->timers().now());
}

const sluice::logger& runtime::log() const noexcept { return impl_->log(); }
std::size_t runtime::size_hint() const noexcept { return impl_->size_hint(); }
unsigned runtime::threads() const noexcept { return impl_->threads(); }

}  // namespace sluice

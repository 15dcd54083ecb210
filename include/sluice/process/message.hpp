// sluice/process/message.hpp: a type-erased, move-only message of any movable C++ type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace sluice {

namespace detail {

/// A small number shared by the messages of one internal protocol (0: none), declared beside each
/// such type. A handler that tells its hot messages apart then rejects a message of another type by
/// one byte compare, where std::type_info compares names with strcmp when the types differ.
/// Every typed_node<T> carries its T's number, so a message whose number differs from T's is no T.
template <class T>
struct message_family : std::integral_constant<std::uint8_t, 0> {};

/// What the mailbox sees of a message: an intrusive link, the payload's type and how to free it.
/// The payload lives in the same allocation (typed_node<T>), so a message costs one allocation.
struct message_node {
  enum class kind : std::uint8_t {
    user,         // an ordinary message; the handler sees it
    request,      // a request<Req> sent by call(); the handler sees it (is_request() is true)
    exit_signal,  // exit signal (link or exit/2); maybe turned into an exit_signal message
    link,         // another process linked to this one
    unlink,       // another process unlinked from this one
    monitor,      // another process monitors this one
    demonitor,    // ... and stopped doing so
    down,         // a monitored process exited; delivered unless demonitored meanwhile
    call_reply,   // a reply (or failure) for a call this process made
  };

  /// Nodes come from oneTBB's scalable allocator (a message is usually freed on another thread
  /// than the one that allocated it, the case glibc's malloc handles worst), through a per-thread
  /// cache of small nodes; plain new/delete in sanitizer builds, whose allocator interception
  /// must see every allocation. Sized delete: the cache files a node by its size.
  static void* operator new(std::size_t size);
  static void operator delete(void* p, std::size_t size) noexcept;

  /// What differs by payload type: one static table per type, so the header is 24 bytes and a
  /// node with a word-sized payload fits in 32 (two per cache line).
  struct ops {
    const std::type_info* type;
    void (*destroy)(message_node*) noexcept;
  };

  message_node* next = nullptr;
  const ops* table = nullptr;
  kind tag = kind::user;
  std::uint8_t family = 0;  // message_family of the payload's type

  [[nodiscard]] const std::type_info& type() const noexcept { return *table->type; }
  /// Destroys the node and its payload.
  void destroy() noexcept { table->destroy(this); }
};

/// Builds a T from args: by constructor where there is one, else as an aggregate (clang 14 has no
/// parenthesised aggregate initialisation).
template <class T, class... Args>
T construct(Args&&... args) {
  if constexpr (std::is_constructible_v<T, Args&&...>) {
    return T(std::forward<Args>(args)...);
  } else {
    return T{std::forward<Args>(args)...};
  }
}

template <class T>
struct typed_node final : message_node {
  T value;

  template <class... Args>
  explicit typed_node(kind k, Args&&... args) : value(construct<T>(std::forward<Args>(args)...)) {
    table = &operations;
    tag = k;
    family = message_family<T>::value;
  }
  static void destroy_node(message_node* n) noexcept { delete static_cast<typed_node*>(n); }
  static constexpr ops operations{&typeid(T), &destroy_node};
};

/// A node of kind `k` holding a T built from `args`.
template <class T, class... Args>
message_node* make_node(message_node::kind k, Args&&... args) {
  return new typed_node<T>(k, std::forward<Args>(args)...);
}

}  // namespace detail

/// An owning, move-only handle to one message. Handlers receive `message&` and may move the payload
/// out (`take<T>()`) or look at it in place (`get_if<T>()`). Not thread-safe: one owner at a time.
class message {
 public:
  message() = default;
  message(message&& other) noexcept : node_(std::exchange(other.node_, nullptr)) {}
  message& operator=(message&& other) noexcept {
    if (this != &other) {
      reset();
      node_ = std::exchange(other.node_, nullptr);
    }
    return *this;
  }
  message(const message&) = delete;
  message& operator=(const message&) = delete;
  ~message() { reset(); }

  /// A message holding `value`, moved in (or constructed from an rvalue), never copied.
  template <class T>
  static message make(T&& value) {
    using V = std::remove_cvref_t<T>;
    static_assert(std::is_move_constructible_v<V> || std::is_copy_constructible_v<V>);
    return message(new detail::typed_node<V>(detail::message_node::kind::user, std::forward<T>(value)));
  }

  /// A message holding a `request<Req>`, marked as a call (see `is_request`).
  template <class T>
  static message make_request(T&& value) {
    using V = std::remove_cvref_t<T>;
    return message(new detail::typed_node<V>(detail::message_node::kind::request, std::forward<T>(value)));
  }

  [[nodiscard]] bool empty() const noexcept { return node_ == nullptr; }
  /// True if this message was sent by a call (`runtime::call`, `context::call`): it holds a
  /// `request<Req>` whose reply handle must be answered (or dropped, which answers `no_reply`).
  [[nodiscard]] bool is_request() const noexcept {
    return node_ != nullptr && node_->tag == detail::message_node::kind::request;
  }
  /// The payload's dynamic type (precondition: not empty).
  [[nodiscard]] const std::type_info& type() const noexcept { return node_->type(); }

  template <class T>
  [[nodiscard]] bool is() const noexcept {
    return node_ != nullptr && node_->family == detail::message_family<T>::value && node_->type() == typeid(T);
  }
  /// The payload if it is a `T`, else nullptr.
  template <class T>
  [[nodiscard]] T* get_if() noexcept {
    return is<T>() ? &static_cast<detail::typed_node<T>*>(node_)->value : nullptr;
  }
  template <class T>
  [[nodiscard]] const T* get_if() const noexcept {
    return is<T>() ? &static_cast<const detail::typed_node<T>*>(node_)->value : nullptr;
  }
  /// The payload (precondition: `is<T>()`).
  template <class T>
  [[nodiscard]] T& get() noexcept {
    return static_cast<detail::typed_node<T>*>(node_)->value;
  }
  /// Moves the payload out (precondition: `is<T>()`); the message keeps a moved-from value.
  template <class T>
  [[nodiscard]] T take() {
    return std::move(get<T>());
  }

  /// Gives up ownership of the node (for the mailbox). Pair: `message::adopt`.
  [[nodiscard]] detail::message_node* release() noexcept { return std::exchange(node_, nullptr); }
  /// Takes ownership of a node given up by `release` or taken from a mailbox.
  static message adopt(detail::message_node* node) noexcept { return message(node); }

 private:
  explicit message(detail::message_node* node) noexcept : node_(node) {}
  void reset() noexcept {
    if (node_ != nullptr) std::exchange(node_, nullptr)->destroy();
  }
  detail::message_node* node_ = nullptr;
};

/// What a send did. `accepted`: the message is in the mailbox; `closed`: the process does not exist
/// (any more), the message was dropped.
enum class send_result : std::uint8_t { accepted, closed };

}  // namespace sluice

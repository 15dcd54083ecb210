// The process mailbox: order, the wake-once rule, closing.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "process/mailbox.hpp"

using sluice::detail::make_node;
using sluice::detail::message_node;
using sluice::detail::typed_node;
using sluice::internal::mailbox;
using sluice::internal::push_result;

namespace {
message_node* node(int v) { return make_node<int>(message_node::kind::user, v); }
int value(message_node* n) { return static_cast<typed_node<int>*>(n)->value; }
void free_list(message_node* n) {
  while (n != nullptr) {
    message_node* next = n->next;
    n->destroy();
    n = next;
  }
}
}  // namespace

TEST_SUITE("mailbox") {
  TEST_CASE("messages come out in the order they were pushed") {
    mailbox box(/*starts_idle=*/false);
    for (int i = 0; i < 5; ++i) CHECK(box.push(node(i)) == push_result::accepted);
    message_node* list = box.take_all();
    int expected = 0;
    for (message_node* n = list; n != nullptr; n = n->next) CHECK(value(n) == expected++);
    CHECK(expected == 5);
    free_list(list);
  }

  TEST_CASE("only the push that finds the reader idle wakes it") {
    mailbox box(/*starts_idle=*/true);
    CHECK(box.push(node(1)) == push_result::accepted_woke_reader);
    CHECK(box.push(node(2)) == push_result::accepted);
    free_list(box.take_all());
    CHECK(box.try_block());
    CHECK(box.push(node(3)) == push_result::accepted_woke_reader);
    free_list(box.take_all());
  }

  TEST_CASE("the reader cannot block while messages are waiting") {
    mailbox box(/*starts_idle=*/false);
    CHECK(box.push(node(1)) == push_result::accepted);
    CHECK_FALSE(box.try_block());
    free_list(box.take_all());
    CHECK(box.try_block());
  }

  TEST_CASE("a closed mailbox refuses pushes and hands back what was queued") {
    mailbox box(/*starts_idle=*/false);
    CHECK(box.push(node(7)) == push_result::accepted);
    message_node* left = box.close();
    REQUIRE(left != nullptr);
    CHECK(value(left) == 7);
    free_list(left);
    message_node* late = node(8);
    CHECK(box.push(late) == push_result::closed);
    late->destroy();
    CHECK(box.closed());
  }

  TEST_CASE("a push with a wrong or stale guess of the head still queues in order, wakes and refuses as a plain push") {
    mailbox box(/*starts_idle=*/true);
    message_node* first = node(1);
    CHECK(box.push(first, /*guess=*/nullptr) == push_result::accepted_woke_reader);  // idle, not empty
    message_node* stale = node(99);  // an address that is not the head
    CHECK(box.push(node(2), stale) == push_result::accepted);
    stale->destroy();
    CHECK(box.push(node(3), first) == push_result::accepted);  // head is 2 now, not 1
    message_node* list = box.take_all();
    int expected = 1;
    for (message_node* n = list; n != nullptr; n = n->next) CHECK(value(n) == expected++);
    CHECK(expected == 4);
    free_list(list);
    free_list(box.close());
    message_node* late = node(4);
    CHECK(box.push(late, nullptr) == push_result::closed);
    late->destroy();
  }

  TEST_CASE("concurrent senders each keep their own order and exactly one wake happens per idle period") {
    mailbox box(/*starts_idle=*/true);
    constexpr int senders = 4;
    constexpr int per_sender = 20000;
    std::atomic<int> wakes{0};
    std::vector<std::thread> threads;
    for (int s = 0; s < senders; ++s) {
      threads.emplace_back([&, s] {
        for (int i = 0; i < per_sender; ++i) {
          if (box.push(node(s * per_sender + i)) == push_result::accepted_woke_reader) wakes.fetch_add(1);
        }
      });
    }
    std::vector<int> last(senders, -1);
    int received = 0;
    int blocks = 0;
    while (received < senders * per_sender) {
      message_node* list = box.take_all();
      if (list == nullptr) {
        if (box.try_block()) {
          ++blocks;
          // Wait for the pusher that will wake us: the mailbox leaves the idle state.
          while (box.idle()) std::this_thread::yield();
        }
        continue;
      }
      for (message_node* n = list; n != nullptr; n = n->next) {
        const int v = value(n);
        const int s = v / per_sender;
        CHECK(v > last[s]);
        last[s] = v;
        ++received;
      }
      free_list(list);
    }
    for (auto& t : threads) t.join();
    CHECK(received == senders * per_sender);
    CHECK(wakes.load() == blocks + 1);  // the initial idle period, then one per block
  }
}

#include <sluice/process/message.hpp>

#include "process/node_pool.hpp"

namespace sluice::detail {

void* message_node::operator new(std::size_t size) { return internal::node_pool::allocate(size); }

void message_node::operator delete(void* p, std::size_t size) noexcept { internal::node_pool::release(p, size); }

}  // namespace sluice::detail

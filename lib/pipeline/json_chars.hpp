// lib/pipeline/json_chars.hpp: the character classes the JSON reader and the ${ENV} substitution share.
#pragma once

namespace sluice::internal {

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
/// A character of an identifier (an environment variable's name): [A-Za-z0-9_].
inline bool is_word_char(char c) {
  return is_digit(c) || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

}  // namespace sluice::internal

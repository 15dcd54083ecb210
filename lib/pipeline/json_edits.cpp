// `${ENV}` substitution and `--set` overrides: the edits made to a json_document after it was read,
// keeping its locations in step (the reader is json_document.cpp).
#include <sluice/pipeline/json_document.hpp>

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "pipeline/json_chars.hpp"

namespace sluice::pipeline {

namespace {

using ojson = nlohmann::ordered_json;

using internal::is_digit;
using internal::is_word_char;

}  // namespace

// ---------------------------------------------------------------------------------------------
// ${ENV} substitution

namespace {

bool valid_env_name(std::string_view name) {
  if (name.empty() || is_digit(name[0])) return false;
  for (const char c : name)
    if (!is_word_char(c)) return false;
  return true;
}

/// Expands the references in `s` into `out`; each problem is appended to `problems` as
/// {problem, expected}.
void expand(std::string_view s, const env_lookup& getenv, std::string& out,
            std::vector<std::pair<std::string, std::string>>& problems) {
  static const std::string reference_form =
      "${NAME} or ${NAME:-default}, NAME of letters, digits and '_' (write $${ for a literal ${)";
  std::size_t i = 0;
  while (i < s.size()) {
    if (s.substr(i, 3) == "$${") {
      out += "${";
      i += 3;
      continue;
    }
    if (s.substr(i, 2) != "${") {
      out += s[i++];
      continue;
    }
    const std::size_t close = s.find('}', i + 2);
    if (close == std::string_view::npos) {
      problems.emplace_back("unterminated reference " + std::string(s.substr(i)), reference_form);
      return;
    }
    const std::string_view body = s.substr(i + 2, close - i - 2);
    const std::size_t dash = body.find(":-");
    const std::string_view name = body.substr(0, dash);
    i = close + 1;
    if (!valid_env_name(name)) {
      problems.emplace_back("malformed reference ${" + std::string(body) + "}", reference_form);
      continue;
    }
    const std::optional<std::string> value = getenv(name);
    if (dash != std::string_view::npos && (!value || value->empty()))
      out += body.substr(dash + 2);
    else if (value)
      out += *value;
    else
      problems.emplace_back("environment variable " + std::string(name) + " is not set",
                            "set it or give a default: ${" + std::string(name) + ":-value}");
  }
}

}  // namespace

std::vector<diagnostic> substitute_env(json_document& document, const env_lookup& getenv) {
  std::vector<diagnostic> found;
  std::string pointer;
  std::vector<std::pair<std::string, std::string>> problems;
  auto visit = [&](auto& self, ojson& value) -> void {
    if (value.is_string()) {
      auto& s = value.get_ref<std::string&>();
      if (s.find("${") == std::string::npos) return;
      std::string out;
      problems.clear();
      expand(s, getenv, out, problems);
      for (auto& [problem, expected] : problems)
        found.push_back({document.where(pointer), pointer, std::move(problem), std::move(expected)});
      if (problems.empty()) s = std::move(out);
      return;
    }
    const std::size_t length = pointer.size();
    if (value.is_object()) {
      for (auto& [key, member] : value.get_ref<ojson::object_t&>()) {
        pointer += '/' + escape_pointer_segment(key);
        self(self, member);
        pointer.resize(length);
      }
    } else if (value.is_array()) {
      for (std::size_t i = 0; i < value.size(); ++i) {
        pointer += '/' + std::to_string(i);
        self(self, value[i]);
        pointer.resize(length);
      }
    }
  };
  visit(visit, document.value_);
  return found;
}

std::optional<std::string> process_env(std::string_view name) {
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

// ---------------------------------------------------------------------------------------------
// --set overrides

namespace {

/// The keys of a dotted path or a JSON pointer; a problem text if it is malformed.
std::variant<std::vector<std::string>, std::string> split_path(std::string_view path) {
  std::vector<std::string> keys;
  if (path.empty()) return std::string("empty path");
  const bool is_pointer = path[0] == '/';
  const char separator = is_pointer ? '/' : '.';
  if (is_pointer) path.remove_prefix(1);
  while (true) {
    const std::size_t end = std::min(path.find(separator), path.size());
    std::string key;
    for (std::size_t i = 0; i < end; ++i) {
      if (!is_pointer || path[i] != '~') {
        key += path[i];
      } else if (i + 1 < end && (path[i + 1] == '0' || path[i + 1] == '1')) {
        key += path[++i] == '0' ? '~' : '/';
      } else {
        return std::string("'~' not followed by 0 or 1 in a JSON pointer");
      }
    }
    if (key.empty() && !is_pointer) return std::string("empty segment in a dotted path");
    keys.push_back(std::move(key));
    if (end == path.size()) return keys;
    path.remove_prefix(end + 1);
  }
}

const char* type_phrase(const ojson& v) {
  switch (v.type()) {
    case ojson::value_t::array: return "an array";
    case ojson::value_t::string: return "a string";
    case ojson::value_t::boolean: return "a boolean";
    case ojson::value_t::binary: return "binary data";
    case ojson::value_t::object: return "an object";
    case ojson::value_t::null: return "null";
    default: return "a number";
  }
}

/// Refuses a path that goes through something other than an object (null counts as absent).
std::optional<diagnostic> refuse_path(const json_document& document,
                                      const std::vector<std::string>& keys,
                                      const std::string& label) {
  std::string pointer;
  const ojson* node = &document.value();
  for (std::size_t i = 0; i < keys.size() && node != nullptr; ++i) {
    if (!node->is_object() && !node->is_null()) {
      const std::string shown = pointer.empty() ? "/" : pointer;
      return diagnostic{document.where(pointer), pointer,
                        label + ": " + (pointer.empty() ? "the document" : pointer) + " is " +
                            type_phrase(*node) + ", not an object",
                        "a path through objects only; set " + shown + " as a whole instead"};
    }
    const auto it = node->is_object() ? node->find(keys[i]) : node->end();
    node = node->is_object() && it != node->end() ? &*it : nullptr;
    pointer += '/' + escape_pointer_segment(keys[i]);
  }
  return std::nullopt;
}

/// The value of an assignment: JSON if it parses, else the text as a string, whatever it starts
/// with (a jq filter like `{a}` or `[.a, .b]` is not JSON). A value meant as JSON that does not
/// parse becomes a string, which the loader then refuses where a string does not fit.
ojson override_value(std::string_view text, std::string_view origin) {
  auto parsed = parse_document(text, std::string(origin));
  if (parsed) return parsed->value();
  return ojson(std::string(text));
}

}  // namespace

std::optional<diagnostic> apply_override(json_document& document, std::string_view assignment,
                                         std::string_view origin) {
  const std::string label = "cannot apply " + std::string(origin) + " " + std::string(assignment);
  const source_location command_line{std::string(origin), 0, 0};
  const std::size_t eq = assignment.find('=');
  if (eq == std::string_view::npos)
    return diagnostic{command_line, "", label + ": no '='",
                      "path=value, e.g. stages.out.options.path=out.jsonl"};
  auto split = split_path(assignment.substr(0, eq));
  if (auto* problem = std::get_if<std::string>(&split))
    return diagnostic{command_line, "", label + ": " + *problem,
                      "a dotted path like stages.out.path, or a JSON pointer like /stages/out/path"};
  const auto& keys = std::get<std::vector<std::string>>(split);
  ojson value = override_value(assignment.substr(eq + 1), origin);
  if (auto refused = refuse_path(document, keys, label)) return refused;

  // Checked: now create what is missing, replace the value and forget the replaced positions.
  std::string pointer;
  const json_document::position at_origin{0, 0, std::string(origin)};
  ojson* target = &document.value_;
  for (const auto& key : keys) {
    if (target->is_null()) *target = ojson::object();
    pointer += '/' + escape_pointer_segment(key);
    if (!target->contains(key)) document.positions_[pointer] = {at_origin, std::nullopt};
    target = &(*target)[key];
  }
  *target = std::move(value);
  const std::string prefix = pointer + '/';
  for (auto it = document.positions_.lower_bound(prefix);
       it != document.positions_.end() && it->first.starts_with(prefix);)
    it = document.positions_.erase(it);
  document.positions_[pointer] = {at_origin, std::nullopt};
  return std::nullopt;
}

}  // namespace sluice::pipeline

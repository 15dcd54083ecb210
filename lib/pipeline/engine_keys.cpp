// A stage's engine keys in a pipeline file: how the engine runs it, beside what its type does. What
// each key takes (type, range, choices, roles, dispatcher kinds) is read from engine_key_table; the
// code here only records the checked values in the stage_spec.
#include "pipeline/checker.hpp"

namespace sluice::pipeline::internal {

namespace {

std::size_t size_of(const ojson& checked) { return static_cast<std::size_t>(checked.get<std::int64_t>()); }

dispatcher_kind kind_named(const std::string& name) {
  return name == "partition" ? dispatcher_kind::partition : name == "broadcast" ? dispatcher_kind::broadcast : dispatcher_kind::demand;
}

/// Records a dispatcher key whose value fits its table entry (a partition `key` must also be a
/// JSON pointer).
void dispatcher_value(checker& check, dispatcher_spec& d, const engine_key& k, const ojson& v, const std::string& ptr) {
  if (k.name == "key") {
    if (!v.is_string() || (!v.get<std::string>().empty() && v.get<std::string>()[0] != '/')) {
      check.at_value(ptr, "got " + v.dump(), "a JSON pointer into the event, e.g. \"/user/id\"");
      return;
    }
    d.key = v.get<std::string>();
    return;
  }
  if (!key_value_fits(check, k, v, ptr)) return;
  if (k.name == "partitions") d.partitions = size_of(v);
  if (k.name == "max_queued") d.max_queued = size_of(v);
  if (k.name == "shuffle_demands_on_first_dispatch") d.shuffle_demands_on_first_dispatch = v.get<bool>();
}

/// The keys of a dispatcher of kind `kind` (`d` is its object, or its name alone): each checked
/// against the table, the keys of another kind refused rather than silently ignored.
void dispatcher_keys(checker& check, dispatcher_spec& spec, dispatcher_kind kind, const ojson& d, const std::string& ptr) {
  const std::string kind_name(to_string(kind));
  for (const engine_key& k : engine_key_table) {
    if (k.scope != key_scope::dispatcher || k.name == "type") continue;
    const std::string name(k.name);
    const bool given = d.is_object() && d.contains(name);
    if ((k.kinds & bit(kind)) == 0) {
      if (given) {
        check.at_key(ptr + "/" + name, "only a " + set_text(k.kinds, {dispatcher_kind::demand, dispatcher_kind::broadcast, dispatcher_kind::partition}) +
                                           " dispatcher takes " + q(name),
                     "no " + q(name) + " on a " + kind_name + " dispatcher");
      }
    } else if (given) {
      dispatcher_value(check, spec, k, d[name], ptr + "/" + name);
    } else if (k.required) {
      check.at_value(ptr, "a " + kind_name + " dispatcher needs " + q(name), q(name) + ": " + std::string(k.description));
    }
  }
}

void dispatcher_key(checker& check, stage_spec& s, const ojson& d) {
  const std::string ptr = s.pointer + "/dispatcher";
  const std::vector<std::string> kinds = choices_of(engine_key_of(key_scope::dispatcher, "type"));
  std::optional<std::string> kind;
  if (d.is_string()) {
    kind = check.choice(d, ptr, kinds);
  } else if (d.is_object()) {
    check.known_keys(d, ptr, key_names(key_scope::dispatcher), "dispatcher key");
    if (d.contains("type")) kind = check.choice(d["type"], ptr + "/type", kinds);
    else check.at_value(ptr, "missing \"type\"", "\"demand\", \"broadcast\" or \"partition\"");
  } else {
    check.at_value(ptr, std::string("got ") + json_type_name(d), "\"demand\" or an object with \"type\"");
  }
  if (!kind) return;
  s.dispatcher.type = kind_named(*kind);
  dispatcher_keys(check, s.dispatcher, s.dispatcher.type, d, ptr);
}

void restart_key(checker& check, stage_spec& s, const ojson& r) {
  const std::string ptr = s.pointer + "/restart";
  if (!r.is_object()) {
    check.at_value(ptr, std::string("got ") + json_type_name(r), "an object {\"max_restarts\": N, \"max_seconds\": S}");
    return;
  }
  check.known_keys(r, ptr, key_names(key_scope::restart), "restart key");
  for (const engine_key& k : engine_key_table) {
    const std::string name(k.name);
    if (k.scope != key_scope::restart || !r.contains(name) || !key_value_fits(check, k, r[name], ptr + "/" + name)) continue;
    if (k.name == "max_restarts") s.restart.max_restarts = size_of(r[name]);
    if (k.name == "max_seconds") s.restart.max_seconds = r[name].get<double>();
  }
}

/// The `retry` object of an `on_error`: its keys checked against the table.
void retry_key(checker& check, error_policy& policy, const ojson& r, const std::string& ptr) {
  if (!r.is_object()) {
    check.at_value(ptr, std::string("got ") + json_type_name(r), "an object {\"max\": N, \"backoff_ms\": B, \"max_backoff_ms\": M}");
    return;
  }
  check.known_keys(r, ptr, key_names(key_scope::retry), "retry key");
  policy.max_retries = engine_key_defaults::retry_max;
  for (const engine_key& k : engine_key_table) {
    const std::string name(k.name);
    if (k.scope != key_scope::retry || !r.contains(name) || !key_value_fits(check, k, r[name], ptr + "/" + name)) continue;
    const std::int64_t v = r[name].get<std::int64_t>();
    if (k.name == "max") policy.max_retries = static_cast<std::size_t>(v);
    if (k.name == "backoff_ms") policy.backoff = std::chrono::milliseconds(v);
    if (k.name == "max_backoff_ms") policy.max_backoff = std::chrono::milliseconds(v);
  }
  if (policy.backoff > policy.max_backoff && r.contains("backoff_ms") && r.contains("max_backoff_ms")) {
    check.at_value(ptr + "/max_backoff_ms", "max_backoff_ms " + std::to_string(policy.max_backoff.count()) + " is below backoff_ms " +
                                                 std::to_string(policy.backoff.count()),
                   "at least backoff_ms");
  }
  policy.max_backoff = std::max(policy.max_backoff, policy.backoff);  // a lone backoff_ms above the default cap is the wait
}

/// A stage's `on_error`: "fail", "skip", or {"retry": {...}, "dead_letter": "stage"}, on a type
/// that routes failures (the dead-letter stage itself is checked across stages, by the loader).
void on_error_key(checker& check, stage_spec& s, const ojson& v) {
  const std::string ptr = s.pointer + "/on_error";
  if (!s.type_info->routes_failures) {
    check.at_key(ptr, q(s.type) + " does not route the events it fails on", "\"on_error\" only on a stage type that does (jq)");
    return;
  }
  error_policy policy;
  if (v.is_string()) {
    const auto action = check.choice(v, ptr, choices_of(engine_key_of(key_scope::stage, "on_error")));
    if (!action) return;
    policy.then = *action == "skip" ? error_policy::action::skip : error_policy::action::fail;
    s.on_error = policy;
    return;
  }
  if (!v.is_object()) {
    check.at_value(ptr, std::string("got ") + json_type_name(v), "\"fail\", \"skip\" or an object {\"retry\": {...}, \"dead_letter\": stage}");
    return;
  }
  check.known_keys(v, ptr, key_names(key_scope::on_error), "on_error key");
  if (v.contains("retry") && s.role == stage_role::source) {
    check.at_key(ptr + "/retry", "a source reads each input once: it cannot run one again", "no \"retry\" on a source");
  } else if (v.contains("retry")) {
    retry_key(check, policy, v["retry"], ptr + "/retry");
  }
  if (v.contains("dead_letter")) {
    const ojson& d = v["dead_letter"];
    if (!d.is_string() || d.get<std::string>().empty()) {
      check.at_value(ptr + "/dead_letter", "got " + d.dump(), "the name of a stage of this pipeline");
    } else if (s.role == stage_role::sink) {
      check.at_key(ptr + "/dead_letter", "a sink has no output to send dead letters on", "no \"dead_letter\" on a sink");
    } else {
      policy.then = error_policy::action::dead_letter;
      policy.dead_letter = d.get<std::string>();
    }
  }
  s.on_error = policy;
}

/// Records a stage key that is not a composite one (buffer_size, buffer_keep, concurrency; a
/// description is only checked).
void stage_value(checker& check, stage_spec& s, const engine_key& k, const ojson& v) {
  if (!key_value_fits(check, k, v, s.pointer + "/" + std::string(k.name))) return;
  if (k.name == "buffer_size") s.buffer_size = size_of(v);
  if (k.name == "buffer_keep") s.buffer_keep = v.get<std::string>() == "first" ? sluice::buffer_keep::first : sluice::buffer_keep::last;
  if (k.name == "concurrency") s.concurrency = size_of(v);
}

}  // namespace

bool role_takes(checker& check, const stage_spec& s, std::string_view key) {
  const engine_key& k = engine_key_of(key_scope::stage, key);
  if ((k.roles & bit(s.role)) != 0) return true;
  check.at_key(s.pointer + "/" + std::string(key), std::string(k.refusal),
               q(std::string(key)) + " only on a " + set_text(k.roles, {stage_role::source, stage_role::transform, stage_role::sink}));
  return false;
}

void engine_keys(checker& check, stage_spec& s, const ojson& body) {
  for (const engine_key& k : engine_key_table) {
    const std::string name(k.name);
    if (k.scope != key_scope::stage || k.name == "subscribe_to" || !body.contains(name)) continue;
    if (!role_takes(check, s, k.name)) continue;
    if (k.name == "dispatcher") dispatcher_key(check, s, body[name]);
    else if (k.name == "restart") restart_key(check, s, body[name]);
    else if (k.name == "on_error") on_error_key(check, s, body[name]);
    else if (k.name != "type" && k.name != "options") stage_value(check, s, k, body[name]);
  }
}

void restart_checks(checker& check, const pipeline_spec& spec) {
  for (auto& s : spec.stages) {
    for (auto& sub : s.subscribe_to) {
      const stage_spec* p = spec.find(sub.stage);
      if (p == nullptr || sub.options.cancel != cancel_mode::permanent) continue;
      if (!s.restart.allowed() && !p->restart.allowed()) continue;
      const std::string& restarted = p->restart.allowed() ? p->name : s.name;
      check.at_value(sub.pointer + "/cancel", "cancel \"permanent\" cannot be used with restarts (" + q(restarted) + " has a \"restart\")",
                     "\"transient\" (the default) or \"temporary\"");
    }
  }
}

}  // namespace sluice::pipeline::internal

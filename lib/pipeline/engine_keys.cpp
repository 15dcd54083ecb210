// A stage's engine keys in a pipeline file: how the engine runs it, beside what its type does.
#include "pipeline/checker.hpp"

namespace sluice::pipeline::internal {

namespace {

void partition_keys(checker& check, stage_spec& s, const ojson& d, const std::string& ptr) {
  s.dispatcher.type = dispatcher_spec::kind::partition;
  if (!d.is_object() || !d.contains("partitions")) {
    check.at_value(ptr, "a partition dispatcher needs \"partitions\"", "\"partitions\": the number of partitions");
  } else if (auto n = check.integer(d["partitions"], ptr + "/partitions", engine_key_ranges::partitions)) {
    s.dispatcher.partitions = static_cast<std::size_t>(*n);
  }
  if (d.is_object() && d.contains("max_queued")) {
    if (auto n = check.integer(d["max_queued"], ptr + "/max_queued", engine_key_ranges::max_queued)) s.dispatcher.max_queued = static_cast<std::size_t>(*n);
  }
  if (d.is_object() && d.contains("key")) {
    const ojson& k = d["key"];
    if (!k.is_string() || (!k.get<std::string>().empty() && k.get<std::string>()[0] != '/')) {
      check.at_value(ptr + "/key", "got " + k.dump(), "a JSON pointer into the event, e.g. \"/user/id\"");
    } else {
      s.dispatcher.key = k.get<std::string>();
    }
  }
}

void dispatcher_key(checker& check, stage_spec& s, const ojson& d) {
  const std::string ptr = s.pointer + "/dispatcher";
  if (s.role == stage_role::sink) check.at_key(ptr, "a sink has no consumers to dispatch to", "no dispatcher");
  std::optional<std::string> kind;
  if (d.is_string()) {
    kind = check.choice(d, ptr, {"demand", "broadcast", "partition"});
  } else if (d.is_object()) {
    check.known_keys(d, ptr, {"type", "partitions", "key", "max_queued", "shuffle_demands_on_first_dispatch"},
                     "dispatcher key");
    if (d.contains("type")) kind = check.choice(d["type"], ptr + "/type", {"demand", "broadcast", "partition"});
    else check.at_value(ptr, "missing \"type\"", "\"demand\", \"broadcast\" or \"partition\"");
  } else {
    check.at_value(ptr, std::string("got ") + json_type_name(d), "\"demand\" or an object with \"type\"");
  }
  if (kind == "broadcast") s.dispatcher.type = dispatcher_spec::kind::broadcast;
  if (kind == "partition") partition_keys(check, s, d, ptr);
  if (!kind || !d.is_object()) return;
  // The keys of one dispatcher type on another would be silently ignored: say so instead.
  const auto only_for = [&](const char* key, const std::string& type) {
    if (d.contains(key) && *kind != type) {
      check.at_key(ptr + "/" + key, "only a " + type + " dispatcher takes \"" + key + "\"",
                   "no \"" + std::string(key) + "\" on a " + *kind + " dispatcher");
    }
  };
  only_for("partitions", "partition");
  only_for("key", "partition");
  only_for("max_queued", "partition");
  only_for("shuffle_demands_on_first_dispatch", "demand");
  if (*kind == "demand" && d.contains("shuffle_demands_on_first_dispatch")) {
    const ojson& v = d["shuffle_demands_on_first_dispatch"];
    if (v.is_boolean()) {
      s.dispatcher.shuffle_demands_on_first_dispatch = v.get<bool>();
    } else {
      check.at_value(ptr + "/shuffle_demands_on_first_dispatch", std::string("got ") + json_type_name(v), "true or false");
    }
  }
}

void restart_key(checker& check, stage_spec& s, const ojson& r) {
  const std::string ptr = s.pointer + "/restart";
  if (!r.is_object()) {
    check.at_value(ptr, std::string("got ") + json_type_name(r), "an object {\"max_restarts\": N, \"max_seconds\": S}");
    return;
  }
  check.known_keys(r, ptr, {"max_restarts", "max_seconds"}, "restart key");
  if (r.contains("max_restarts")) {
    if (auto n = check.integer(r["max_restarts"], ptr + "/max_restarts", engine_key_ranges::max_restarts)) s.restart.max_restarts = static_cast<std::size_t>(*n);
  }
  if (r.contains("max_seconds")) {
    if (auto n = check.in_range(r["max_seconds"], ptr + "/max_seconds", engine_key_ranges::max_seconds)) s.restart.max_seconds = *n;
  }
}

}  // namespace

void engine_keys(checker& check, stage_spec& s, const ojson& body) {
  if (body.contains("dispatcher")) dispatcher_key(check, s, body["dispatcher"]);
  if (body.contains("buffer_size")) {
    if (s.role == stage_role::sink) check.at_key(s.pointer + "/buffer_size", "a sink has no output buffer", "no buffer_size");
    if (auto n = check.integer(body["buffer_size"], s.pointer + "/buffer_size", engine_key_ranges::buffer_size)) s.buffer_size = static_cast<std::size_t>(*n);
  }
  if (body.contains("buffer_keep")) {
    if (auto k = check.choice(body["buffer_keep"], s.pointer + "/buffer_keep", {"last", "first"})) {
      s.buffer_keep = *k == "first" ? sluice::buffer_keep::first : sluice::buffer_keep::last;
    }
  }
  if (body.contains("concurrency")) {
    if (s.role == stage_role::source) {
      check.at_key(s.pointer + "/concurrency", "a source cannot run in copies", "concurrency on a transform or sink");
    } else if (auto n = check.integer(body["concurrency"], s.pointer + "/concurrency", engine_key_ranges::concurrency)) {
      s.concurrency = static_cast<std::size_t>(*n);
    }
  }
  if (body.contains("restart")) restart_key(check, s, body["restart"]);
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

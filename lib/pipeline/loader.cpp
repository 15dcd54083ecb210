// Pipeline files -> pipeline_spec. Every check runs and every problem is reported, each at the
// exact place in the file; nothing is started.
#include <sluice/pipeline/model.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "pipeline/checker.hpp"

namespace sluice::pipeline {

namespace {

using namespace internal;

json to_plain(const ojson& v) { return json::parse(v.dump()); }

/// A bound as written in a message: integers without a decimal point.
std::string bound_text(double b, bool integer) {
  if (integer || b == std::floor(b)) {
    if (b >= 9.2e18) return std::to_string(INT64_MAX);
    if (b <= -9.2e18) return std::to_string(INT64_MIN);
    return std::to_string(static_cast<std::int64_t>(b));
  }
  return json(b).dump();
}

/// What `v` should have been when it is outside the option's range (integers always fit int64).
std::optional<std::string> out_of_range(const option_spec& o, const ojson& v) {
  if (!v.is_number()) return std::nullopt;
  const bool integer = o.type == option_type::integer;
  bool out = false;
  if (integer && v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
    out = true;
  } else {
    const double x = v.get<double>();
    out = (o.minimum && x < *o.minimum) || (o.maximum && x > *o.maximum);
  }
  if (!out) return std::nullopt;
  const double lo = o.minimum ? *o.minimum : (integer ? -9.3e18 : 0.0);
  const double hi = o.maximum ? *o.maximum : (integer ? 9.3e18 : 0.0);
  const std::string what = integer ? "an integer " : "a number ";
  if ((o.minimum || integer) && (o.maximum || integer)) return what + "from " + bound_text(lo, integer) + " to " + bound_text(hi, integer);
  if (o.minimum) return "at least " + bound_text(lo, integer);
  return "at most " + bound_text(hi, integer);
}

std::string a_or_an(option_type t) {
  const std::string name = to_string(t);
  if (t == option_type::any) return "any value";
  return (name[0] == 'i' || name[0] == 'a' || name[0] == 'o') ? "an " + name : "a " + name;
}

class loader {
 public:
  loader(const json_document& doc, const registry& types) : doc_(doc), types_(types), check_(doc) {}

  load_result run() {
    pipeline_spec spec;
    spec.file = doc_.file();
    const ojson& root = doc_.value();
    if (!root.is_object()) {
      check_.at_value("", std::string("the pipeline is ") + json_type_name(root), "an object with version, name and stages");
      return finish(std::move(spec));
    }
    check_.known_keys(root, "", {"version", "name", "description", "http", "stages"}, "key");
    if (!root.contains("version")) {
      check_.at_value("", "missing \"version\"", "\"version\": 1");
    } else if (root["version"] != 1) {
      check_.at_value("/version", "unknown version " + root["version"].dump(), "1");
    }
    if (root.contains("name")) {
      if (root["name"].is_string()) spec.name = root["name"].get<std::string>();
      else check_.at_value("/name", std::string("got ") + json_type_name(root["name"]), "a string");
    }
    if (root.contains("http")) {  // `sluice run` checks the address itself (lib/observe)
      if (root["http"].is_string()) spec.http = root["http"].get<std::string>();
      else check_.at_value("/http", std::string("got ") + json_type_name(root["http"]), "a string HOST:PORT");
    }
    if (!root.contains("stages") || !root["stages"].is_object() || root["stages"].empty()) {
      check_.at_value(root.contains("stages") ? "/stages" : "", "no stages", "\"stages\": an object of stages by name");
      return finish(std::move(spec));
    }
    const ojson& stages = root["stages"];
    find_consumers(stages);
    for (auto& [name, body] : stages.items()) {
      if (auto s = stage(name, body)) spec.stages.push_back(std::move(*s));
    }
    dead_letter_edges(spec);
    cross_checks(spec);  // over the stages that parsed: their problems are independent of the rest
    return finish(std::move(spec));
  }

 private:
  load_result finish(pipeline_spec spec) {
    load_result r;
    r.diagnostics = check_.take();
    if (r.diagnostics.empty()) r.pipeline = std::move(spec);
    return r;
  }

  /// Which stages something subscribes to (decides between a type's roles, e.g. file).
  void find_consumers(const ojson& stages) {
    for (auto& [name, body] : stages.items()) {
      // A dead-letter stage has the stages that name it as producers, subscribe_to or not.
      if (body.is_object() && body.contains("on_error") && body["on_error"].is_object() && body["on_error"].contains("dead_letter") &&
          body["on_error"]["dead_letter"].is_string()) {
        dead_letter_targets_.insert(body["on_error"]["dead_letter"].get<std::string>());
      }
      if (!body.is_object() || !body.contains("subscribe_to")) continue;
      const ojson& subs = body["subscribe_to"];
      auto note = [&](const ojson& entry) {
        if (entry.is_string()) subscribed_.insert(entry.get<std::string>());
        else if (entry.is_object() && entry.contains("stage") && entry["stage"].is_string()) subscribed_.insert(entry["stage"].get<std::string>());
      };
      if (subs.is_array()) {
        for (auto& e : subs) note(e);
      } else {
        note(subs);
      }
    }
  }

  std::optional<stage_spec> stage(const std::string& name, const ojson& body) {
    const std::string ptr = "/stages/" + escape_pointer_segment(name);
    if (!body.is_object()) {
      check_.at_value(ptr, std::string("got ") + json_type_name(body), "an object with \"type\"");
      return std::nullopt;
    }
    check_.known_keys(body, ptr, key_names(key_scope::stage), "stage key");
    stage_spec s;
    s.name = name;
    s.pointer = ptr;
    const bool has_producers = body.contains("subscribe_to") || dead_letter_targets_.count(name) != 0;
    const bool has_consumers = subscribed_.count(name) != 0;
    if (!body.contains("type") || !body["type"].is_string()) {
      check_.at_value(body.contains("type") ? ptr + "/type" : ptr, "missing or non-string \"type\"", "a stage type name, e.g. \"range\"");
      return std::nullopt;
    }
    s.type = body["type"].get<std::string>();
    const stage_role wanted = !has_producers ? stage_role::source : has_consumers ? stage_role::transform : stage_role::sink;
    s.type_info = types_.find(s.type, wanted);
    if (s.type_info == nullptr) {
      unknown_type(s.type, ptr + "/type");
      return std::nullopt;
    }
    s.role = s.type_info->role;
    role_checks(s, has_producers, has_consumers);
    s.options = options(*s.type_info, body.contains("options") ? body["options"] : ojson::object(), ptr + "/options",
                        body.contains("options"));
    if (body.contains("subscribe_to") && role_takes(check_, s, "subscribe_to")) s.subscribe_to = subscriptions(name, body["subscribe_to"], ptr + "/subscribe_to");
    engine_keys(check_, s, body);
    if (s.on_error && body.contains("options") && body["options"].is_object() && body["options"].contains("on_error")) {
      check_.at_key(ptr + "/on_error", "\"on_error\" is given twice: here and in \"options\"", "one of them (this one also takes retries and a dead-letter stage)");
    }
    return s;
  }

  void unknown_type(const std::string& type, const std::string& ptr) {
    if (!types_.knows(type)) {
      const auto near = types_.nearest(type);
      check_.at_value(ptr, "unknown stage type " + q(type),
                      near ? "did you mean " + q(*near) + "? see `sluice stages`" : "a registered type; see `sluice stages`");
    } else {
      check_.at_value(ptr, q(type) + " cannot be used here", "a stage type for this stage's place in the pipeline");
    }
  }

  void role_checks(const stage_spec& s, bool has_producers, bool has_consumers) {
    const std::string role = to_string(s.role);
    if (s.role != stage_role::source && !has_producers) {
      check_.at_value(s.pointer, "a " + role + " with no producer", "\"subscribe_to\": the stage(s) it consumes");
    }
    if (s.role != stage_role::sink && !has_consumers) {
      check_.at_value(s.pointer, "a " + role + " with no consumer: nothing subscribes to " + q(s.name),
                      "a stage that subscribes to it");
    }
    if (s.role == stage_role::sink && has_consumers) {
      check_.at_value(s.pointer, q(s.type) + " is a sink: nothing can subscribe to it", "a source or transform as producer");
    }
  }

  json options(const stage_type& type, const ojson& given, const std::string& ptr, bool present) {
    const std::size_t problems_before = check_.count();
    json out = json::object();
    if (!given.is_object()) {
      check_.at_value(ptr, std::string("got ") + json_type_name(given), "an object");
      return out;
    }
    std::vector<std::string> names;
    for (auto& o : type.options) names.push_back(o.name);
    for (auto& [key, value] : given.items()) {
      if (std::find(names.begin(), names.end(), key) == names.end()) {
        check_.at_key(ptr + "/" + escape_pointer_segment(key), "unknown option " + q(key) + " for " + q(type.name),
                      names.empty() ? std::string("no options") : "one of: " + join(names));
      }
    }
    for (auto& o : type.options) {
      const std::string optr = ptr + "/" + escape_pointer_segment(o.name);
      if (!given.contains(o.name) || given[o.name].is_null()) {
        if (o.required) check_.at_value(present ? ptr : ptr.substr(0, ptr.rfind('/')), "missing option " + q(o.name) + " for " + q(type.name), a_or_an(o.type) + ": " + o.description);
        else if (o.default_value) out[o.name] = *o.default_value;
        continue;
      }
      const ojson& v = given[o.name];
      if (!has_type(v, o.type)) {
        check_.at_value(optr, std::string("got ") + json_type_name(v), a_or_an(o.type));
        continue;
      }
      if (auto range = out_of_range(o, v)) {
        check_.at_value(optr, "got " + v.dump(), *range);
        continue;
      }
      if (o.min_length && v.is_string() && v.get<std::string>().size() < *o.min_length) {
        check_.at_value(optr, "got " + v.dump(), *o.min_length == 1 ? std::string("a non-empty string")
                                                                      : "at least " + std::to_string(*o.min_length) + " characters");
        continue;
      }
      if (!o.one_of.empty() && std::find(o.one_of.begin(), o.one_of.end(), v.get<std::string>()) == o.one_of.end()) {
        std::vector<std::string> shown;
        for (auto& c : o.one_of) shown.push_back(q(c));
        check_.at_value(optr, "got " + v.dump(), "one of " + join(shown));
        continue;
      }
      out[o.name] = to_plain(v);
    }
    if (type.check && check_.count() == problems_before) {
      for (auto& p : type.check(out)) {
        check_.at_value(p.option.empty() ? ptr : ptr + "/" + escape_pointer_segment(p.option), p.problem, p.expected);
      }
    }
    return out;
  }

  std::vector<subscription_spec> subscriptions(const std::string& self, const ojson& subs, const std::string& ptr) {
    std::vector<subscription_spec> out;
    if (subs.is_string() || subs.is_object()) {
      if (auto s = subscription(self, subs, ptr)) out.push_back(std::move(*s));
      return out;
    }
    if (!subs.is_array() || subs.empty()) {
      check_.at_value(ptr, std::string("got ") + json_type_name(subs), "a stage name, an object with \"stage\", or a non-empty array of them");
      return out;
    }
    for (std::size_t i = 0; i < subs.size(); ++i) {
      if (auto s = subscription(self, subs[i], ptr + "/" + std::to_string(i))) out.push_back(std::move(*s));
    }
    return out;
  }

  std::optional<subscription_spec> subscription(const std::string& self, const ojson& entry, const std::string& ptr) {
    const std::size_t problems_before = check_.count();
    subscription_spec s;
    s.pointer = ptr;
    // Pipelines default to transient: a stage ends when its last producer has ended (not the
    // first), and still fails with a producer that fails.
    s.options.cancel = cancel_mode::transient;
    std::string stage_ptr = ptr;
    if (entry.is_string()) {
      s.stage = entry.get<std::string>();
    } else if (entry.is_object()) {
      check_.known_keys(entry, ptr, key_names(key_scope::subscription), "subscription key");
      const std::size_t entry_problems = check_.count();
      if (!entry.contains("stage") || !entry["stage"].is_string()) {
        check_.at_value(ptr, "missing \"stage\"", "the producer's name");
        return std::nullopt;
      }
      s.stage = entry["stage"].get<std::string>();
      stage_ptr = ptr + "/stage";
      subscription_keys(entry, ptr, s.options);
      if (auto bad = s.options.validate(); bad && check_.count() == entry_problems) check_.at_value(ptr + (entry.contains("min_demand") ? "/min_demand" : ""), *bad, "min_demand below max_demand");
    } else {
      check_.at_value(ptr, std::string("got ") + json_type_name(entry), "a stage name or an object with \"stage\"");
      return std::nullopt;
    }
    if (s.stage == self) {
      check_.at_value(stage_ptr, "a stage cannot subscribe to itself", "another stage's name");
      return std::nullopt;
    }
    if (!doc_.value()["stages"].contains(s.stage)) {
      std::vector<std::string> names;
      for (auto& [n, b] : doc_.value()["stages"].items()) names.push_back(q(n));
      check_.at_value(stage_ptr, "no stage named " + q(s.stage), "one of " + join(names));
      return std::nullopt;
    }
    // A subscription with a refused key is left out of the checks across stages: what they would
    // say (a partitioned producer without "partition") follows from the problem already reported.
    if (check_.count() != problems_before) return std::nullopt;
    return s;
  }

  /// A subscription object's keys after "stage", each checked against engine_key_table.
  void subscription_keys(const ojson& entry, const std::string& ptr, subscription_options& o) {
    for (const engine_key& k : engine_key_table) {
      const std::string name(k.name);
      if (k.scope != key_scope::subscription || k.name == "stage" || !entry.contains(name)) continue;
      const ojson& v = entry[name];
      if (!key_value_fits(check_, k, v, ptr + "/" + name)) continue;
      if (k.name == "max_demand") o.max_demand = v.get<std::size_t>();
      if (k.name == "min_demand") o.min_demand = v.get<std::size_t>();
      if (k.name == "partition") o.partition = partition_id{v.get<std::size_t>()};
      if (k.name == "cancel") {
        const std::string c = v.get<std::string>();
        o.cancel = c == "permanent" ? cancel_mode::permanent : c == "transient" ? cancel_mode::transient : cancel_mode::temporary;
      }
    }
  }

  /// Each stage's `on_error.dead_letter` becomes a subscription of the dead-letter stage to it,
  /// one that takes only its dead letters (subscription_spec::dead_letters).
  void dead_letter_edges(pipeline_spec& spec) {
    for (const stage_spec& s : spec.stages) {
      if (!s.on_error || s.on_error->then != error_policy::action::dead_letter) continue;
      const std::string ptr = s.pointer + "/on_error/dead_letter";
      const std::string& target = s.on_error->dead_letter;
      if (target == s.name) {
        check_.at_value(ptr, "a stage cannot be its own dead-letter stage", "another stage's name");
        continue;
      }
      auto d = std::find_if(spec.stages.begin(), spec.stages.end(), [&](const stage_spec& x) { return x.name == target; });
      if (d == spec.stages.end()) {
        if (!doc_.value()["stages"].contains(target)) {
          std::vector<std::string> names;
          for (auto& [n, b] : doc_.value()["stages"].items()) {
            if (n != s.name) names.push_back(q(n));
          }
          check_.at_value(ptr, "no stage named " + q(target), names.empty() ? std::string("another stage's name") : "one of " + join(names));
        }
        continue;  // else that stage had problems of its own, reported
      }
      if (d->role == stage_role::source) {
        check_.at_value(ptr, q(target) + " is a source: it cannot take dead letters", "a sink or transform");
        continue;
      }
      subscription_spec sub;
      sub.stage = s.name;
      sub.options.cancel = cancel_mode::transient;  // as any subscription of a pipeline
      sub.pointer = ptr;
      sub.dead_letters = true;
      d->subscribe_to.push_back(std::move(sub));
    }
  }

  /// Checks across stages: event types, partitions, cycles.
  void cross_checks(const pipeline_spec& spec) {
    for (auto& s : spec.stages) {
      for (auto& sub : s.subscribe_to) {
        const stage_spec* p = spec.find(sub.stage);
        if (p == nullptr) continue;
        if (*p->type_info->output != *s.type_info->input) {
          check_.at_value(sub.pointer, "event types differ: " + q(p->name) + " emits " + p->type_info->output->name() +
                                           " but " + q(s.name) + " takes " + s.type_info->input->name(),
                          "a producer of the same event type");
        }
        if (!sub.dead_letters) partition_checks(*p, s, sub);  // dead letters bypass the dispatcher
      }
    }
    cycles(spec);
    restart_checks(check_, spec);
    claim_checks(check_, spec);
  }

  void partition_checks(const stage_spec& producer, const stage_spec& consumer, const subscription_spec& sub) {
    const bool partitioned = producer.dispatcher.type == dispatcher_spec::kind::partition;
    if (partitioned && producer.dispatcher.partitions == 0) return;  // its "partitions" was refused: said once
    if (!partitioned) {
      if (sub.options.partition) {
        check_.at_value(sub.pointer + "/partition", q(producer.name) + " has no partition dispatcher", "no partition");
      }
      return;
    }
    if (!sub.options.partition) {
      if (consumer.concurrency != producer.dispatcher.partitions) {
        check_.at_value(sub.pointer, q(producer.name) + " is partitioned " + std::to_string(producer.dispatcher.partitions) + " ways",
                        "\"partition\" on the subscription, or concurrency " + std::to_string(producer.dispatcher.partitions) +
                            " (one copy per partition)");
      }
      return;
    }
    const auto* n = std::get_if<std::size_t>(&*sub.options.partition);
    if (n == nullptr || *n >= producer.dispatcher.partitions) {
      check_.at_value(sub.pointer + "/partition", "no partition " + sluice::to_string(*sub.options.partition) + " in " + q(producer.name),
                      "a partition from 0 to " + std::to_string(producer.dispatcher.partitions - 1));
    }
  }

  void cycles(const pipeline_spec& spec) {
    std::map<std::string, int> state;  // 0 new, 1 on the path, 2 done
    std::vector<std::string> path;
    std::function<void(const stage_spec&)> visit = [&](const stage_spec& s) {
      state[s.name] = 1;
      path.push_back(s.name);
      for (auto& sub : s.subscribe_to) {
        const stage_spec* p = spec.find(sub.stage);
        if (p == nullptr) continue;
        if (state[p->name] == 1) {
          std::string cycle;
          auto from = std::find(path.begin(), path.end(), p->name);
          for (auto it = from; it != path.end(); ++it) cycle += *it + " -> ";
          check_.at_value(sub.pointer, "subscription cycle: " + cycle + p->name, "stages that form a chain from sources to sinks");
        } else if (state[p->name] == 0) {
          visit(*p);
        }
      }
      path.pop_back();
      state[s.name] = 2;
    };
    for (auto& s : spec.stages) {
      if (state[s.name] == 0) visit(s);
    }
  }

  const json_document& doc_;
  const registry& types_;
  checker check_;
  std::set<std::string> subscribed_;
  std::set<std::string> dead_letter_targets_;  // stages some on_error names as its dead-letter stage
};

}  // namespace

const stage_spec* pipeline_spec::find(const std::string& stage) const {
  for (auto& s : stages) {
    if (s.name == stage) return &s;
  }
  return nullptr;
}

load_result load_pipeline(const json_document& document, const registry& types) { return loader(document, types).run(); }

load_result load_pipeline_file(const std::string& path, const registry& types, const std::vector<std::string>& overrides) {
  document_result read = read_document(path);
  if (!read) return {std::nullopt, read.diagnostics()};
  json_document& doc = read.value();
  std::vector<diagnostic> problems = substitute_env(doc, process_env);
  for (auto& o : overrides) {
    if (auto d = apply_override(doc, o, "--set")) problems.push_back(std::move(*d));
  }
  if (!problems.empty()) return {std::nullopt, std::move(problems)};
  return load_pipeline(doc, types);
}

}  // namespace sluice::pipeline

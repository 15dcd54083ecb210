// The options of the `nats_jetstream` source: schema and the checks beyond it.
#include "stages/nats_jetstream.hpp"

namespace sluice::stages {

namespace {

option_spec name_option(const char* name, const char* description) {
  auto o = opt(name, option_type::string, description, true);
  o.min_length = 1;
  return o;
}

option_spec int_spec(const char* name, const char* description, std::int64_t def, double min, double max) {
  auto o = opt(name, option_type::integer, description, false, def);
  o.minimum = min;
  o.maximum = max;
  return o;
}

}  // namespace

std::vector<option_spec> jetstream_source_options() {
  std::vector<option_spec> o;
  o.push_back(name_option("stream", "the JetStream stream to consume"));
  o.push_back(name_option("durable", "the durable pull consumer; every instance with the same name shares its messages"));
  auto subject = opt("subject", option_type::string,
                     "the consumer's filter subject (must lie inside the stream's subjects); default: the whole stream");
  subject.min_length = 1;
  o.push_back(subject);
  o.push_back(int_spec("ack_wait_ms", "when creating the consumer: how long a delivered message may stay unacknowledged "
                                      "before the server redelivers it", 30000, 1, 24.0 * 3600 * 1000));
  o.push_back(int_spec("max_deliver", "when creating the consumer: most deliveries of one message (-1: unlimited); past "
                                      "it JetStream stops redelivering (counted in `dropped`, logged)", -1, -1, 1e9));
  o.push_back(int_spec("max_ack_pending", "when creating the consumer: most unacknowledged messages of all instances together",
                       10000, 1, 1e9));
  o.push_back(int_spec("nak_delay_ms", "how long the server waits before redelivering a message whose events failed "
                                       "(a negative acknowledgement)", 1000, 0, 24.0 * 3600 * 1000));
  auto create = opt("create", option_type::boolean,
                    "create the stream (over `subject`) and the consumer when missing; what was created is logged", false, false);
  o.push_back(create);
  auto on_error = opt("on_error", option_type::string,
                      "a message that is not JSON (or not UTF-8, too deep, too long): fail the stage (the message stays "
                      "unacknowledged and is redelivered to the next run), or skip it (terminated with +TERM: never "
                      "redelivered; counted in `skipped`)",
                      false, "fail");
  on_error.one_of = {"fail", "skip"};
  o.push_back(on_error);
  o.push_back(int_spec("max_depth", "the deepest nesting of arrays and objects a message may have", 512, 1, 1000));
  o.push_back(int_spec("max_line_bytes", "the longest message accepted, in bytes", std::int64_t{16} << 20, 1,
                       4294967295.0 - 64));
  o.push_back(int_spec("max_batch", "most messages one pull asks for (a pull asks for what demand allows, up to this)", 1000,
                       1, 100000));
  o.push_back(int_spec("pull_expires_ms", "how long a pull waits at the server for messages before its credit comes back "
                                          "(also the longest a pull lost in a server crash holds credit)", 1000, 20, 60000));
  for (auto& c : nats_connection_options()) o.push_back(std::move(c));
  return o;
}

std::vector<pipeline::option_problem> check_jetstream_source(const json& o) {
  auto p = check_nats_connection(o);
  for (const char* name : {"stream", "durable"}) {
    auto it = o.find(name);
    if (it == o.end() || !it->is_string()) continue;
    const auto v = it->get<std::string>();
    if (v.find_first_of(". *>\t") != std::string::npos) {
      p.push_back({name, "\"" + v + "\" contains a dot, a space or a wildcard", "a name without '.', ' ', '*' or '>'"});
    }
  }
  return p;
}

}  // namespace sluice::stages

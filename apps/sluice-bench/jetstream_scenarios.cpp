// sluice-bench/jetstream_scenarios.cpp: jetstream_null and jetstream_instances (issue 15).
//
// Both consume one stream of `stream_messages` JSON messages (~100 bytes) on a nats-server the
// bench starts itself (JetStream on, a loopback port it picks, a temporary store), published once
// per invocation, outside the timed part. Every run makes a durable pull consumer of its own that
// starts at the first message, so each run consumes the whole stream, and deletes it afterwards.
//
// - jetstream_null: `sluice run` of nats_jetstream -> null beside `libnats_loop`, the bare client
//   loop a user would write instead: natsSubscription_Fetch(batch) + natsMsg_Ack per message, in
//   this process. A sluice run is timed from spawn until the server reports the consumer has
//   nothing pending and nothing unacknowledged (polled every few ms), then sluice is drained with
//   SIGINT; its cpu_seconds is the child's user + system time (wait4), the drain included. The
//   loop is timed from connect to the flush that proves its last acks reached the server; its cpu
//   is this process's (getrusage) over the run, libnats's own threads included.
// - jetstream_instances: 1, 2 and 4 `sluice run` processes on one durable, timed the same way;
//   cpu_seconds sums the children.
// - jetstream_publish: a file of the same messages -> the `nats` sink with `jetstream: true` (each
//   publish acknowledged by the stream before its batch counts as done), `sluice run` timed from
//   spawn to exit, beside `libnats_async`, a bare js_PublishAsync loop (MaxPending 4000) ending in
//   js_PublishAsyncComplete. Each run publishes into a stream of its own (deleted afterwards).
#include "jetstream_scenarios.hpp"

#include <nats/nats.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cli_sluice.hpp"
#include "temp_dir.hpp"

extern char** environ;

namespace sluice::bench {

namespace {

using json = nlohmann::ordered_json;
using std::filesystem::path;
using clock = std::chrono::steady_clock;

constexpr int stream_messages = 500'000;
constexpr int loop_batch = 500;  // what a user's loop would pick (the reference's fastest per-ack figure)
constexpr auto settle_poll = std::chrono::milliseconds(5);
constexpr auto run_deadline = std::chrono::seconds(120);
const char* const stream_name = "BENCH";

double seconds_of(const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; }

/// A child started with posix_spawn that the bench signals and reaps itself (the children here
/// never end on their own: a broker source is endless).
class running_child {
 public:
  running_child(const std::vector<std::string>& argv_in, const path& err) {
    std::vector<std::string> argv = argv_in;
    std::vector<char*> p;
    for (auto& a : argv) p.push_back(a.data());
    p.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int rc = ::posix_spawn(&pid_, argv[0].c_str(), &actions, nullptr, p.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(rc));
  }
  running_child(const running_child&) = delete;
  running_child& operator=(const running_child&) = delete;
  ~running_child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      stop_and_reap(SIGKILL);
    }
  }
  /// Signals the child, reaps it and returns its exit status and CPU seconds.
  std::pair<int, double> stop_and_reap(int sig) {
    ::kill(pid_, sig);
    int status = 0;
    rusage usage{};
    while (::wait4(pid_, &status, 0, &usage) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return {status, seconds_of(usage.ru_utime) + seconds_of(usage.ru_stime)};
  }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

 private:
  pid_t pid_ = -1;
};

std::string read_text(const path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// A nats-server with JetStream for the bench, and the stream it consumes (published once).
class bench_server {
 public:
  bench_server() {
    const path binary = nats_server_binary();
    server_ = std::make_unique<running_child>(
        std::vector<std::string>{binary.string(), "-js", "-sd", (dir_ / "js").string(), "-a", "127.0.0.1", "-p", "-1",
                                 "--ports_file_dir", dir_ / "", "-l", (dir_ / "nats.log").string()},
        dir_ / "server.err");
    url_ = await_url();
    publish();
  }
  ~bench_server() {
    if (server_) server_->stop_and_reap(SIGTERM);
  }
  bench_server(const bench_server&) = delete;
  bench_server& operator=(const bench_server&) = delete;

  [[nodiscard]] const std::string& url() const noexcept { return url_; }
  [[nodiscard]] const temp_dir& dir() const noexcept { return dir_; }
  /// A durable name no earlier run used.
  std::string next_durable() { return "run" + std::to_string(++runs_); }

  static path nats_server_binary() {
    for (const char* p : {"/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"}) {
      if (std::filesystem::exists(p)) return p;
    }
    return {};
  }

 private:
  /// The URL from the ports file the server writes once it listens.
  std::string await_url() {
    const path ports = dir_ / ("nats-server_" + std::to_string(server_->pid()) + ".ports");
    const auto deadline = clock::now() + std::chrono::seconds(20);
    while (clock::now() < deadline) {
      if (std::filesystem::exists(ports)) {
        const auto j = nlohmann::json::parse(read_text(ports), nullptr, false);
        if (!j.is_discarded() && j.contains("nats") && !j["nats"].empty()) return j["nats"][0].get<std::string>();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // outside any timed part
    }
    throw std::runtime_error("nats-server wrote no ports file; its log:\n" + read_text(dir_ / "nats.log"));
  }

  void publish();

  temp_dir dir_;
  std::unique_ptr<running_child> server_;
  std::string url_;
  int runs_ = 0;
};

/// Message `i`: about 100 bytes of JSON.
std::string message_text(int i) {
  static const std::string pad(60, 'x');
  return R"({"id":)" + std::to_string(i) + R"(,"level":"info","pad":")" + pad + "\"}";
}

/// A client connection with a JetStream context (for admin, publishing and the loop).
struct client {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  explicit client(const std::string& url) {
    if (natsConnection_ConnectTo(&nc, url.c_str()) != NATS_OK || natsConnection_JetStream(&js, nc, nullptr) != NATS_OK) {
      throw std::runtime_error("cannot connect to " + url);
    }
  }
  ~client() {
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
  }
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// {num_pending, num_ack_pending}; throws when the consumer does not exist (yet).
  bool settled(const std::string& durable) const {
    jsConsumerInfo* ci = nullptr;
    if (js_GetConsumerInfo(&ci, js, stream_name, durable.c_str(), nullptr, nullptr) != NATS_OK) return false;
    const bool done = ci->NumPending == 0 && ci->NumAckPending == 0 && ci->Delivered.Stream >= stream_messages;
    jsConsumerInfo_Destroy(ci);
    return done;
  }
  void add_consumer(const std::string& durable) const {
    jsConsumerConfig cfg;
    jsConsumerConfig_Init(&cfg);
    cfg.Durable = durable.c_str();
    cfg.AckPolicy = js_AckExplicit;
    cfg.MaxAckPending = 10000;  // as nats_jetstream creates it
    jsConsumerInfo* ci = nullptr;
    if (js_AddConsumer(&ci, js, stream_name, &cfg, nullptr, nullptr) != NATS_OK) throw std::runtime_error("cannot add consumer");
    jsConsumerInfo_Destroy(ci);
  }
  void delete_consumer(const std::string& durable) const { js_DeleteConsumer(js, stream_name, durable.c_str(), nullptr, nullptr); }
};

void bench_server::publish() {
  client c(url_);
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = stream_name;
  const char* subjects[] = {"bench.>"};
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  jsStreamInfo* si = nullptr;
  if (js_AddStream(&si, c.js, &cfg, nullptr, nullptr) != NATS_OK) throw std::runtime_error("cannot add the stream");
  jsStreamInfo_Destroy(si);
  for (int i = 1; i <= stream_messages; ++i) {
    const std::string m = message_text(i);
    if (js_PublishAsync(c.js, "bench.events", m.data(), static_cast<int>(m.size()), nullptr) != NATS_OK) {
      throw std::runtime_error("publish failed");
    }
  }
  jsPubOptions o;
  jsPubOptions_Init(&o);
  o.MaxWait = 120000;
  if (js_PublishAsyncComplete(c.js, &o) != NATS_OK) throw std::runtime_error("publish acknowledgements missing");
}

json source_pipeline(const std::string& url, const std::string& durable) {
  return pipeline("jetstream_null",
                  {{"in", {{"type", "nats_jetstream"},
                           {"options", {{"url", url}, {"stream", stream_name}, {"durable", durable}, {"create", true}}}}},
                   {"sink", {{"type", "null"}, {"subscribe_to", json::array({"in"})}}}});
}

/// `instances` sluice processes on one new durable: timed until the server has every ack.
measurements run_sluice_instances(const std::string& sluice, bench_server& server, int instances) {
  const std::string durable = server.next_durable();
  const path file = server.dir() / (durable + ".json");
  write_file(file, source_pipeline(server.url(), durable));
  client admin(server.url());
  const auto start = clock::now();
  std::vector<std::unique_ptr<running_child>> children;
  for (int i = 0; i < instances; ++i) {
    const path err = server.dir() / (durable + "." + std::to_string(i) + ".err");
    children.push_back(std::make_unique<running_child>(std::vector<std::string>{sluice, "run", file.string()}, err));
  }
  while (!admin.settled(durable)) {
    if (clock::now() - start > run_deadline) throw std::runtime_error("sluice did not consume the stream in time");
    std::this_thread::sleep_for(settle_poll);  // observing the server's counts: the bench's clock tick
  }
  const std::chrono::duration<double> took = clock::now() - start;
  double cpu = 0;
  for (auto& c : children) {
    const auto [status, seconds] = c->stop_and_reap(SIGINT);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("sluice did not drain with exit 0");
    cpu += seconds;
  }
  admin.delete_consumer(durable);
  return {{"msgs_per_s", stream_messages / took.count()}, {"seconds", took.count()}, {"cpu_seconds", cpu}};
}

double process_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return seconds_of(u.ru_utime) + seconds_of(u.ru_stime);
}

/// The bare loop: Fetch(loop_batch) + natsMsg_Ack each, until the stream is consumed.
measurements run_libnats_loop(bench_server& server) {
  const std::string durable = server.next_durable();
  const double cpu0 = process_cpu_seconds();
  const auto start = clock::now();
  {
    client c(server.url());
    c.add_consumer(durable);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream_name;
    so.Consumer = durable.c_str();
    so.ManualAck = true;
    natsSubscription* sub = nullptr;
    if (js_PullSubscribe(&sub, c.js, nullptr, durable.c_str(), nullptr, &so, nullptr) != NATS_OK) {
      throw std::runtime_error("cannot subscribe");
    }
    int got = 0;
    while (got < stream_messages) {
      if (clock::now() - start > run_deadline) throw std::runtime_error("the loop did not consume the stream in time");
      natsMsgList list{};
      if (natsSubscription_Fetch(&list, sub, loop_batch, 1000, nullptr) != NATS_OK) continue;
      for (int i = 0; i < list.Count; ++i) natsMsg_Ack(list.Msgs[i], nullptr);
      got += list.Count;
      natsMsgList_Destroy(&list);
    }
    natsConnection_FlushTimeout(c.nc, 10000);  // the server has every ack
    natsSubscription_Destroy(sub);
    c.delete_consumer(durable);
  }
  const std::chrono::duration<double> took = clock::now() - start;
  return {{"msgs_per_s", stream_messages / took.count()}, {"seconds", took.count()}, {"cpu_seconds", process_cpu_seconds() - cpu0}};
}

/// The messages as a JSON-lines file (written once, beside the server's store).
path messages_file(bench_server& server) {
  const path file = server.dir() / "messages.jsonl";
  if (std::filesystem::exists(file)) return file;
  std::ofstream out(file);
  for (int i = 1; i <= stream_messages; ++i) out << message_text(i) << '\n';
  out.close();
  if (!out) throw std::runtime_error("cannot write " + file.string());
  return file;
}

/// A stream of its own for one publish run, over `subject`'s prefix; returns its name.
std::string add_publish_stream(const client& c, const std::string& name) {
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = name.c_str();
  const std::string subject = name + ".>";
  const char* subjects[] = {subject.c_str()};
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  jsStreamInfo* si = nullptr;
  if (js_AddStream(&si, c.js, &cfg, nullptr, nullptr) != NATS_OK) throw std::runtime_error("cannot add stream " + name);
  jsStreamInfo_Destroy(si);
  return name + ".events";
}

/// Checks the stream holds every message, then deletes it.
void check_and_delete_stream(const client& c, const std::string& name) {
  jsStreamInfo* si = nullptr;
  std::uint64_t held = 0;
  if (js_GetStreamInfo(&si, c.js, name.c_str(), nullptr, nullptr) == NATS_OK) held = si->State.Msgs;
  jsStreamInfo_Destroy(si);
  js_DeleteStream(c.js, name.c_str(), nullptr, nullptr);
  if (held != static_cast<std::uint64_t>(stream_messages)) {
    throw std::runtime_error("stream " + name + " holds " + std::to_string(held) + " messages, expected " +
                             std::to_string(stream_messages));
  }
}

measurements run_sluice_publish(const std::string& sluice, bench_server& server) {
  const std::string stream = "PUB" + server.next_durable();
  client admin(server.url());
  const std::string subject = add_publish_stream(admin, stream);
  const path file = server.dir() / (stream + ".json");
  write_file(file, pipeline("jetstream_publish",
                            {{"in", {{"type", "file"}, {"options", {{"path", messages_file(server).string()}, {"format", "jsonl"}}}}},
                             {"out", {{"type", "nats"},
                                      {"options", {{"url", server.url()}, {"subject", subject}, {"jetstream", true}}},
                                      {"subscribe_to", json::array({"in"})}}}}));
  const child_times t = time_sluice_run(sluice, file, server.dir() / (stream + ".summary.txt"));
  check_and_delete_stream(admin, stream);
  return {{"msgs_per_s", stream_messages / t.wall_seconds}, {"seconds", t.wall_seconds}, {"cpu_seconds", t.cpu_seconds}};
}

/// The bare loop: js_PublishAsync of each line read from the same file, then PublishAsyncComplete.
measurements run_libnats_async(bench_server& server) {
  const std::string stream = "PUB" + server.next_durable();
  const path messages = messages_file(server);
  const double cpu0 = process_cpu_seconds();
  const auto start = clock::now();
  {
    client c(server.url());
    const std::string subject = add_publish_stream(c, stream);
    jsCtx* js = nullptr;
    jsOptions o;
    jsOptions_Init(&o);
    o.PublishAsync.MaxPending = 4000;
    if (natsConnection_JetStream(&js, c.nc, &o) != NATS_OK) throw std::runtime_error("no JetStream context");
    std::ifstream in(messages);
    std::string line;
    while (std::getline(in, line)) {
      if (js_PublishAsync(js, subject.c_str(), line.data(), static_cast<int>(line.size()), nullptr) != NATS_OK) {
        throw std::runtime_error("publish failed");
      }
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 120000;
    if (js_PublishAsyncComplete(js, &po) != NATS_OK) throw std::runtime_error("publish acknowledgements missing");
    jsCtx_Destroy(js);
    const std::chrono::duration<double> took = clock::now() - start;
    const double cpu = process_cpu_seconds() - cpu0;
    check_and_delete_stream(c, stream);
    return {{"msgs_per_s", stream_messages / took.count()}, {"seconds", took.count()}, {"cpu_seconds", cpu}};
  }
}

/// The server and stream, made on first use and shared by both scenarios' runs (bench thread only).
class shared_server {
 public:
  bench_server& get() {
    if (!server_) server_ = std::make_unique<bench_server>();
    return *server_;
  }

 private:
  std::unique_ptr<bench_server> server_;
};

std::string no_server() {
  return bench_server::nats_server_binary().empty() ? "nats-server is not installed (scripts/setup installs it)" : "";
}

std::vector<metric> metrics() {
  return {{"msgs_per_s", better::higher}, {"seconds", better::lower}, {"cpu_seconds", better::lower}};
}

}  // namespace

std::vector<scenario> jetstream_scenarios(const std::string& sluice) {
  auto server = std::make_shared<shared_server>();
  std::vector<scenario> all;
  scenario null_sc{"jetstream_null",
                   "500,000 JSON messages (~100 bytes) from a JetStream stream on a local nats-server: `sluice run` of "
                   "nats_jetstream -> null (each message parsed, acknowledged after the sink) beside libnats_loop, a bare "
                   "Fetch(500) + natsMsg_Ack loop; timed until the server holds every ack",
                   metrics(),
                   {}};
  null_sc.systems.push_back({"sluice", [sluice, server] { return run_sluice_instances(sluice, server->get(), 1); }});
  null_sc.systems.push_back({"libnats_loop", [server] { return run_libnats_loop(server->get()); }});
  null_sc.unavailable = no_server;
  all.push_back(std::move(null_sc));
  scenario instances{"jetstream_instances",
                     "the same stream consumed by 1, 2 and 4 `sluice run` processes sharing one durable consumer "
                     "(nats_jetstream -> null); msgs_per_s of them together, cpu_seconds summed",
                     metrics(),
                     {}};
  instances.systems.push_back({"sluice", [sluice, server] { return run_sluice_instances(sluice, server->get(), 1); }});
  instances.systems.push_back({"sluice_x2", [sluice, server] { return run_sluice_instances(sluice, server->get(), 2); }});
  instances.systems.push_back({"sluice_x4", [sluice, server] { return run_sluice_instances(sluice, server->get(), 4); }});
  instances.unavailable = no_server;
  all.push_back(std::move(instances));
  scenario publish{"jetstream_publish",
                   "the same 500,000 messages from a JSON-lines file to a JetStream stream: `sluice run` of file -> nats "
                   "sink with jetstream: true (every publish acknowledged before its batch is done) beside libnats_async, "
                   "a bare js_PublishAsync loop (MaxPending 4000) + js_PublishAsyncComplete; the stream's count checked",
                   metrics(),
                   {}};
  publish.systems.push_back({"sluice", [sluice, server] { return run_sluice_publish(sluice, server->get()); }});
  publish.systems.push_back({"libnats_async", [server] { return run_libnats_async(server->get()); }});
  publish.unavailable = no_server;
  all.push_back(std::move(publish));
  return all;
}

}  // namespace sluice::bench

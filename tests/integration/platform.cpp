#include "platform.hpp"

#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "ivr/flow.hpp"
#include "persistence/catalog_libpq.hpp"
#include "persistence/catalog_store.hpp"
#include "persistence/errc.hpp"
#include "persistence/schema_migrator.hpp"

namespace callgrid::test_support {

namespace {

const std::string binary_dir = CALLGRID_BINARY_DIR;
const std::string source_dir = std::string{CALLGRID_TEST_DATA_DIR} + "/../..";

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out{path};
  out << text;
  if (!out)
    throw service_error("cannot write " + path.string());
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in{path};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

} // namespace

platform::platform() {
  postgres.start();
  redis.start();
  auto conninfo = postgres.conninfo();
  if (auto migrated = persistence::schema_migrator::migrate(conninfo); !migrated)
    throw service_error("migrate: " + persistence::render_error(migrated.error()));
  auto conn = persistence::internal::pg_connect(conninfo);
  if (!conn)
    throw service_error("connect: " + persistence::render_error(conn.error()));
  auto loaded = ivr::load_flow_file(source_dir + "/docs/flows/main_menu.yaml");
  if (!loaded.flow)
    throw service_error("docs/flows/main_menu.yaml does not load");
  auto stored = persistence::catalog_store::import_flow(conn->get(), loaded.flow->name(),
                                                        loaded.flow->to_json());
  if (!stored)
    throw service_error("import_flow: " + persistence::render_error(stored.error()));
  for (auto [name, prefix, mode] :
       {std::tuple{"main_inbound", "1000", persistence::esl_mode::inbound},
        std::tuple{"main_outbound", "2000", persistence::esl_mode::outbound}}) {
    persistence::catalog_route route;
    route.name = name;
    route.match_prefix = prefix;
    route.flow_id = stored->flow_id;
    route.action = persistence::route_action::flow;
    route.mode = mode;
    if (auto r = persistence::catalog_store::upsert_route(conn->get(), route); !r)
      throw service_error("upsert_route: " + persistence::render_error(r.error()));
  }
  auto* redis_conn = redisConnect("127.0.0.1", redis.port());
  if (!redis_conn || redis_conn->err)
    throw service_error("redis connect failed");
  auto* reply = static_cast<redisReply*>(redisCommand(redis_conn, "SET cg:account:123456 active"));
  freeReplyObject(reply);
  redisFree(redis_conn);
  esl_port = pick_free_port();
  outbound_port = pick_free_port();
  http_port = pick_free_port();
}

platform::~platform() {
  callgridd_.stop(SIGTERM, std::chrono::seconds{10});
  fsemu_.stop(SIGTERM, std::chrono::seconds{5});
}

std::string fsemu_node_config(const std::string& hostname, std::uint16_t esl_port,
                              const std::string& esl_password, std::uint16_t outbound_port,
                              const std::string& callers_toml) {
  std::ostringstream cfg;
  cfg << "[switch]\nhostname = \"" << hostname << "\"\nesl_port = " << esl_port
      << "\nesl_password = \"" << esl_password << "\"\nmax_sessions = 2000\n\n"
      << "[[dialplan]]\ndestination = \"2000\"\nsocket = \"127.0.0.1:" << outbound_port
      << "\"\n\n";
  for (const char* target : {"agents", "sales_new", "sales_existing", "billing"})
    cfg << "[[dialplan]]\ndestination = \"" << target
        << "\"\naction = \"tone\"\nfile = \"tone_stream://%(300,0,440);loops=1\"\n\n";
  cfg << "[prompts]\ndefault = \"300ms\"\n\n" << callers_toml;
  return cfg.str();
}

void platform::start_fsemu(const std::string& callers_toml, std::vector<std::string> extra_args) {
  auto path = dir_.path() / "fsemu.toml";
  write_file(path, fsemu_node_config("fsemu-it", esl_port, esl_password, outbound_port,
                                     callers_toml));
  process_spec spec;
  spec.argv = {binary_dir + "/tools/fsemu/fsemu", "--config", path.string(), "--summary-json",
               summary_path().string()};
  for (auto& a : extra_args)
    spec.argv.push_back(std::move(a));
  spec.working_dir = dir_.path();
  spec.output_path = dir_.path() / "fsemu.log";
  fsemu_ = child_process{spec};
}

std::string platform::node_config(const node_identity& node,
                                  const std::string& cluster_section) const {
  std::ostringstream cfg;
  cfg << "role = \"node\"\n[node]\nname = \"" << node.name << "\"\nsip_uri = \""
      << node.sip_uri << "\"\n"
      << cluster_section << "[esl]\nport = " << node.esl_port << "\npassword = \""
      << esl_password << "\"\nreconnect_max = \"500ms\"\n"
      << "[outbound]\nport = " << node.outbound_port << "\n"
      << "[database]\nconninfo = \"" << postgres.conninfo() << "\"\n"
      << "[redis]\nport = " << redis.port() << "\ntimeout = \"200ms\"\n"
      << "[records]\nspool_dir = \"" << node.spool.string() << "\"\nmax_delay = \"50ms\"\n"
      << "[http]\nport = " << node.http_port << "\n"
      << "[log]\nformat = \"text\"\nlevel = \"info\"\n";
  return cfg.str();
}

void platform::start_callgridd(std::uint16_t esl_target_port,
                               const std::string& cluster_section) {
  node_identity node;
  node.esl_port = esl_target_port ? esl_target_port : esl_port;
  node.outbound_port = outbound_port;
  node.http_port = http_port;
  node.spool = dir_.path() / "spool";
  auto path = dir_.path() / "callgridd.toml";
  write_file(path, node_config(node, cluster_section));
  process_spec spec;
  spec.argv = {binary_dir + "/apps/callgridd/callgridd", "--config", path.string()};
  spec.working_dir = dir_.path();
  spec.output_path = dir_.path() / "callgridd.log";
  callgridd_ = child_process{spec};
}

bool platform::wait_for_fsemu_exit(std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (fsemu_.running()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  return true;
}

void platform::stop_callgridd() {
  callgridd_.stop(SIGTERM, std::chrono::seconds{20});
}

void platform::kill_callgridd() {
  callgridd_.kill_hard();
}

void platform::signal_callgridd(int signal) const {
  ::kill(callgridd_.pid(), signal);
}

std::vector<cdr_row> platform::records() const {
  std::vector<cdr_row> rows;
  auto conn = persistence::internal::pg_connect(postgres.conninfo());
  if (!conn)
    return rows;
  auto result = persistence::internal::pg_exec(
    conn->get(), "reading cdr",
    "SELECT call_uuid, caller, callee, esl_mode, disposition, hangup_cause, ivr_path::text, "
    "end_reason FROM cdr ORDER BY caller, created_at");
  if (!result)
    return rows;
  for (int i = 0; i < PQntuples(result->get()); ++i) {
    auto v = [&](int col) { return std::string{PQgetvalue(result->get(), i, col)}; };
    rows.push_back({v(0), v(1), v(2), v(3), v(4), v(5), v(6), v(7)});
  }
  return rows;
}

std::vector<cdr_row> platform::wait_for_records(std::size_t count,
                                                std::chrono::seconds limit) const {
  auto deadline = std::chrono::steady_clock::now() + limit;
  auto rows = records();
  while (rows.size() < count && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
    rows = records();
  }
  return rows;
}

std::string platform::fsemu_api(const std::string& command) const {
  auto out = dir_.path() / "api.out";
  auto line = "CALLGRID_ESL_PASSWORD='" + esl_password + "' " + binary_dir
              + "/apps/callgridctl/callgridctl esl -P " + std::to_string(esl_port) + " -x '"
              + command + "' > " + out.string() + " 2>&1";
  if (std::system(line.c_str()) != 0)
    return "";
  return read_file(out);
}

std::string platform::metrics() const {
  auto out = dir_.path() / "metrics.out";
  auto line = "curl -s http://127.0.0.1:" + std::to_string(http_port) + "/metrics > "
              + out.string();
  if (std::system(line.c_str()) != 0)
    return "";
  return read_file(out);
}

std::string platform::redis_command(const std::vector<std::string>& args) const {
  auto* conn = redisConnect("127.0.0.1", redis.port());
  if (conn == nullptr || conn->err != 0) {
    redisFree(conn);
    return "ERR: cannot connect to Redis";
  }
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (const auto& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto* reply = static_cast<redisReply*>(
    redisCommandArgv(conn, static_cast<int>(args.size()), argv.data(), lengths.data()));
  std::string text;
  if (reply == nullptr) {
    text = "ERR: no reply";
  } else if (reply->type == REDIS_REPLY_INTEGER) {
    text = std::to_string(reply->integer);
  } else if (reply->type == REDIS_REPLY_ERROR) {
    text = "ERR: " + std::string{reply->str, reply->len};
  } else if (reply->type == REDIS_REPLY_ARRAY) {
    for (std::size_t i = 0; i < reply->elements; ++i) {
      const auto* element = reply->element[i];
      text += (element->str != nullptr ? std::string{element->str, element->len} : "(nil)")
              + "\n";
    }
  } else if (reply->str != nullptr) {
    text.assign(reply->str, reply->len);
  }
  freeReplyObject(reply);
  redisFree(conn);
  return text;
}

std::string platform::fsemu_log() const {
  return tail_file(dir_.path() / "fsemu.log", 60);
}

std::string platform::callgridd_log() const {
  return tail_file(dir_.path() / "callgridd.log", 80);
}

media_node::media_node(const platform& services, std::string node_name)
  : name(std::move(node_name)), esl_port(pick_free_port()), sip_port(pick_free_port()),
    outbound_port(pick_free_port()), http_port(pick_free_port()), services_(services) {
}

media_node::~media_node() {
  callgridd_.stop(SIGTERM, std::chrono::seconds{10});
  fsemu_.stop(SIGTERM, std::chrono::seconds{5});
}

void media_node::start(const std::string& cluster_section) {
  auto fsemu_path = dir_.path() / "fsemu.toml";
  write_file(fsemu_path, fsemu_node_config("fsemu-" + name, esl_port, services_.esl_password,
                                           outbound_port, ""));
  process_spec fsemu_spec;
  fsemu_spec.argv = {binary_dir + "/tools/fsemu/fsemu", "--config", fsemu_path.string(),
                     "--sip-port", std::to_string(sip_port)};
  fsemu_spec.working_dir = dir_.path();
  fsemu_spec.output_path = dir_.path() / "fsemu.log";
  fsemu_ = child_process{fsemu_spec};
  node_identity node{name, sip_uri(), esl_port, outbound_port, http_port, dir_.path() / "spool"};
  auto path = dir_.path() / "callgridd.toml";
  write_file(path, services_.node_config(node, cluster_section));
  process_spec spec;
  spec.argv = {binary_dir + "/apps/callgridd/callgridd", "--config", path.string()};
  spec.working_dir = dir_.path();
  spec.output_path = dir_.path() / "callgridd.log";
  callgridd_ = child_process{spec};
}

void media_node::kill_callgridd() {
  callgridd_.kill_hard();
}

std::string media_node::sip_uri() const {
  return "sip:127.0.0.1:" + std::to_string(sip_port);
}

int media_node::calls_since_start() const {
  auto out = dir_.path() / "status.out";
  auto line = "CALLGRID_ESL_PASSWORD='" + services_.esl_password + "' " + binary_dir
              + "/apps/callgridctl/callgridctl esl -P " + std::to_string(esl_port)
              + " -x status > " + out.string() + " 2>&1";
  if (std::system(line.c_str()) != 0)
    return -1;
  auto text = read_file(out);
  auto at = text.find(" session(s) since startup");
  if (at == std::string::npos)
    return -1;
  auto start = text.rfind('\n', at);
  return std::stoi(text.substr(start == std::string::npos ? 0 : start + 1));
}

std::string media_node::logs() const {
  return "fsemu " + name + ":\n" + tail_file(dir_.path() / "fsemu.log", 30) + "\ncallgridd "
         + name + ":\n" + tail_file(dir_.path() / "callgridd.log", 40);
}

} // namespace callgrid::test_support

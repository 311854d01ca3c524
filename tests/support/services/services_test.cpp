#define CAF_SUITE support.services

#include <caf/test/unit_test_impl.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "services/kamailio_server.hpp"
#include "services/postgres_server.hpp"
#include "services/redis_server.hpp"
#include "services/service_process.hpp"

using namespace callgrid::test_support;

namespace {

struct pg_conn_deleter {
  void operator()(PGconn* conn) const noexcept { PQfinish(conn); }
};

struct pg_result_deleter {
  void operator()(PGresult* result) const noexcept { PQclear(result); }
};

struct redis_context_deleter {
  void operator()(redisContext* context) const noexcept { redisFree(context); }
};

struct redis_reply_deleter {
  void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};

using pg_conn_ptr = std::unique_ptr<PGconn, pg_conn_deleter>;
using pg_result_ptr = std::unique_ptr<PGresult, pg_result_deleter>;
using redis_context_ptr = std::unique_ptr<redisContext, redis_context_deleter>;
using redis_reply_ptr = std::unique_ptr<redisReply, redis_reply_deleter>;

/// Runs `sql` through libpq and returns the first column of the first row, or "<failed>" (with a
/// CAF message) when connecting or the query fails.
std::string pg_query_value(const postgres_server& server, const std::string& sql,
                           const std::string& dbname = "postgres") {
  pg_conn_ptr conn{PQconnectdb(server.conninfo(dbname).c_str())};
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    CAF_MESSAGE("connect failed: " << PQerrorMessage(conn.get()));
    return "<failed>";
  }
  pg_result_ptr result{PQexec(conn.get(), sql.c_str())};
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK || PQntuples(result.get()) < 1) {
    CAF_MESSAGE(sql << " failed: " << PQerrorMessage(conn.get()));
    return "<failed>";
  }
  return PQgetvalue(result.get(), 0, 0);
}

redis_context_ptr redis_connect(const redis_server& server) {
  timeval timeout{5, 0};
  redis_context_ptr context{redisConnectWithTimeout(service_host, server.port(), timeout)};
  if (context && context->err != 0)
    CAF_MESSAGE("redis connect failed: " << context->errstr);
  return context;
}

/// Runs a Redis command and returns the reply as text (status, string or integer), or
/// "<failed>" for errors and other reply types.
std::string redis_command(redisContext* context, const char* format, const std::string& arg1 = {},
                          const std::string& arg2 = {}) {
  redis_reply_ptr reply{
    static_cast<redisReply*>(redisCommand(context, format, arg1.c_str(), arg2.c_str()))};
  if (!reply)
    return "<failed>";
  switch (reply->type) {
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_STRING: return std::string{reply->str, reply->len};
    case REDIS_REPLY_INTEGER: return std::to_string(reply->integer);
    default: return "<failed>";
  }
}

/// Sends a minimal SIP OPTIONS over UDP to 127.0.0.1:`port` and returns the first line of the
/// answer, or an empty string when none arrives within 5 s.
std::string sip_options_status_line(std::uint16_t port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return {};
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, service_host, &local.sin_addr);
  socklen_t len = sizeof local;
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0
      || getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) {
    close(fd);
    return {};
  }
  auto own = std::string{service_host} + ":" + std::to_string(ntohs(local.sin_port));
  auto target = std::string{service_host} + ":" + std::to_string(port);
  auto request = "OPTIONS sip:ping@" + target + " SIP/2.0\r\n"
                 + "Via: SIP/2.0/UDP " + own + ";branch=z9hG4bK-callgrid-services-1;rport\r\n"
                 + "Max-Forwards: 70\r\n" + "From: <sip:test@" + own + ">;tag=callgrid1\r\n"
                 + "To: <sip:ping@" + target + ">\r\n"
                 + "Call-ID: callgrid-services-test-1@127.0.0.1\r\n" + "CSeq: 1 OPTIONS\r\n"
                 + "Contact: <sip:test@" + own + ">\r\n" + "Content-Length: 0\r\n\r\n";
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(port);
  inet_pton(AF_INET, service_host, &remote.sin_addr);
  std::string line;
  if (sendto(fd, request.data(), request.size(), 0, reinterpret_cast<sockaddr*>(&remote),
             sizeof remote)
      == static_cast<ssize_t>(request.size())) {
    pollfd entry{fd, POLLIN, 0};
    if (poll(&entry, 1, 5000) == 1) {
      char buffer[4096];
      auto got = recv(fd, buffer, sizeof buffer, 0);
      if (got > 0) {
        line.assign(buffer, static_cast<std::size_t>(got));
        line = line.substr(0, line.find("\r\n"));
      }
    }
  }
  close(fd);
  return line;
}

/// Returns whether `pid` exists in the sense of kill(pid, 0) (zombies included).
bool process_exists(pid_t pid) {
  return kill(pid, 0) == 0 || errno != ESRCH;
}

/// Returns whether `pid` exists and is not a zombie (an orphan waits for init to reap it).
bool process_alive(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string line;
  if (!std::getline(in, line))
    return false;
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

CAF_TEST(PostgreSQL starts and answers SELECT 1 through libpq) {
  postgres_server server;
  CAF_CHECK(server.running());
  CAF_CHECK_NOT_EQUAL(server.port(), 0u);
  CAF_CHECK(contains(server.conninfo(), "port=" + std::to_string(server.port())));
  CAF_CHECK_EQUAL(pg_query_value(server, "SELECT 1"), "1");
  server.create_database("callgrid_test");
  CAF_CHECK_EQUAL(pg_query_value(server, "SELECT current_database()", "callgrid_test"),
                  "callgrid_test");
}

CAF_TEST(PostgreSQL stopped and started again keeps a table created before the stop) {
  postgres_server server;
  auto port = server.port();
  server.execute("CREATE TABLE survivors (name text); INSERT INTO survivors VALUES ('alice')");
  server.stop();
  CAF_CHECK(!server.running());
  CAF_CHECK_EQUAL(server.pid(), 0);
  CAF_CHECK_EQUAL(pg_query_value(server, "SELECT 1"), "<failed>");
  server.start();
  CAF_CHECK(server.running());
  CAF_CHECK_EQUAL(server.port(), port);
  CAF_CHECK_EQUAL(pg_query_value(server, "SELECT name FROM survivors"),
                  "alice");
}

CAF_TEST(PostgreSQL killed hard and started again recovers committed data) {
  postgres_server server;
  server.execute("CREATE TABLE crash_test (n int); INSERT INTO crash_test VALUES (42)");
  pg_conn_ptr open_session{PQconnectdb(server.conninfo().c_str())};
  CAF_REQUIRE(PQstatus(open_session.get()) == CONNECTION_OK);
  auto backend_pid = static_cast<pid_t>(PQbackendPID(open_session.get()));
  server.kill_hard();
  CAF_CHECK(!server.running());
  CAF_CHECK(!process_alive(backend_pid));
  server.start();
  CAF_CHECK_EQUAL(pg_query_value(server, "SELECT n FROM crash_test"),
                  "42");
}

CAF_TEST(Redis answers PING and SET / GET through hiredis) {
  redis_server server;
  CAF_CHECK(server.running());
  auto context = redis_connect(server);
  CAF_REQUIRE(context != nullptr && context->err == 0);
  CAF_CHECK_EQUAL(redis_command(context.get(), "PING"), "PONG");
  CAF_CHECK_EQUAL(redis_command(context.get(), "SET %s %s", "greeting", "hello"),
                  "OK");
  CAF_CHECK_EQUAL(redis_command(context.get(), "GET %s", "greeting"),
                  "hello");
}

CAF_TEST(Redis answers again after kill_hard and start on the same port) {
  redis_server server;
  auto port = server.port();
  auto old_pid = server.pid();
  server.kill_hard();
  CAF_CHECK(!server.running());
  CAF_CHECK(!process_exists(old_pid));
  server.start();
  CAF_CHECK_EQUAL(server.port(), port);
  auto context = redis_connect(server);
  CAF_REQUIRE(context != nullptr && context->err == 0);
  CAF_CHECK_EQUAL(redis_command(context.get(), "PING"), "PONG");
  server.stop();
  CAF_CHECK(!server.running());
  server.start();
  auto again = redis_connect(server);
  CAF_REQUIRE(again != nullptr && again->err == 0);
  CAF_CHECK_EQUAL(redis_command(again.get(), "PING"), "PONG");
}

CAF_TEST(Kamailio answers core.version over JSON-RPC) {
  kamailio_server server;
  CAF_CHECK(server.running());
  CAF_CHECK(std::filesystem::exists(server.rpc_socket_path()));
  auto reply = server.rpc("core.version");
  CAF_MESSAGE("core.version: " << reply);
  CAF_CHECK(contains(reply, "\"result\""));
  CAF_CHECK(contains(reply, "kamailio"));
  auto unknown = server.rpc("no.such.method");
  CAF_CHECK(contains(unknown, "\"error\""));
}

CAF_TEST(Kamailio answers a SIP OPTIONS over UDP with 200) {
  kamailio_server server;
  auto status = sip_options_status_line(server.sip_port());
  CAF_CHECK_EQUAL(status, "SIP/2.0 200 OK");
}

CAF_TEST(Kamailio runs a custom request route and restarts on the same ports) {
  kamailio_options options;
  options.request_route = R"(  if (method == "OPTIONS") {
    sl_send_reply("486", "Busy Here");
    exit;
  }
  sl_send_reply("404", "Not Found");
)";
  options.files["marker.txt"] = "sip port {{SIP_PORT}}\n";
  kamailio_server server{options};
  CAF_CHECK_EQUAL(sip_options_status_line(server.sip_port()), "SIP/2.0 486 Busy Here");
  CAF_CHECK(std::filesystem::exists(server.directory() / "marker.txt"));
  auto port = server.sip_port();
  server.stop();
  CAF_CHECK(!server.running());
  server.start();
  CAF_CHECK_EQUAL(server.sip_port(), port);
  CAF_CHECK(contains(server.rpc("core.version"), "kamailio"));
  CAF_CHECK_EQUAL(sip_options_status_line(server.sip_port()), "SIP/2.0 486 Busy Here");
}

CAF_TEST(Kamailio with a broken config fails with the log tail in the error) {
  kamailio_options options;
  options.request_route = "  this_is_not_a_kamailio_function(;\n";
  std::string message;
  try {
    kamailio_server server{options};
  } catch (const service_error& error) {
    message = error.what();
  }
  CAF_MESSAGE("error: " << message);
  CAF_CHECK(contains(message, "Kamailio did not answer core.version"));
  CAF_CHECK(contains(message, "command: /usr/sbin/kamailio -f"));
  CAF_CHECK(contains(message, "kamailio.log"));
  CAF_CHECK(contains(message, "error"));
}

CAF_TEST(two instances of each service run side by side on different ports) {
  postgres_server pg1;
  postgres_server pg2;
  redis_server redis1;
  redis_server redis2;
  kamailio_server kam1;
  kamailio_server kam2;
  CAF_CHECK_NOT_EQUAL(pg1.port(), pg2.port());
  CAF_CHECK_NOT_EQUAL(redis1.port(), redis2.port());
  CAF_CHECK_NOT_EQUAL(kam1.sip_port(), kam2.sip_port());
  CAF_CHECK_NOT_EQUAL(pg1.directory().string(), pg2.directory().string());
  CAF_CHECK_NOT_EQUAL(kam1.rpc_socket_path().string(), kam2.rpc_socket_path().string());
  pg1.execute("CREATE TABLE only_in_first (n int)");
  CAF_CHECK_EQUAL(pg_query_value(pg1, "SELECT count(*) FROM pg_tables WHERE tablename = "
                                      "'only_in_first'"),
                  "1");
  CAF_CHECK_EQUAL(pg_query_value(pg2, "SELECT count(*) FROM pg_tables WHERE tablename = "
                                      "'only_in_first'"),
                  "0");
  auto c1 = redis_connect(redis1);
  auto c2 = redis_connect(redis2);
  CAF_REQUIRE(c1 != nullptr && c1->err == 0 && c2 != nullptr && c2->err == 0);
  CAF_CHECK_EQUAL(redis_command(c1.get(), "SET %s %s", "who", "first"),
                  "OK");
  CAF_CHECK_EQUAL(redis_command(c2.get(), "EXISTS %s", "who"), "0");
  CAF_CHECK_EQUAL(sip_options_status_line(kam1.sip_port()), "SIP/2.0 200 OK");
  CAF_CHECK_EQUAL(sip_options_status_line(kam2.sip_port()), "SIP/2.0 200 OK");
  CAF_CHECK(contains(kam1.rpc("core.version"), "kamailio"));
  CAF_CHECK(contains(kam2.rpc("core.version"), "kamailio"));
}

CAF_TEST(a destroyed launcher leaves no process behind) {
  pid_t pg_pid = 0;
  pid_t redis_pid = 0;
  pid_t kamailio_pid = 0;
  std::filesystem::path pg_dir;
  std::filesystem::path redis_dir;
  std::filesystem::path kamailio_dir;
  {
    postgres_server pg;
    redis_server redis;
    kamailio_server kamailio;
    pg_pid = pg.pid();
    redis_pid = redis.pid();
    kamailio_pid = kamailio.pid();
    pg_dir = pg.directory();
    redis_dir = redis.directory();
    kamailio_dir = kamailio.directory();
    CAF_REQUIRE(pg_pid > 0 && redis_pid > 0 && kamailio_pid > 0);
    CAF_CHECK(process_exists(pg_pid));
    CAF_CHECK(process_exists(redis_pid));
    CAF_CHECK(process_exists(kamailio_pid));
  }
  CAF_CHECK(!process_exists(pg_pid));
  CAF_CHECK(!process_exists(redis_pid));
  CAF_CHECK(!process_exists(kamailio_pid));
  if (!keep_test_services()) {
    CAF_CHECK(!std::filesystem::exists(pg_dir));
    CAF_CHECK(!std::filesystem::exists(redis_dir));
    CAF_CHECK(!std::filesystem::exists(kamailio_dir));
  }
}

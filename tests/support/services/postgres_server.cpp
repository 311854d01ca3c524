#include "services/postgres_server.hpp"

#include <csignal>
#include <memory>
#include <utility>

#include <libpq-fe.h>
#include <sys/un.h>
#include <unistd.h>

namespace callgrid::test_support {

namespace {

struct connection_deleter {
  void operator()(PGconn* conn) const noexcept { PQfinish(conn); }
};

struct result_deleter {
  void operator()(PGresult* result) const noexcept { PQclear(result); }
};

using connection_ptr = std::unique_ptr<PGconn, connection_deleter>;
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  return text;
}

std::string abbreviated(const std::string& sql) {
  constexpr std::size_t limit = 200;
  return sql.size() <= limit ? sql : sql.substr(0, limit) + "...";
}

} // namespace

postgres_server::postgres_server(postgres_options options)
  : options_(std::move(options)), dir_("postgres") {
  // initdb and postgres refuse to run as root.
  if (geteuid() == 0) {
    user_ = lookup_user("postgres");
    dir_.chown_to(*user_);
  }
  // postgres puts its unix socket .s.PGSQL.<port> into the directory (-k).
  auto socket_path = (dir_.path() / ".s.PGSQL.65535").string();
  if (socket_path.size() >= sizeof(sockaddr_un::sun_path))
    throw service_error("callgrid test services: the PostgreSQL socket path " + socket_path
                        + " is too long for a unix socket; set TMPDIR to a shorter directory");
  port_ = pick_free_port();
  process_spec initdb;
  initdb.argv = {(options_.bin_dir / "initdb").string(),
                 "-D",
                 data_dir().string(),
                 "-A",
                 "trust",
                 "-U",
                 "postgres",
                 "--no-sync",
                 "-E",
                 "UTF8",
                 "--locale=C",
                 "--no-instructions"};
  initdb.working_dir = dir_.path();
  initdb.output_path = dir_.path() / "initdb.log";
  initdb.user = user_;
  run_to_completion(initdb, options_.start_timeout,
                    "initdb of a PostgreSQL test cluster failed");
  start();
}

postgres_server::~postgres_server() {
  stop();
}

process_spec postgres_server::server_spec() const {
  process_spec spec;
  spec.argv = {(options_.bin_dir / "postgres").string(),
               "-D",
               data_dir().string(),
               "-p",
               std::to_string(port_),
               "-k",
               dir_.path().string(),
               "-c",
               std::string{"listen_addresses="} + service_host,
               "-c",
               "fsync=off"};
  spec.argv.insert(spec.argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  spec.working_dir = dir_.path();
  spec.output_path = log_path();
  spec.user = user_;
  // Immediate shutdown if the test binary dies: the postmaster takes its backends along.
  spec.parent_death_signal = SIGQUIT;
  return spec;
}

void postgres_server::start() {
  if (process_.running())
    return;
  // Reap a server that died on its own before starting a new one.
  process_.kill_hard();
  auto spec = server_spec();
  process_ = child_process{spec};
  auto info = conninfo();
  wait_until_ready(
    process_, spec, [&info] { return PQping(info.c_str()) == PQPING_OK; },
    options_.start_timeout,
    "PostgreSQL did not start accepting connections on " + std::string{service_host} + ":"
      + std::to_string(port_),
    {log_path()});
}

void postgres_server::stop() noexcept {
  // SIGINT is PostgreSQL's fast shutdown; SIGTERM (smart) would wait for clients to leave.
  process_.stop(SIGINT, options_.stop_timeout);
}

void postgres_server::kill_hard() noexcept {
  process_.kill_hard();
}

std::string postgres_server::conninfo(const std::string& dbname) const {
  return "host=" + std::string{service_host} + " port=" + std::to_string(port_)
         + " user=postgres dbname=" + dbname + " connect_timeout=5";
}

void postgres_server::create_database(const std::string& name) const {
  connection_ptr conn{PQconnectdb(conninfo().c_str())};
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK)
    throw service_error(describe_failure(
      "cannot connect to PostgreSQL (" + conninfo() + ") to create database " + name + ": "
        + trimmed(conn ? PQerrorMessage(conn.get()) : "out of memory"),
      {}, dir_.path(), {log_path()}));
  std::unique_ptr<char, decltype(&PQfreemem)> ident{
    PQescapeIdentifier(conn.get(), name.c_str(), name.size()), &PQfreemem};
  if (!ident)
    throw service_error("callgrid test services: cannot quote the database name '" + name
                        + "': " + trimmed(PQerrorMessage(conn.get())));
  auto sql = "CREATE DATABASE " + std::string{ident.get()};
  result_ptr result{PQexec(conn.get(), sql.c_str())};
  if (!result || PQresultStatus(result.get()) != PGRES_COMMAND_OK)
    throw service_error("callgrid test services: " + sql + " failed on PostgreSQL port "
                        + std::to_string(port_) + ": "
                        + trimmed(PQerrorMessage(conn.get())));
}

void postgres_server::execute(const std::string& sql, const std::string& dbname) const {
  connection_ptr conn{PQconnectdb(conninfo(dbname).c_str())};
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK)
    throw service_error(describe_failure(
      "cannot connect to PostgreSQL (" + conninfo(dbname) + ") to run '" + abbreviated(sql)
        + "': " + trimmed(conn ? PQerrorMessage(conn.get()) : "out of memory"),
      {}, dir_.path(), {log_path()}));
  result_ptr result{PQexec(conn.get(), sql.c_str())};
  auto status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
    throw service_error("callgrid test services: '" + abbreviated(sql)
                        + "' failed on PostgreSQL port " + std::to_string(port_) + ": "
                        + trimmed(PQerrorMessage(conn.get())));
}

} // namespace callgrid::test_support

#define CAF_SUITE persistence.catalog_connection_pool

#include "persistence/connection_pool.hpp"

#include <caf/test/dsl.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <libpq-fe.h>

#include "persistence/errc.hpp"
#include "services/postgres_server.hpp"

using namespace callgrid::persistence;
using namespace std::chrono_literals;
using callgrid::test_support::postgres_server;

namespace {

using clock_type = std::chrono::steady_clock;

/// Runs `sql` on `conn` and returns the first value (nullopt on failure, NULL or no row).
std::optional<std::string> value_of(PGconn* conn, const std::string& sql) {
  std::unique_ptr<PGresult, decltype(&PQclear)> res{PQexec(conn, sql.c_str()), &PQclear};
  if (PQresultStatus(res.get()) != PGRES_TUPLES_OK || PQntuples(res.get()) == 0
      || PQgetisnull(res.get(), 0, 0) != 0)
    return std::nullopt;
  return std::string{PQgetvalue(res.get(), 0, 0)};
}

bool command_ok(PGconn* conn, const std::string& sql) {
  std::unique_ptr<PGresult, decltype(&PQclear)> res{PQexec(conn, sql.c_str()), &PQclear};
  return PQresultStatus(res.get()) == PGRES_COMMAND_OK;
}

struct fixture {
  postgres_server pg;

  connection_pool_options options(std::size_t size) {
    connection_pool_options opts;
    opts.conninfo = pg.conninfo();
    opts.size = size;
    return opts;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(connection_pool_tests, fixture)

CAF_TEST(leases are reused and the pool never opens more than its size) {
  connection_pool pool{options(2)};
  CAF_CHECK_EQUAL(pool.status().open, 0u); // lazy
  PGconn* first_conn = nullptr;
  PGconn* second_conn = nullptr;
  {
    auto a = pool.acquire(1s);
    CAF_REQUIRE(a);
    auto b = pool.acquire(1s);
    CAF_REQUIRE(b);
    CAF_CHECK(a->get() != b->get());
    CAF_CHECK_EQUAL(value_of(a->get(), "SELECT 1"), std::optional<std::string>{"1"});
    first_conn = a->get();
    second_conn = b->get();
    auto status = pool.status();
    CAF_CHECK_EQUAL(status.open, 2u);
    CAF_CHECK_EQUAL(status.leased, 2u);
    CAF_CHECK_EQUAL(status.idle, 0u);
  }
  auto status = pool.status();
  CAF_CHECK_EQUAL(status.leased, 0u);
  CAF_CHECK_EQUAL(status.idle, 2u);
  for (int i = 0; i < 10; ++i) {
    auto lease = pool.acquire(1s);
    CAF_REQUIRE(lease);
    CAF_CHECK_EQUAL(value_of(lease->get(), "SELECT 2"), std::optional<std::string>{"2"});
  }
  CAF_CHECK_EQUAL(pool.status().connects_total, 2u);
  // A lease can be moved and released early.
  auto lease = pool.acquire(1s);
  CAF_REQUIRE(lease);
  auto moved = std::move(*lease);
  CAF_CHECK(lease->get() == nullptr);
  CAF_CHECK(moved.get() == first_conn || moved.get() == second_conn);
  moved.release();
  CAF_CHECK(moved.get() == nullptr);
  CAF_CHECK_EQUAL(pool.status().leased, 0u);
}

CAF_TEST(acquire times out when every connection is leased) {
  connection_pool pool{options(1)};
  auto held = pool.acquire(1s);
  CAF_REQUIRE(held);
  auto began = clock_type::now();
  auto refused = pool.acquire(150ms);
  auto waited = clock_type::now() - began;
  CAF_REQUIRE(!refused);
  auto text = render_error(refused.error());
  CAF_MESSAGE(text);
  CAF_CHECK_EQUAL(refused.error().code(), static_cast<uint8_t>(errc::db_unavailable));
  CAF_CHECK_NOT_EQUAL(text.find("no connection free within 150 ms"), std::string::npos);
  CAF_CHECK_GREATER_OR_EQUAL(waited, 150ms);
  CAF_CHECK_LESS(waited, 1s);
  CAF_CHECK_EQUAL(pool.status().timeouts_total, 1u);
}

CAF_TEST(a waiting acquire gets the connection as soon as it is returned) {
  connection_pool pool{options(1)};
  auto held = pool.acquire(1s);
  CAF_REQUIRE(held);
  std::optional<clock_type::duration> waited;
  bool got = false;
  std::thread waiter{[&] {
    auto began = clock_type::now();
    auto lease = pool.acquire(5s);
    waited = clock_type::now() - began;
    got = static_cast<bool>(lease);
  }};
  std::this_thread::sleep_for(200ms);
  CAF_CHECK_EQUAL(pool.status().waiting, 1u);
  held->release();
  waiter.join();
  CAF_CHECK(got);
  CAF_REQUIRE(waited);
  CAF_CHECK_LESS(*waited, 1s);
  CAF_CHECK_EQUAL(pool.status().connects_total, 1u);
}

CAF_TEST(a connection whose backend was terminated is replaced) {
  connection_pool pool{options(1)};
  std::optional<std::string> old_pid;
  {
    auto lease = pool.acquire(1s);
    CAF_REQUIRE(lease);
    old_pid = value_of(lease->get(), "SELECT pg_backend_pid()");
    CAF_REQUIRE(old_pid);
  }
  std::unique_ptr<PGconn, decltype(&PQfinish)> admin{PQconnectdb(pg.conninfo().c_str()),
                                                      &PQfinish};
  CAF_REQUIRE_EQUAL(value_of(admin.get(), "SELECT pg_terminate_backend(" + *old_pid + ")"),
                    std::optional<std::string>{"t"});
  // The backend's goodbye reaches the idle socket quickly; give it a moment.
  std::this_thread::sleep_for(100ms);
  auto lease = pool.acquire(1s);
  CAF_REQUIRE(lease);
  auto new_pid = value_of(lease->get(), "SELECT pg_backend_pid()");
  CAF_REQUIRE(new_pid);
  CAF_CHECK_NOT_EQUAL(*new_pid, *old_pid);
  auto status = pool.status();
  CAF_CHECK_EQUAL(status.broken_total, 1u);
  CAF_CHECK_EQUAL(status.connects_total, 2u);
  CAF_CHECK_EQUAL(status.open, 1u);
}

CAF_TEST(a connection returned broken or inside a transaction is not handed on as it is) {
  connection_pool pool{options(1)};
  {
    auto lease = pool.acquire(1s);
    CAF_REQUIRE(lease);
    CAF_REQUIRE(command_ok(lease->get(), "CREATE TABLE t (x int)"));
    CAF_REQUIRE(command_ok(lease->get(), "BEGIN"));
    CAF_REQUIRE(command_ok(lease->get(), "INSERT INTO t VALUES (1)"));
  } // returned inside the transaction: rolled back
  {
    auto lease = pool.acquire(1s);
    CAF_REQUIRE(lease);
    CAF_CHECK_EQUAL(PQtransactionStatus(lease->get()), PQTRANS_IDLE);
    CAF_CHECK_EQUAL(value_of(lease->get(), "SELECT count(*) FROM t"),
                    std::optional<std::string>{"0"});
    lease->mark_broken();
  }
  auto status = pool.status();
  CAF_CHECK_EQUAL(status.broken_total, 1u);
  CAF_CHECK_EQUAL(status.open, 0u);
  auto lease = pool.acquire(1s);
  CAF_REQUIRE(lease);
  CAF_CHECK_EQUAL(pool.status().connects_total, 2u);
}

CAF_TEST(a server that is down fails acquire and the pool recovers when it is back) {
  connection_pool pool{options(2)};
  {
    auto lease = pool.acquire(1s);
    CAF_REQUIRE(lease);
  }
  pg.stop();
  auto refused = pool.acquire(1s);
  CAF_REQUIRE(!refused);
  CAF_MESSAGE(render_error(refused.error()));
  CAF_CHECK_EQUAL(refused.error().code(), static_cast<uint8_t>(errc::db_unavailable));
  CAF_CHECK_NOT_EQUAL(render_error(refused.error()).find("connect to '"), std::string::npos);
  auto down = pool.status();
  CAF_CHECK_EQUAL(down.broken_total, 1u);
  CAF_CHECK_EQUAL(down.connect_failures_total, 1u);
  CAF_CHECK_EQUAL(down.open, 0u);
  pg.start();
  auto lease = pool.acquire(1s);
  CAF_REQUIRE(lease);
  CAF_CHECK_EQUAL(value_of(lease->get(), "SELECT 3"), std::optional<std::string>{"3"});
}

CAF_TEST_FIXTURE_SCOPE_END()

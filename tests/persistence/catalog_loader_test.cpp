#define CAF_SUITE persistence.catalog_loader

#include "persistence/catalog_loader.hpp"

#include <caf/test/dsl.hpp>

#include <memory>
#include <optional>
#include <string>

#include <libpq-fe.h>

#include "persistence/errc.hpp"
#include "persistence/schema_migrator.hpp"
#include "services/postgres_server.hpp"

using namespace callgrid::persistence;
using callgrid::test_support::postgres_server;

namespace {

using conn_ptr = std::unique_ptr<PGconn, decltype(&PQfinish)>;

conn_ptr connect_to(const std::string& conninfo) {
  conn_ptr conn{PQconnectdb(conninfo.c_str()), &PQfinish};
  if (PQstatus(conn.get()) != CONNECTION_OK)
    CAF_FAIL("connect failed: " << PQerrorMessage(conn.get()));
  PQsetNoticeProcessor(conn.get(), [](void*, const char*) {}, nullptr);
  return conn;
}

/// Runs `sql`; returns "" on success or the SQLSTATE of the failure.
std::string sqlstate_of(PGconn* conn, const std::string& sql) {
  std::unique_ptr<PGresult, decltype(&PQclear)> res{PQexec(conn, sql.c_str()), &PQclear};
  auto status = PQresultStatus(res.get());
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
    return "";
  const char* state = PQresultErrorField(res.get(), PG_DIAG_SQLSTATE);
  return state != nullptr ? state : "?????";
}

/// Runs `sql` and returns the first value of the first row (nullopt for NULL or no row).
std::optional<std::string> value_of(PGconn* conn, const std::string& sql) {
  std::unique_ptr<PGresult, decltype(&PQclear)> res{PQexec(conn, sql.c_str()), &PQclear};
  if (PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
    CAF_FAIL("query failed: " << sql << ": " << PQresultErrorMessage(res.get()));
    return std::nullopt;
  }
  if (PQntuples(res.get()) == 0 || PQgetisnull(res.get(), 0, 0) != 0)
    return std::nullopt;
  return std::string{PQgetvalue(res.get(), 0, 0)};
}

/// A catalog with something of everything: two versions of flow 1, one of flow 2, an enabled
/// flow route with a caller pattern and two time windows, a bridge route, a hangup route, a
/// disabled route, prompts in two languages and a campaign with a calling window.
constexpr const char* sample_catalog = R"(
INSERT INTO ivr_flows (flow_id, version, name, document) VALUES
  (1, 1, 'main', '{"start": "old"}'),
  (1, 2, 'main', '{"start": "welcome", "nodes": {"welcome": {"type": "play"}}}'),
  (2, 1, 'sales', '{"start": "hello"}');
INSERT INTO routes (name, match_prefix, priority, flow_id, caller_pattern, time_windows,
                    max_concurrent, answer, esl_mode) VALUES
  ('berlin-office', '+4930', 10, 1, '^\+49', '[{"days": ["mon", "tue", "wed", "thu", "fri"],
    "from": "08:00", "to": "18:00", "tz": "Europe/Berlin"}, {"days": ["sat"], "from": "22:00",
    "to": "02:30"}]', 20, false, 'outbound');
INSERT INTO routes (name, match_prefix, priority, action, bridge_target) VALUES
  ('agents', '+4930800', 5, 'bridge', 'sofia/gateway/agents/1000');
INSERT INTO routes (name, match_prefix, action, hangup_cause) VALUES
  ('blocked', '+1900', 'hangup', 'CALL_REJECTED');
INSERT INTO routes (name, match_prefix, flow_id, enabled) VALUES
  ('switched-off', '+44', 2, false);
INSERT INTO prompts (name, language, uri, sha256) VALUES
  ('welcome', 'en', 'file:///prompts/en/welcome.wav', 'ab12'),
  ('welcome', 'de', 'file:///prompts/de/welcome.wav', NULL);
INSERT INTO campaigns (name, state, flow_id, caller_id, max_concurrent, calls_per_second,
                       max_attempts, retry_delay, window_start, window_end, timezone) VALUES
  ('winter-sale', 'running', 2, '+4930123', 12, 2.5, 4, interval '15 minutes', '09:00',
   '20:30:15', 'Europe/Berlin');
)";

struct fixture {
  postgres_server pg;

  std::string database(const std::string& name, int version = 0) {
    pg.create_database(name);
    auto conninfo = pg.conninfo(name);
    auto migrated = version > 0 ? schema_migrator::migrate(conninfo, version)
                                : schema_migrator::migrate(conninfo);
    CAF_REQUIRE(migrated);
    return conninfo;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(catalog_loader_tests, fixture)

CAF_TEST(the loader returns the enabled routes and the latest flow versions as inserted) {
  auto conninfo = database("sample");
  auto conn = connect_to(conninfo);
  CAF_REQUIRE_EQUAL(sqlstate_of(conn.get(), sample_catalog), "");
  auto loaded = load_catalog(conn.get());
  CAF_REQUIRE(loaded);
  const auto& snapshot = *loaded;
  CAF_CHECK_EQUAL(snapshot.generation, 0u);
  // Routes: the disabled one is left out; longest prefix first.
  CAF_REQUIRE_EQUAL(snapshot.routes.size(), 3u);
  CAF_CHECK_EQUAL(snapshot.routes[0].name, "agents");
  CAF_CHECK_EQUAL(snapshot.routes[1].name, "berlin-office");
  CAF_CHECK_EQUAL(snapshot.routes[2].name, "blocked");
  CAF_CHECK(snapshot.find_route("switched-off") == nullptr);
  const auto& office = snapshot.routes[1];
  CAF_CHECK_EQUAL(office.match_prefix, "+4930");
  CAF_CHECK_EQUAL(office.priority, 10);
  CAF_CHECK_EQUAL(office.flow_id, std::optional<int64_t>{1});
  CAF_CHECK_EQUAL(office.max_concurrent, std::optional<int32_t>{20});
  CAF_CHECK_EQUAL(office.caller_pattern, std::optional<std::string>{"^\\+49"});
  CAF_CHECK(office.action == route_action::flow);
  CAF_CHECK(!office.answer);
  CAF_CHECK(office.mode == esl_mode::outbound);
  CAF_CHECK(!office.bridge_target && !office.hangup_cause);
  CAF_REQUIRE_EQUAL(office.time_windows.size(), 2u);
  const auto weekdays = office.time_windows[0];
  CAF_CHECK_EQUAL(static_cast<int>(weekdays.days), 0x1f);
  CAF_CHECK(weekdays.on(0) && weekdays.on(4) && !weekdays.on(5) && !weekdays.on(6));
  CAF_CHECK_EQUAL(weekdays.from_minute, 8 * 60);
  CAF_CHECK_EQUAL(weekdays.to_minute, 18 * 60);
  CAF_CHECK_EQUAL(weekdays.timezone, "Europe/Berlin");
  const auto saturday_night = office.time_windows[1];
  CAF_CHECK_EQUAL(static_cast<int>(saturday_night.days),
                  static_cast<int>(weekday_bit::sat));
  CAF_CHECK_EQUAL(saturday_night.from_minute, 22 * 60);
  CAF_CHECK_EQUAL(saturday_night.to_minute, 2 * 60 + 30);
  CAF_CHECK_EQUAL(saturday_night.timezone, "UTC");
  const auto& agents = snapshot.routes[0];
  CAF_CHECK(agents.action == route_action::bridge);
  CAF_CHECK_EQUAL(agents.bridge_target, std::optional<std::string>{"sofia/gateway/agents/1000"});
  CAF_CHECK(!agents.flow_id);
  CAF_CHECK(agents.time_windows.empty());
  CAF_CHECK(agents.answer);
  CAF_CHECK(agents.mode == esl_mode::inbound);
  const auto& blocked = snapshot.routes[2];
  CAF_CHECK(blocked.action == route_action::hangup);
  CAF_CHECK_EQUAL(blocked.hangup_cause, std::optional<std::string>{"CALL_REJECTED"});
  // Flows: only the highest version of each.
  CAF_REQUIRE_EQUAL(snapshot.flows.size(), 2u);
  const auto* main_flow = snapshot.find_flow(1);
  CAF_REQUIRE(main_flow != nullptr);
  CAF_CHECK_EQUAL(main_flow->version, 2);
  CAF_CHECK_EQUAL(main_flow->name, "main");
  CAF_CHECK_EQUAL(main_flow->document,
                  R"({"nodes": {"welcome": {"type": "play"}}, "start": "welcome"})");
  const auto* sales = snapshot.find_flow(2);
  CAF_REQUIRE(sales != nullptr);
  CAF_CHECK_EQUAL(sales->version, 1);
  CAF_CHECK(snapshot.find_flow(3) == nullptr);
  // Prompts.
  CAF_REQUIRE_EQUAL(snapshot.prompts.size(), 2u);
  const auto* german = snapshot.find_prompt("welcome", "de");
  CAF_REQUIRE(german != nullptr);
  CAF_CHECK_EQUAL(german->uri, "file:///prompts/de/welcome.wav");
  CAF_CHECK(!german->sha256);
  const auto* english = snapshot.find_prompt("welcome", "en");
  CAF_REQUIRE(english != nullptr);
  CAF_CHECK_EQUAL(english->sha256, std::optional<std::string>{"ab12"});
  CAF_CHECK(snapshot.find_prompt("welcome", "fr") == nullptr);
  // Campaigns.
  CAF_REQUIRE_EQUAL(snapshot.campaigns.size(), 1u);
  const auto& sale = snapshot.campaigns[0];
  CAF_CHECK_EQUAL(sale.name, "winter-sale");
  CAF_CHECK_EQUAL(sale.state, "running");
  CAF_CHECK_EQUAL(sale.flow_id, std::optional<int64_t>{2});
  CAF_CHECK_EQUAL(sale.caller_id, "+4930123");
  CAF_CHECK_EQUAL(sale.max_concurrent, 12);
  CAF_CHECK_EQUAL(sale.calls_per_second, 2.5);
  CAF_CHECK_EQUAL(sale.max_attempts, 4);
  CAF_CHECK_EQUAL(sale.retry_delay_seconds, 900);
  CAF_CHECK_EQUAL(sale.window_start_seconds, std::optional<int32_t>{9 * 3600});
  CAF_CHECK_EQUAL(sale.window_end_seconds, std::optional<int32_t>{20 * 3600 + 30 * 60 + 15});
  CAF_CHECK_EQUAL(sale.timezone, "Europe/Berlin");
  CAF_CHECK(snapshot.find_campaign(sale.id) == &sale);
  // The connection is left idle and usable.
  CAF_CHECK_EQUAL(PQtransactionStatus(conn.get()), PQTRANS_IDLE);
  CAF_CHECK(load_catalog(conn.get()));
}

CAF_TEST(an empty catalog loads as an empty snapshot) {
  auto conn = connect_to(database("empty"));
  auto loaded = load_catalog(conn.get());
  CAF_REQUIRE(loaded);
  CAF_CHECK(loaded->routes.empty() && loaded->flows.empty() && loaded->prompts.empty()
            && loaded->campaigns.empty());
}

CAF_TEST(a schema older than version 4 fails with the server message) {
  auto conn = connect_to(database("old", 3));
  auto loaded = load_catalog(conn.get());
  CAF_REQUIRE(!loaded);
  auto text = render_error(loaded.error());
  CAF_MESSAGE(text);
  CAF_CHECK_EQUAL(loaded.error().code(), static_cast<uint8_t>(errc::db_query_failed));
  CAF_CHECK(text.starts_with("db.db_query_failed: load catalog: routes: "));
  CAF_CHECK_NOT_EQUAL(text.find("caller_pattern"), std::string::npos);
  CAF_CHECK_EQUAL(PQtransactionStatus(conn.get()), PQTRANS_IDLE);
}

CAF_TEST(migrating from version 3 keeps routes and disables those without a flow) {
  auto conninfo = database("from_3", 3);
  auto conn = connect_to(conninfo);
  CAF_REQUIRE_EQUAL(sqlstate_of(conn.get(), "INSERT INTO routes (name, match_prefix, flow_id) "
                                            "VALUES ('with-flow', '+1', 7), "
                                            "('without-flow', '+2', NULL)"),
                    "");
  auto rest = schema_migrator::migrate(conninfo);
  CAF_REQUIRE(rest);
  CAF_CHECK_EQUAL(rest->applied, (std::vector<int>{4, 5}));
  CAF_CHECK_EQUAL(value_of(conn.get(), "SELECT action || '/' || enabled || '/' || version "
                                       "|| '/' || answer || '/' || esl_mode "
                                       "FROM routes WHERE name = 'with-flow'"),
                  std::optional<std::string>{"flow/true/1/true/inbound"});
  CAF_CHECK_EQUAL(value_of(conn.get(), "SELECT action || '/' || hangup_cause || '/' || enabled "
                                       "|| '/' || version FROM routes "
                                       "WHERE name = 'without-flow'"),
                  std::optional<std::string>{"hangup/UNALLOCATED_NUMBER/false/2"});
  auto loaded = load_catalog(conn.get());
  CAF_REQUIRE(loaded);
  CAF_REQUIRE_EQUAL(loaded->routes.size(), 1u);
  CAF_CHECK_EQUAL(loaded->routes[0].name, "with-flow");
}

CAF_TEST(the schema refuses routes whose action and target disagree) {
  auto conn = connect_to(database("checks"));
  auto insert = [&](const std::string& columns, const std::string& values) {
    return sqlstate_of(conn.get(), "INSERT INTO routes (name, " + columns + ") VALUES ('r', "
                                     + values + ")");
  };
  const std::string check_violation = "23514";
  CAF_CHECK_EQUAL(insert("action", "'flow'"), check_violation);
  CAF_CHECK_EQUAL(insert("action, bridge_target", "'bridge', ''"), check_violation);
  CAF_CHECK_EQUAL(insert("action, bridge_target, flow_id", "'bridge', 'user/1000', 3"),
                  check_violation);
  CAF_CHECK_EQUAL(insert("action", "'hangup'"), check_violation);
  CAF_CHECK_EQUAL(insert("action, hangup_cause, flow_id", "'hangup', 'BUSY', 1"),
                  check_violation);
  CAF_CHECK_EQUAL(insert("action, flow_id", "'transfer', 1"), check_violation);
  CAF_CHECK_EQUAL(insert("flow_id, esl_mode", "1, 'sideways'"), check_violation);
  CAF_CHECK_EQUAL(insert("flow_id, caller_pattern", "1, ''"), check_violation);
  CAF_CHECK_EQUAL(insert("flow_id, caller_pattern", "1, '(unclosed'"), "2201B");
  // Time windows: wrong shapes are refused, the documented one is accepted.
  for (auto bad : {R"('[]')", R"('{}')", R"('[{"days": [], "from": "08:00", "to": "09:00"}]')",
                   R"('[{"days": ["mon"], "from": "8:00", "to": "09:00"}]')",
                   R"('[{"days": ["mon"], "from": "08:00", "to": "24:01"}]')",
                   R"('[{"days": ["mon"], "from": "08:00", "to": "08:00"}]')",
                   R"('[{"days": ["mon", "mon"], "from": "08:00", "to": "09:00"}]')",
                   R"('[{"days": ["monday"], "from": "08:00", "to": "09:00"}]')",
                   R"('[{"days": ["mon"], "from": "08:00"}]')",
                   R"('[{"days": ["mon"], "from": "08:00", "to": "09:00", "tz": ""}]')",
                   R"('[{"days": ["mon"], "from": "08:00", "to": "09:00", "zone": "UTC"}]')"}) {
    CAF_MESSAGE("time_windows " << bad);
    CAF_CHECK_EQUAL(insert("flow_id, time_windows", std::string{"1, "} + bad), check_violation);
  }
  CAF_CHECK_EQUAL(insert("flow_id, time_windows",
                         R"(1, '[{"days": ["sun"], "from": "00:00", "to": "24:00"}]')"),
                  "");
  CAF_CHECK_EQUAL(value_of(conn.get(), "SELECT count(*) FROM routes"),
                  std::optional<std::string>{"1"});
}

CAF_TEST_FIXTURE_SCOPE_END()

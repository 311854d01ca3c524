#define CAF_SUITE persistence.catalog_store

#include "persistence/catalog_store.hpp"

#include <caf/test/dsl.hpp>

#include <memory>
#include <optional>
#include <string>

#include <libpq-fe.h>

#include "persistence/catalog_loader.hpp"
#include "persistence/errc.hpp"
#include "persistence/schema_migrator.hpp"
#include "services/postgres_server.hpp"

using namespace callgrid::persistence;
using callgrid::test_support::postgres_server;

namespace {

using conn_ptr = std::unique_ptr<PGconn, decltype(&PQfinish)>;

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

struct fixture {
  postgres_server pg;
  conn_ptr conn{nullptr, &PQfinish};

  fixture() {
    pg.create_database("store");
    auto conninfo = pg.conninfo("store");
    CAF_REQUIRE(schema_migrator::migrate(conninfo));
    conn.reset(PQconnectdb(conninfo.c_str()));
    CAF_REQUIRE_EQUAL(PQstatus(conn.get()), CONNECTION_OK);
  }

  catalog_snapshot load() {
    auto loaded = load_catalog(conn.get());
    CAF_REQUIRE(loaded);
    return std::move(*loaded);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(catalog_store_tests, fixture)

CAF_TEST(importing a flow creates a version only when the document changed) {
  auto first = catalog_store::import_flow(conn.get(), "main", R"({"start": "a", "n": 1})");
  CAF_REQUIRE(first);
  CAF_CHECK_EQUAL(*first, (flow_import_result{1, 1, true}));
  // The same document with other key order and spacing is no change.
  auto same = catalog_store::import_flow(conn.get(), "main", R"({ "n":1,"start":"a" })");
  CAF_REQUIRE(same);
  CAF_CHECK_EQUAL(*same, (flow_import_result{1, 1, false}));
  auto changed = catalog_store::import_flow(conn.get(), "main", R"({"start": "b"})");
  CAF_REQUIRE(changed);
  CAF_CHECK_EQUAL(*changed, (flow_import_result{1, 2, true}));
  // Another name is another flow.
  auto other = catalog_store::import_flow(conn.get(), "sales", R"({"start": "x"})");
  CAF_REQUIRE(other);
  CAF_CHECK_EQUAL(*other, (flow_import_result{2, 1, true}));
  // Going back to an earlier document is a change again (a new version, not a rollback).
  auto back = catalog_store::import_flow(conn.get(), "main", R"({"start": "a", "n": 1})");
  CAF_REQUIRE(back);
  CAF_CHECK_EQUAL(*back, (flow_import_result{1, 3, true}));
  CAF_CHECK_EQUAL(value_of(conn.get(), "SELECT count(*) FROM ivr_flows"),
                  std::optional<std::string>{"4"});
  auto snapshot = load();
  const auto* main_flow = snapshot.find_flow(1);
  CAF_REQUIRE(main_flow != nullptr);
  CAF_CHECK_EQUAL(main_flow->version, 3);
  CAF_CHECK_EQUAL(main_flow->document, R"({"n": 1, "start": "a"})");
}

CAF_TEST(a document that is not JSON is refused with the server message) {
  auto refused = catalog_store::import_flow(conn.get(), "broken", "{\"start\": ");
  CAF_REQUIRE(!refused);
  auto text = render_error(refused.error());
  CAF_MESSAGE(text);
  CAF_CHECK_EQUAL(refused.error().code(), static_cast<uint8_t>(errc::db_query_failed));
  CAF_CHECK(text.starts_with("db.db_query_failed: import flow 'broken': "));
  CAF_CHECK_NOT_EQUAL(text.find("invalid input syntax for type json"), std::string::npos);
  CAF_CHECK_EQUAL(PQtransactionStatus(conn.get()), PQTRANS_IDLE);
  CAF_CHECK_EQUAL(value_of(conn.get(), "SELECT count(*) FROM ivr_flows"),
                  std::optional<std::string>{"0"});
}

CAF_TEST(a route is inserted then updated by name and reads back as written) {
  catalog_route route;
  route.name = "office";
  route.match_prefix = "+4930";
  route.priority = 7;
  route.action = route_action::bridge;
  route.bridge_target = "user/1000";
  route.caller_pattern = "^\\+49";
  route.max_concurrent = 3;
  route.answer = false;
  route.mode = esl_mode::outbound;
  route.time_windows = {
    {static_cast<uint8_t>(0x1f), 8 * 60, 18 * 60, "Europe/Berlin"},
    {static_cast<uint8_t>(weekday_bit::sat) | static_cast<uint8_t>(weekday_bit::sun), 22 * 60,
     30, "America/New_York"}};
  auto inserted = catalog_store::upsert_route(conn.get(), route);
  CAF_REQUIRE(inserted);
  CAF_CHECK(inserted->created);
  CAF_CHECK_EQUAL(inserted->version, 1);
  auto snapshot = load();
  const auto* stored = snapshot.find_route("office");
  CAF_REQUIRE(stored != nullptr);
  auto expected = route;
  expected.id = inserted->id;
  CAF_CHECK_EQUAL(*stored, expected);
  // Update: same name, a flow instead of the bridge; the version goes up, the id stays.
  route.action = route_action::flow;
  route.bridge_target.reset();
  route.flow_id = 42;
  route.time_windows.clear();
  route.caller_pattern.reset();
  auto updated = catalog_store::upsert_route(conn.get(), route);
  CAF_REQUIRE(updated);
  CAF_CHECK(!updated->created);
  CAF_CHECK_EQUAL(updated->id, inserted->id);
  CAF_CHECK_EQUAL(updated->version, 2);
  snapshot = load();
  stored = snapshot.find_route("office");
  CAF_REQUIRE(stored != nullptr);
  CAF_CHECK(stored->action == route_action::flow);
  CAF_CHECK_EQUAL(stored->flow_id, std::optional<int64_t>{42});
  CAF_CHECK(stored->time_windows.empty());
  CAF_CHECK_EQUAL(value_of(conn.get(), "SELECT time_windows IS NULL FROM routes"),
                  std::optional<std::string>{"t"});
  // Delete: true once, then false.
  auto deleted = catalog_store::delete_route(conn.get(), "office");
  CAF_REQUIRE(deleted);
  CAF_CHECK(*deleted);
  auto again = catalog_store::delete_route(conn.get(), "office");
  CAF_REQUIRE(again);
  CAF_CHECK(!*again);
  CAF_CHECK(load().routes.empty());
}

CAF_TEST(a route the schema refuses comes back with its name and the constraint) {
  catalog_route route;
  route.name = "no-target";
  route.action = route_action::bridge;
  auto refused = catalog_store::upsert_route(conn.get(), route);
  CAF_REQUIRE(!refused);
  auto text = render_error(refused.error());
  CAF_MESSAGE(text);
  CAF_CHECK_EQUAL(refused.error().code(), static_cast<uint8_t>(errc::db_query_failed));
  CAF_CHECK(text.starts_with("db.db_query_failed: upsert route 'no-target': "));
  CAF_CHECK_NOT_EQUAL(text.find("routes_action_target_check"), std::string::npos);
  route.action = route_action::flow;
  route.flow_id = 1;
  route.caller_pattern = "([";
  auto bad_regex = catalog_store::upsert_route(conn.get(), route);
  CAF_REQUIRE(!bad_regex);
  CAF_MESSAGE(render_error(bad_regex.error()));
  CAF_CHECK_NOT_EQUAL(render_error(bad_regex.error()).find("regular expression"),
                      std::string::npos);
  CAF_CHECK_EQUAL(PQtransactionStatus(conn.get()), PQTRANS_IDLE);
  CAF_CHECK(load().routes.empty());
}

CAF_TEST(a prompt is inserted then its uri replaced) {
  auto inserted = catalog_store::upsert_prompt(conn.get(), {"welcome", "de", "file:///a.wav", {}});
  CAF_REQUIRE(inserted);
  CAF_CHECK(inserted->created);
  auto replaced
    = catalog_store::upsert_prompt(conn.get(), {"welcome", "de", "file:///b.wav", "cafe"});
  CAF_REQUIRE(replaced);
  CAF_CHECK(!replaced->created);
  CAF_CHECK_EQUAL(replaced->id, inserted->id);
  auto snapshot = load();
  CAF_REQUIRE_EQUAL(snapshot.prompts.size(), 1u);
  CAF_CHECK_EQUAL(snapshot.prompts[0],
                  (catalog_prompt{"welcome", "de", "file:///b.wav", std::string{"cafe"}}));
}

CAF_TEST(a lost connection is db_unavailable) {
  pg.stop();
  auto failed = catalog_store::import_flow(conn.get(), "main", "{}");
  CAF_REQUIRE(!failed);
  CAF_MESSAGE(render_error(failed.error()));
  CAF_CHECK_EQUAL(failed.error().code(), static_cast<uint8_t>(errc::db_unavailable));
  pg.start();
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(time windows render as the JSON the schema accepts) {
  std::vector<time_window> windows{
    {static_cast<uint8_t>(weekday_bit::mon) | static_cast<uint8_t>(weekday_bit::sun), 0, 1440,
     "Europe/Berlin"}};
  CAF_CHECK_EQUAL(catalog_store::time_windows_json(windows),
                  R"([{"days":["mon","sun"],"from":"00:00","to":"24:00","tz":"Europe/Berlin"}])");
  CAF_CHECK_EQUAL(catalog_store::time_windows_json({}), "");
}

#define CAF_SUITE actors.metrics_registry

#include "actors/metrics_registry.hpp"

#include <stdexcept>

#include <caf/test/unit_test.hpp>

using namespace callgrid::actors;

CAF_TEST(counters and gauges render in the Prometheus text format) {
  metrics_registry metrics;
  metrics.counter("callgrid_calls_total", "Calls ended", {{"disposition", "answered"}})
    .increment(3);
  metrics.counter("callgrid_calls_total", "Calls ended", {{"disposition", "abandoned"}})
    .increment();
  metrics.gauge("callgrid_live_calls", "Calls in progress").set(7);
  auto page = metrics.render();
  CAF_CHECK(page.find("# HELP callgrid_calls_total Calls ended\n# TYPE callgrid_calls_total "
                      "counter\n")
            != std::string::npos);
  CAF_CHECK(page.find("callgrid_calls_total{disposition=\"abandoned\"} 1\n") != std::string::npos);
  CAF_CHECK(page.find("callgrid_calls_total{disposition=\"answered\"} 3\n") != std::string::npos);
  CAF_CHECK(page.find("# TYPE callgrid_live_calls gauge\ncallgrid_live_calls 7\n")
            != std::string::npos);
}

CAF_TEST(the same series is the same object) {
  metrics_registry metrics;
  auto& a = metrics.counter("callgrid_events_total", "Events");
  auto& b = metrics.counter("callgrid_events_total", "Events");
  a.increment();
  b.increment();
  CAF_CHECK_EQUAL(&a, &b);
  CAF_CHECK_EQUAL(a.value(), 2u);
}

CAF_TEST(callback gauges are read at render time) {
  metrics_registry metrics;
  double depth = 1;
  metrics.callback_gauge("callgrid_record_spool_depth", "Pending records", {},
                         [&depth] { return depth; });
  depth = 42.5;
  CAF_CHECK(metrics.render().find("callgrid_record_spool_depth 42.5\n") != std::string::npos);
}

CAF_TEST(label values are escaped) {
  metrics_registry metrics;
  metrics.gauge("callgrid_info", "Info", {{"flow", "a\"b\\c\nd"}}).set(1);
  CAF_CHECK(metrics.render().find("callgrid_info{flow=\"a\\\"b\\\\c\\nd\"} 1\n")
            != std::string::npos);
}

namespace {

template <class F>
bool refuses(F&& register_it) {
  try {
    register_it();
  } catch (const std::invalid_argument&) {
    return true;
  }
  return false;
}

} // namespace

CAF_TEST(names that break the conventions are refused) {
  metrics_registry metrics;
  CAF_CHECK(refuses([&] { metrics.counter("calls_total", "no prefix"); }));
  CAF_CHECK(refuses([&] { metrics.counter("callgrid_calls", "no _total"); }));
  metrics.gauge("callgrid_x", "x");
  CAF_CHECK(refuses([&] { metrics.counter("callgrid_x_total", "fine"); }) == false);
  CAF_CHECK(refuses([&] { metrics.gauge("callgrid_x_total", "type clash"); }));
}

CAF_TEST(a histogram renders cumulative buckets with le and then sum and count) {
  metrics_registry metrics;
  auto& h = metrics.histogram("callgrid_reaction_seconds", "Reaction", {0.001, 0.005, 0.01},
                              {{"mode", "inbound"}});
  for (double v : {0.0005, 0.001, 0.003, 0.02})
    h.observe(v);
  auto page = metrics.render();
  CAF_CHECK(page.find("# TYPE callgrid_reaction_seconds histogram\n") != std::string::npos);
  // 0.001 itself falls into the le="0.001" bucket (upper bounds are inclusive).
  CAF_CHECK(page.find("callgrid_reaction_seconds_bucket{mode=\"inbound\",le=\"0.001\"} 2\n")
            != std::string::npos);
  CAF_CHECK(page.find("callgrid_reaction_seconds_bucket{mode=\"inbound\",le=\"0.005\"} 3\n")
            != std::string::npos);
  CAF_CHECK(page.find("callgrid_reaction_seconds_bucket{mode=\"inbound\",le=\"0.01\"} 3\n")
            != std::string::npos);
  CAF_CHECK(page.find("callgrid_reaction_seconds_bucket{mode=\"inbound\",le=\"+Inf\"} 4\n")
            != std::string::npos);
  CAF_CHECK(page.find("callgrid_reaction_seconds_sum{mode=\"inbound\"} 0.0245\n")
            != std::string::npos);
  CAF_CHECK(page.find("callgrid_reaction_seconds_count{mode=\"inbound\"} 4\n")
            != std::string::npos);
  CAF_CHECK(refuses([&] { metrics.histogram("callgrid_bad_total", "counter name", {1.0}); }));
  CAF_CHECK(refuses([&] { metrics.histogram("callgrid_unsorted_seconds", "x", {2.0, 1.0}); }));
  // A refused histogram leaves nothing on the page (a bare sample would break the scrape).
  CAF_CHECK(metrics.render().find("callgrid_unsorted_seconds") == std::string::npos);
}

#include "actors/record_writer.hpp"

#include <optional>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/metrics_registry.hpp"
#include "persistence/record_pipeline.hpp"
#include "persistence/record_spool.hpp"

namespace callgrid::actors {

namespace {

struct writer_metrics {
  metric_counter& appended;
  metric_counter& shipped;
  metric_counter& duplicates;
  metric_counter& append_failures;
  metric_counter& ship_failures;
  metric_gauge& depth;
  metric_gauge& oldest_age;
};

struct record_writer_state {
  static inline const char* name = "record_writer";

  /// The spool and its shipping threads: appending here and shipping there overlap.
  std::shared_ptr<persistence::record_pipeline> pipeline;
  record_writer_options options;
  std::optional<writer_metrics> metrics;
  std::vector<persistence::call_record> waiting;
  /// The pipeline's counters already added to the metrics.
  persistence::record_pipeline_stats counted;
  /// A record waits and its group's `append_group_due` is on its way.
  bool group_open = false;

  void warn(const std::string& line) const {
    if (options.log_warning)
      options.log_warning(line);
  }

  /// Appends the waiting records with one sync. On failure they stay waiting (in memory) and
  /// are tried again at the next tick; the failure is reported loudly each time.
  void append_waiting() {
    if (waiting.empty())
      return;
    const auto count = waiting.size();
    std::vector<std::string> durable_uuids;
    if (options.on_durable) {
      durable_uuids.reserve(count);
      // A bridge's far leg shares its call's UUID and has no journal entry of its own.
      for (const auto& record : waiting)
        if (record.leg == 0)
          durable_uuids.push_back(record.call_uuid);
    }
    auto appended = pipeline->append(waiting);
    if (!appended) {
      metrics->append_failures.increment();
      warn("record spool append of " + std::to_string(count)
           + " records failed (kept in memory, retrying): "
           + persistence::render_error(appended.error()));
      return;
    }
    metrics->appended.increment(count);
    if (options.on_durable)
      options.on_durable(durable_uuids);
  }

  /// Adds what the shipping threads did since the last call to the counters, and sets the
  /// gauges.
  void update_metrics() {
    auto now = pipeline->stats();
    metrics->shipped.increment(now.stored - counted.stored);
    metrics->duplicates.increment(now.duplicates - counted.duplicates);
    metrics->ship_failures.increment(now.ship_failures - counted.ship_failures);
    counted = now;
    metrics->depth.set(static_cast<double>(now.pending + waiting.size()));
    auto age = pipeline->oldest_pending_age(caf::make_timestamp());
    metrics->oldest_age.set(age ? static_cast<double>(age->count()) / 1e6 : 0.0);
  }
};

/// How long a flush waits for the shipping threads before it answers what is still pending.
constexpr auto flush_wait = std::chrono::seconds{5};

using writer_pointer = record_writer_actor::stateful_pointer<record_writer_state>;

record_writer_actor::behavior_type record_writer_impl(writer_pointer self) {
  // The idle timer refreshes the metrics and retries a failed append; groups need no timer.
  self->delayed_send(self, self->state.options.idle_interval, caf::tick_atom_v);
  return {
    [self](record_message& msg) {
      auto& st = self->state;
      st.waiting.push_back(std::move(msg.record));
      if (st.waiting.size() >= st.options.append_group) {
        st.append_waiting();
        st.update_metrics();
        return;
      }
      if (st.group_open)
        return;
      // The first record of a group. This thread is the writer's own (detached), so it sleeps
      // out the append interval here: the records that come meanwhile queue in the mailbox
      // without waking anybody, and `append_group_due`, sent now, comes behind them and appends
      // them all with one fdatasync. Two wake-ups per group, and none of CAF's clock thread.
      st.group_open = true;
      std::this_thread::sleep_for(st.options.append_interval);
      self->send(self, append_group_due{});
    },
    [self](append_group_due) {
      auto& st = self->state;
      st.group_open = false;
      st.append_waiting();
      st.update_metrics();
    },
    [self](caf::tick_atom) {
      auto& st = self->state;
      st.append_waiting();
      st.update_metrics();
      self->delayed_send(self,
                         st.waiting.empty() ? st.options.idle_interval
                                            : st.options.append_interval,
                         caf::tick_atom_v);
    },
    [self](caf::flush_atom) -> uint64_t {
      auto& st = self->state;
      st.append_waiting();
      auto pending = st.pipeline->flush(flush_wait);
      st.update_metrics();
      return pending + st.waiting.size();
    },
  };
}

} // namespace

caf::expected<record_writer_actor>
spawn_record_writer(caf::actor_system& system, record_writer_options options,
                    metrics_registry& metrics) {
  auto spool = persistence::record_spool::open(options.spool_dir, {});
  if (!spool)
    return spool.error();
  for (const auto& damage : spool->report().damage)
    if (options.log_warning)
      options.log_warning("record spool repaired at open: " + persistence::to_string(damage));
  writer_metrics m{
    metrics.counter("callgrid_records_spooled_total",
                    "Call records appended to the local durable spool"),
    metrics.counter("callgrid_records_stored_total",
                    "Call records inserted into PostgreSQL (cdr)"),
    metrics.counter("callgrid_records_duplicates_total",
                    "Spooled records PostgreSQL already had (replays after a crash or retry)"),
    metrics.counter("callgrid_record_spool_failures_total",
                    "Failed appends to the record spool (disk full or I/O error)"),
    metrics.counter("callgrid_record_ship_failures_total",
                    "Failed attempts to ship spooled records to PostgreSQL"),
    metrics.gauge("callgrid_record_spool_depth",
                  "Call records not yet stored in PostgreSQL (spooled or waiting to be)"),
    metrics.gauge("callgrid_record_spool_oldest_age_seconds",
                  "Age of the oldest call record not yet stored in PostgreSQL"),
  };
  persistence::record_pipeline_options pipeline_options;
  pipeline_options.batcher = options.batcher;
  pipeline_options.connections = options.ship_connections;
  pipeline_options.log_warning = options.log_warning;
  auto pipeline
    = persistence::record_pipeline::start(std::move(*spool), std::move(pipeline_options));
  if (!pipeline)
    return pipeline.error();
  // Spawning copies the function, so the move-only pipeline travels behind a shared pointer.
  std::shared_ptr<persistence::record_pipeline> shared_pipeline = std::move(*pipeline);
  auto actor = system.spawn<caf::detached>(
    [shared_pipeline, options = std::move(options),
     m](writer_pointer self) mutable -> record_writer_actor::behavior_type {
      auto& st = self->state;
      st.pipeline = std::move(shared_pipeline);
      st.options = std::move(options);
      st.metrics.emplace(m);
      return record_writer_impl(self);
    });
  return actor;
}

} // namespace callgrid::actors

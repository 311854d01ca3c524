#include "daemon.hpp"

#include <pthread.h>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <csignal>
#include <malloc.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <chrono>
#include <optional>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/engine_catalog.hpp"
#include "admin_api.hpp"
#include "call_api.hpp"
#include "cluster/error.hpp"
#include "cluster/link_tls.hpp"
#include "cluster/membership_client.hpp"
#include "cluster/registry_actor.hpp"
#include "cluster/wire.hpp"
#include "edge_writer.hpp"
#include "config/diagnostic.hpp"
#include "config/key_schema.hpp"
#include "config/loader.hpp"
#include "logging.hpp"
#include "actors/errc.hpp"
#include "actors/http_endpoint.hpp"
#include "actors/io_thread_scheduler.hpp"
#include "actors/metrics_registry.hpp"
#include "actors/node_supervisor.hpp"
#include "actors/prompt_check.hpp"
#include "actors/record_writer.hpp"
#include "actors/session_journal.hpp"
#include "esl/outbound_server.hpp"
#include "persistence/catalog_watcher.hpp"
#include "persistence/errc.hpp"
#include "persistence/hot_state.hpp"
#include "persistence/redis_client.hpp"
#include "persistence/redis_reply.hpp"
#include "persistence/schema_migrator.hpp"

namespace callgrid::daemon {

namespace {

using namespace std::chrono_literals;

/// This build's version, reported in metrics and when a node joins the cluster.
constexpr const char* callgrid_version = "0.1.0";

/// Messages an actor handles per turn before yielding (CAF's scheduler.max-throughput).
constexpr size_t max_messages_per_turn = 100;

/// The daemon's CAF settings: the scheduler pinned as configured (platform-notes.md).
class daemon_system_config : public caf::actor_system_config {
public:
  daemon_system_config(const config::scheduler_settings& scheduler,
                       actors::io_thread_scheduler& io_scheduler, const cluster::link_tls& tls) {
    set("scheduler.max-threads", static_cast<size_t>(scheduler.threads));
    // An actor handles at most this many messages per turn, then the others (and, with the io
    // policy, the socket reads) get theirs: CAF's default is no bound, so a supervisor with a
    // flood of events queued would hold its thread until all are handled.
    set("scheduler.max-throughput", max_messages_per_turn);
    switch (scheduler.policy) {
      case config::scheduler_policy::sharing:
        set("scheduler.policy", caf::atom("sharing"));
        break;
      case config::scheduler_policy::stealing:
        set("scheduler.policy", caf::atom("stealing"));
        break;
      case config::scheduler_policy::io:
        io_scheduler.install(*this);
        break;
    }
    set("logger.verbosity", caf::atom("quiet"));
    load<caf::io::middleman>();
    if (tls.enabled())
      cluster::configure_link_tls(*this, tls);
    cluster::register_types(*this);
  }
};

/// The cluster link's TLS files as the cluster component takes them.
cluster::link_tls link_tls_of(const config::cluster_settings& settings) {
  return {settings.tls_certificate, settings.tls_key, settings.tls_ca_file};
}

/// Connection string for the batcher: the configured one plus a connect timeout, so an
/// unreachable PostgreSQL costs the record writer a bounded wait.
std::string with_connect_timeout(const std::string& conninfo, std::chrono::milliseconds timeout) {
  if (conninfo.find("connect_timeout") != std::string::npos)
    return conninfo;
  auto seconds = std::max<long long>(1, std::chrono::ceil<std::chrono::seconds>(timeout).count());
  if (conninfo.find("://") != std::string::npos)
    return conninfo + (conninfo.find('?') == std::string::npos ? "?" : "&")
           + "connect_timeout=" + std::to_string(seconds);
  return conninfo + " connect_timeout=" + std::to_string(seconds);
}

std::shared_ptr<const actors::engine_catalog>
build_catalog(const persistence::catalog_snapshot& snapshot, std::string_view prompt_language) {
  std::vector<std::string> problems;
  auto catalog = actors::build_engine_catalog(snapshot, prompt_language, problems);
  for (const auto& p : problems)
    spdlog::warn("catalog: {}", p);
  spdlog::info("catalog generation {}: {} routes, {} flows", catalog->generation,
               catalog->routes->size(), catalog->flows.size());
  return catalog;
}

void register_catalog_metrics(actors::metrics_registry& metrics,
                              const persistence::catalog_watcher& watcher) {
  auto* w = &watcher;
  metrics.callback_gauge("callgrid_catalog_up", "1 while the catalog's PostgreSQL connection is up",
                         {}, [w] { return w->status().connected ? 1.0 : 0.0; });
  metrics.callback_gauge("callgrid_catalog_reloads_total", "Catalog loads (the first one included)",
                         {}, [w] { return static_cast<double>(w->status().reloads); });
  metrics.callback_gauge("callgrid_catalog_failures_total", "Failed catalog loads or connections",
                         {}, [w] { return static_cast<double>(w->status().failures); });
  metrics.callback_gauge("callgrid_catalog_generation", "Generation of the catalog in memory", {},
                         [w] { return static_cast<double>(w->status().generation); });
  metrics.callback_gauge("callgrid_catalog_load_seconds", "Duration of the last catalog load", {},
                         [w] { return static_cast<double>(w->status().last_load_duration.count()) / 1e6; });
}

void register_hot_state_metrics(actors::metrics_registry& metrics,
                                const persistence::hot_state& hot) {
  auto* h = &hot;
  metrics.callback_gauge("callgrid_redis_up", "1 while the Redis connection is up", {},
                         [h] { return h->stats().redis.connected ? 1.0 : 0.0; });
  metrics.callback_gauge("callgrid_redis_timeouts_total", "Redis commands that ran out of time",
                         {}, [h] { return static_cast<double>(h->stats().redis.timeouts); });
  metrics.callback_gauge("callgrid_redis_reconnects_total", "Redis reconnections", {},
                         [h] { return static_cast<double>(h->stats().redis.reconnects); });
  for (std::size_t i = 0; i < persistence::key_class_count; ++i) {
    auto cls = static_cast<persistence::key_class>(i);
    metrics.callback_gauge("callgrid_hot_state_policy_in_effect_total",
                           "Answers given by a key class's failure policy instead of Redis",
                           {{"class", persistence::to_string(cls)}},
                           [h, i] { return static_cast<double>(h->stats().policy_in_effect[i]); });
  }
}

/// Drops a reply nobody waits for (the client counts failures).
void ignore_reply(caf::expected<persistence::redis_reply>) {
}

/// The node's session journal in Redis: the hash `cg:journal:<node>` maps each call in progress
/// (its UUID) to its snapshot: one HSET per save (the calls started by one read's events), one
/// HDEL per append group of the record writer. The hash expires `ttl` after it was last renewed
/// (at a save or a drop when `renew_every` has passed since), so the journal of a node
/// that never comes back does not stay forever. Best-effort like every session snapshot
/// (docs/hot-state.md): a failed write is counted by the client and costs, at worst, the record
/// of a call that ends while callgridd is down.
actors::session_journal redis_session_journal(persistence::redis_client& client,
                                              const std::string& node,
                                              std::chrono::milliseconds ttl) {
  using std::chrono::steady_clock;
  constexpr auto renew_every = std::chrono::seconds{60};
  auto key = "cg:journal:" + node;
  auto ttl_text = std::to_string(ttl.count());
  // When the TTL was last renewed (steady clock, ms); saves come from any actor's thread.
  auto renewed_at = std::make_shared<std::atomic<std::int64_t>>(
    std::numeric_limits<std::int64_t>::min() / 2); // the first save renews
  auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
             steady_clock::now().time_since_epoch())
      .count();
  };
  auto renew_due = [renewed_at, now_ms, renew_every] {
    auto now = now_ms();
    auto last = renewed_at->load(std::memory_order_relaxed);
    return now - last >= std::chrono::milliseconds{renew_every}.count()
           && renewed_at->compare_exchange_strong(last, now, std::memory_order_relaxed);
  };
  actors::session_journal journal;
  // Each is one hand-over to the Redis client's strand (one posted handler) per save and per
  // append group, not per command.
  journal.save = [&client, key, ttl_text, renew_due](
                   std::vector<std::pair<std::string, std::string>> entries) {
    if (entries.empty())
      return;
    std::vector<std::string> hset;
    hset.reserve(2 + 2 * entries.size());
    hset.push_back("HSET");
    hset.push_back(key);
    for (auto& [uuid, snapshot] : entries) {
      hset.push_back(std::move(uuid));
      hset.push_back(std::move(snapshot));
    }
    if (renew_due())
      client.commands({std::move(hset), {"PEXPIRE", key, ttl_text}}, ignore_reply);
    else
      client.command(std::move(hset), ignore_reply);
  };
  journal.drop = [&client, key, ttl_text, renew_due](const std::vector<std::string>& uuids) {
    if (uuids.empty())
      return;
    std::vector<std::string> hdel;
    hdel.reserve(uuids.size() + 2);
    hdel.push_back("HDEL");
    hdel.push_back(key);
    hdel.insert(hdel.end(), uuids.begin(), uuids.end());
    if (renew_due())
      client.commands({std::move(hdel), {"PEXPIRE", key, ttl_text}}, ignore_reply);
    else
      client.command(std::move(hdel), ignore_reply);
  };
  journal.list = [&client, key](
                   std::function<void(std::vector<std::pair<std::string, std::string>>)> done) {
    client.command({"HGETALL", key}, [done = std::move(done)](
                                       caf::expected<persistence::redis_reply> all) {
      std::vector<std::pair<std::string, std::string>> entries;
      if (all && all->type == persistence::redis_reply_type::array) {
        const auto& fields = all->elements;
        for (std::size_t i = 0; i + 1 < fields.size(); i += 2)
          entries.emplace_back(fields[i].text, fields[i + 1].text);
      }
      done(std::move(entries));
    });
  };
  return journal;
}

/// What a SIGHUP hands the running daemon: the configuration with the new values of the keys it
/// takes (`restart = no` in the schema).
using apply_live_settings = std::function<void(const config::daemon_config&)>;

/// SIGHUP: reads the configuration again (the file, its conf.d and the environment) and applies
/// the keys a running daemon can take (`restart = no` in the schema: `log.level`,
/// `node.capacity`, `node.park_timeout`, `node.answer_timeout`) through `apply`; every other
/// changed key is named with a warning, as it takes effect at the next start. A configuration
/// with errors changes nothing. Values are not logged: some are secrets.
void reload_configuration(const std::filesystem::path& file, config::daemon_config& running,
                          const apply_live_settings& apply) {
  spdlog::info("SIGHUP: reading the configuration {} again", file.string());
  auto result = config::load_daemon_config(file, config::process_environment());
  for (const auto& problem : result.problems) {
    if (problem.level == config::severity::error)
      spdlog::error("SIGHUP: {}", config::render(problem));
    else
      spdlog::warn("SIGHUP: {}", config::render(problem));
  }
  if (!result.config) {
    spdlog::error("SIGHUP: the configuration has errors (above); nothing was changed");
    return;
  }
  auto changed = config::changed_keys(running, *result.config);
  if (changed.empty()) {
    spdlog::info("SIGHUP: no key changed");
    return;
  }
  for (const auto& name : changed) {
    const auto* spec = config::find_key(name);
    if (spec->restart) {
      spdlog::warn("SIGHUP: {} changed; it takes effect when callgridd restarts", name);
      continue;
    }
    spec->store(running, spec->load(*result.config));
    spdlog::warn("SIGHUP: {} changed; applied", name);
  }
  apply(running);
}

/// Waits for SIGINT or SIGTERM and returns it; a SIGHUP meanwhile reloads the configuration.
int wait_for_stop_signal(const std::filesystem::path& config_file, config::daemon_config& running,
                         const apply_live_settings& apply) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  for (;;) {
    int signal = 0;
    sigwait(&set, &signal);
    if (signal != SIGHUP)
      return signal;
    reload_configuration(config_file, running, apply);
  }
}

/// SIGTERM drains the node before it stops (design.md section 6): FreeSWITCH stops taking
/// inbound calls, the calls up may finish until `deadline` (then they are hung up with
/// SYSTEM_SHUTDOWN, each with its record), and the record spool is flushed. Progress is logged
/// every 5 s; a second SIGTERM or a SIGINT stops at once.
void drain_before_stop(caf::actor_system& system, const actors::node_supervisor_actor& supervisor,
                       std::chrono::milliseconds deadline) {
  using clock = std::chrono::system_clock;
  auto deadline_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       (clock::now() + deadline).time_since_epoch())
                       .count();
  spdlog::info("received SIGTERM; draining this node (deadline in {}; send SIGTERM again or "
               "SIGINT to stop at once)",
               config::format_duration(deadline));
  caf::anon_send(supervisor, actors::start_drain{deadline_ms, "SIGTERM"});
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  caf::scoped_actor self{system};
  auto last_report = std::chrono::steady_clock::now();
  for (;;) {
    timespec wait{0, 250'000'000};
    if (sigtimedwait(&set, nullptr, &wait) > 0) {
      spdlog::warn("second stop signal: stopping without waiting for the drain");
      return;
    }
    std::optional<actors::node_load> load;
    self->request(supervisor, 5s, actors::load_query{})
      .receive([&](actors::node_load& reply) { load = reply; },
               [&](const caf::error& err) {
                 spdlog::warn("drain: the node supervisor did not answer: {}",
                              actors::render_error(err));
               });
    if (!load)
      return;
    if (load->phase == actors::drain_phase::drained) {
      spdlog::info("drain: done{}", load->hung_up_at_deadline > 0
                                      ? " (" + std::to_string(load->hung_up_at_deadline)
                                          + " calls hung up at the deadline)"
                                      : std::string{});
      return;
    }
    if (std::chrono::steady_clock::now() - last_report >= 5s) {
      last_report = std::chrono::steady_clock::now();
      spdlog::info("drain: {} calls up, {} records pending, phase {}", load->live_calls,
                   load->spool_depth, actors::to_string(load->phase));
    }
  }
}

} // namespace

void block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

namespace {

/// Everything role `node` runs: catalog, Redis hot state, record writer, node supervisor with its
/// ESL link, the outbound listener. Built by `start`, torn down by `stop` in reverse order.
struct node_stack {
  std::unique_ptr<persistence::catalog_watcher> watcher;
  std::unique_ptr<persistence::hot_state> hot;
  std::optional<actors::record_writer_actor> writer;
  std::optional<actors::node_supervisor_actor> supervisor;
  std::shared_ptr<esl::outbound_server> outbound;
  /// Joins the coordinator and sends the heartbeats; absent on a standalone node.
  std::optional<cluster::membership_client_actor> membership;
  std::mutex supervisor_mutex;
  std::optional<actors::node_supervisor_actor> catalog_target;

  /// Starts the node's parts; false (after logging what and which key) when one cannot start.
  bool start(const config::daemon_config& cfg, const std::string& conninfo,
             boost::asio::io_context& io, caf::actor_system& system,
             actors::metrics_registry& metrics);

  /// Readiness: the names of what is not reachable ("" when ready).
  [[nodiscard]] std::string missing(const actors::metric_gauge& esl_up) const {
    std::string out;
    if (esl_up.value() < 1)
      out += "esl ";
    if (!watcher->status().connected)
      out += "postgresql ";
    if (hot && !hot->stats().redis.connected)
      out += "redis ";
    return out;
  }

  /// Stops taking calls, ends the supervisor, flushes the record spool (bounded) and stops the
  /// catalog and Redis clients.
  void stop(caf::actor_system& system, const config::daemon_config& cfg);
};

bool node_stack::start(const config::daemon_config& cfg, const std::string& conninfo,
                       boost::asio::io_context& io, caf::actor_system& system,
                       actors::metrics_registry& metrics) {
  // Catalog: loaded before anything takes calls; the node refuses to start without it.
  auto started = persistence::catalog_watcher::start(
    {.conninfo = cfg.database.conninfo, .connect_timeout = cfg.database.connect_timeout},
    [this, language = cfg.ivr.default_language](
      std::shared_ptr<const persistence::catalog_snapshot> snapshot) {
      auto catalog = build_catalog(*snapshot, language);
      std::lock_guard guard{supervisor_mutex};
      if (catalog_target)
        caf::anon_send(*catalog_target, actors::catalog_update{catalog});
    },
    [](const caf::error& err) {
      spdlog::warn("catalog watcher: {}", persistence::render_error(err));
    });
  if (!started) {
    spdlog::error("loading the catalog failed: {}", persistence::render_error(started.error()));
    return false;
  }
  watcher = std::move(*started);
  auto initial_catalog = build_catalog(*watcher->current(), cfg.ivr.default_language);
  register_catalog_metrics(metrics, *watcher);

  // Redis hot state: lookups for the IVR. Optional by configuration.
  actors::hot_data_lookup lookup;
  if (cfg.redis.enabled) {
    persistence::hot_state_options options;
    options.redis.host = cfg.redis.host;
    options.redis.port = cfg.redis.port;
    options.redis.command_timeout = cfg.redis.timeout;
    hot = std::make_unique<persistence::hot_state>(io, std::move(options));
    hot->start();
    lookup = [client = &hot->client(), prefix = std::string{"cg:"}](
               const std::string& key, std::chrono::milliseconds,
               std::function<void(std::optional<std::string>, bool)> done) {
      client->command({"GET", prefix + key},
                      [done = std::move(done)](caf::expected<persistence::redis_reply> reply) {
                        if (!reply) {
                          done(std::nullopt, true);
                          return;
                        }
                        if (reply->is_nil() || reply->type != persistence::redis_reply_type::string)
                          done(std::nullopt, false);
                        else
                          done(std::move(reply->text), false);
                      });
    };
    register_hot_state_metrics(metrics, *hot);
  }

  // The session journal notes every live call in Redis; an entry is dropped only once the
  // call's record is durable in the spool, so a crash in between cannot lose the record.
  actors::session_journal journal;
  if (hot)
    journal = redis_session_journal(hot->client(), cfg.node.name, std::chrono::hours{12});

  // Record writer: the spool first, so that no call can end before its record has a home.
  actors::record_writer_options writer_options;
  writer_options.on_durable = journal.drop;
  writer_options.spool_dir = cfg.records.spool_dir;
  writer_options.batcher.conninfo = conninfo;
  writer_options.batcher.batch_size = static_cast<std::size_t>(cfg.records.batch_size);
  writer_options.batcher.max_delay = cfg.records.max_delay;
  writer_options.append_interval = cfg.records.group_window;
  writer_options.batcher.retry_max = cfg.records.retry_max;
  writer_options.ship_connections = static_cast<std::size_t>(cfg.records.ship_connections);
  writer_options.log_warning = [](const std::string& line) { spdlog::warn("records: {}", line); };
  auto spawned_writer = actors::spawn_record_writer(system, std::move(writer_options), metrics);
  if (!spawned_writer) {
    spdlog::error("opening the record spool {} failed: {} (records.spool_dir)",
                  cfg.records.spool_dir, actors::render_error(spawned_writer.error()));
    return false;
  }
  writer = *spawned_writer;

  // The node supervisor and its ESL link.
  actors::node_supervisor_options node_options;
  node_options.node_name = cfg.node.name;
  node_options.capacity = cfg.node.capacity;
  node_options.park_timeout
    = std::chrono::duration_cast<std::chrono::seconds>(cfg.node.park_timeout);
  node_options.answer_timeout
    = std::chrono::duration_cast<std::chrono::seconds>(cfg.node.answer_timeout);
  node_options.esl.host = cfg.esl.host;
  node_options.esl.port = cfg.esl.port;
  node_options.esl.password = cfg.esl.password;
  node_options.esl.connect_timeout = cfg.esl.connect_timeout;
  node_options.esl.backoff_max = cfg.esl.reconnect_max;
  node_options.esl.format = cfg.esl.events == config::event_format::json
                              ? esl::event_format::json
                              : esl::event_format::plain;
  node_options.io = &io;
  node_options.records = *writer;
  node_options.metrics = &metrics;
  node_options.lookup = lookup;
  node_options.catalog = initial_catalog;
  node_options.journal = journal;
  supervisor = actors::spawn_node_supervisor(system, std::move(node_options));
  {
    std::lock_guard guard{supervisor_mutex};
    catalog_target = supervisor;
  }

  // Outbound sockets (FreeSWITCH's `socket` application) become call actors too.
  if (cfg.outbound.enabled) {
    esl::outbound_options options;
    options.listen_address = cfg.outbound.listen;
    options.port = cfg.outbound.port;
    options.linger = cfg.outbound.linger;
    auto server = esl::outbound_server::listen(
      io, options,
      [target = *supervisor](std::shared_ptr<esl::outbound_session> session) {
        caf::anon_send(target, actors::outbound_call{std::move(session)});
      },
      [](const caf::error& err) {
        spdlog::warn("outbound socket handshake failed: {}", actors::render_error(err));
      });
    if (!server) {
      spdlog::error("outbound ESL listener on {}:{} failed: {} (outbound.listen, outbound.port)",
                    cfg.outbound.listen, cfg.outbound.port, actors::render_error(server.error()));
    } else {
      outbound = *server;
      spdlog::info("outbound ESL listener on {}:{}", cfg.outbound.listen, outbound->port());
    }
  }
  // Cluster membership: join the leading coordinator and report the load every heartbeat.
  if (!cfg.cluster.coordinators.empty()) {
    cluster::membership_client_options options;
    options.node = cfg.node.name;
    options.sip_uri = cfg.node.sip_uri;
    options.capacity = cfg.node.capacity;
    options.version = callgrid_version;
    options.coordinators = cfg.cluster.coordinators;
    options.conninfo = cfg.database.conninfo;
    options.heartbeat_interval = cfg.cluster.heartbeat_interval;
    options.tls = link_tls_of(cfg.cluster).enabled();
    options.supervisor = caf::actor_cast<cluster::node_load_source_actor>(*supervisor);
    membership = cluster::spawn_membership_client(system, std::move(options));
  } else {
    spdlog::info("cluster.coordinators is empty: this node runs standalone");
  }
  spdlog::info("node '{}' running (ESL {}:{})", cfg.node.name, cfg.esl.host, cfg.esl.port);
  return true;
}

void node_stack::stop(caf::actor_system& system, const config::daemon_config& cfg) {
  if (outbound)
    outbound->stop();
  if (membership) {
    // Tell the coordinator this node leaves, so it does not wait for the failure detector.
    caf::scoped_actor self{system};
    self->request(*membership, 3s, caf::leave_atom_v)
      .receive([](caf::ok_atom) { spdlog::info("left the cluster"); },
               [](const caf::error& err) {
                 spdlog::warn("leaving the cluster: {}", cluster::render_error(err));
               });
    caf::anon_send_exit(*membership, caf::exit_reason::user_shutdown);
  }
  {
    std::lock_guard guard{supervisor_mutex};
    catalog_target.reset();
  }
  if (supervisor)
    caf::anon_send_exit(*supervisor, caf::exit_reason::user_shutdown);
  if (writer) {
    caf::scoped_actor self{system};
    self->request(*writer, 15s, caf::flush_atom_v)
      .receive(
        [&](uint64_t pending) {
          if (pending == 0)
            spdlog::info("all call records are stored in PostgreSQL");
          else
            spdlog::warn("{} call records are still in the spool {}; they will be shipped at the "
                         "next start",
                         pending, cfg.records.spool_dir);
        },
        [&](const caf::error& err) {
          spdlog::warn("flushing the record spool did not finish: {}; the records stay in the "
                       "spool for the next start",
                       actors::render_error(err));
        });
    caf::anon_send_exit(*writer, caf::exit_reason::user_shutdown);
  }
  if (watcher)
    watcher->stop();
  if (hot)
    hot->stop();
}

/// Everything role `coordinator` runs: the registry (published for node daemons), the leader
/// elector and the edge writer.
struct coordinator_stack {
  std::optional<cluster::registry_actor> registry;
  std::optional<cluster::leader_elector_actor> elector;
  std::optional<cluster::dispatcher_sink_actor> edge;
  std::string admin_token;

  bool start(const config::daemon_config& cfg, caf::actor_system& system,
             actors::metrics_registry& metrics);
  void stop();
};

/// Reads the admin API's token file: the first line, trimmed. Empty with a logged reason when
/// the file cannot be read or is empty.
std::optional<std::string> read_token_file(const std::string& path) {
  std::ifstream in{path};
  if (!in) {
    spdlog::error("cannot read the admin token file '{}' (cluster.admin_token_file)", path);
    return std::nullopt;
  }
  std::string token;
  std::getline(in, token);
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())) != 0)
    token.pop_back();
  if (token.size() < 16) {
    spdlog::error("the admin token in '{}' is {} (cluster.admin_token_file): write at least 16 "
                  "random characters, e.g. with: openssl rand -hex 32 > {}",
                  path, token.empty() ? "empty" : "shorter than 16 characters", path);
    return std::nullopt;
  }
  return token;
}

bool coordinator_stack::start(const config::daemon_config& cfg, caf::actor_system& system,
                              actors::metrics_registry& metrics) {
  if (!cfg.cluster.admin_token_file.empty()) {
    auto token = read_token_file(cfg.cluster.admin_token_file);
    if (!token)
      return false;
    admin_token = std::move(*token);
  } else {
    spdlog::warn("the admin API is off: set cluster.admin_token_file to use callgridctl node");
  }
  if (cfg.edge.enabled)
    edge = spawn_edge_writer(system, cfg.edge, metrics);
  else
    spdlog::info("edge.enabled is false: no Kamailio dispatcher is kept up to date");
  auto address = cfg.cluster.listen + ":" + std::to_string(cfg.cluster.port);
  cluster::registry_options options;
  options.settings.heartbeat_interval = cfg.cluster.heartbeat_interval;
  options.settings.suspect_after = cfg.cluster.suspect_after;
  options.settings.down_after = cfg.cluster.down_after;
  options.address = address;
  if (edge)
    options.dispatcher = *edge;
  options.metrics = &metrics;
  registry = cluster::spawn_registry(system, std::move(options));
  const bool tls = link_tls_of(cfg.cluster).enabled();
  auto port = cluster::publish_registry(system, *registry, cfg.cluster.port, cfg.cluster.listen,
                                        tls);
  if (!port) {
    spdlog::error("the coordinator cannot listen on {}: {} (cluster.listen, cluster.port)",
                  address, cluster::render_error(port.error()));
    return false;
  }
  cluster::leader_elector_options elector_options;
  elector_options.conninfo = cfg.database.conninfo;
  elector_options.address = address;
  elector_options.holder = cfg.node.name;
  elector_options.registry = *registry;
  elector = cluster::spawn_leader_elector(system, std::move(elector_options));
  spdlog::info("coordinator listening for node daemons on {} ({}); competing for the leader "
               "lock",
               address,
               tls ? "TLS: peers need a certificate from " + cfg.cluster.tls_ca_file
                   : std::string{"plain TCP"});
  return true;
}

void coordinator_stack::stop() {
  if (registry)
    caf::anon_send_exit(*registry, caf::exit_reason::user_shutdown);
  if (elector)
    caf::anon_send_exit(*elector, caf::exit_reason::user_shutdown);
  if (edge)
    caf::anon_send_exit(*edge, caf::exit_reason::user_shutdown);
}

/// glibc gives freed heap top back to the kernel at 128 KiB and grows it by exactly what is
/// asked: under call load the daemon's heap then shrinks and regrows all the time (`sysmalloc`
/// and `madvise` were ~18 % of its CPU samples, bench/README.md "A second perf round"). Keeping
/// up to 64 MiB and growing in 16 MiB steps costs at most that much RSS after a burst.
void tune_allocator() {
  mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
  mallopt(M_TOP_PAD, 16 * 1024 * 1024);
}

} // namespace

int run_daemon(const config::daemon_config& cfg, const std::filesystem::path& config_file) {
  tune_allocator();
  const bool runs_node = cfg.role != config::daemon_role::coordinator;
  const bool runs_coordinator = cfg.role != config::daemon_role::node;
  if (cfg.database.conninfo.empty()) {
    spdlog::error("database.conninfo is empty: callgridd needs PostgreSQL (catalog, call records, "
                  "cluster admin state); set it in the config file or "
                  "CALLGRID_DATABASE_CONNINFO");
    return 1;
  }
  auto conninfo = with_connect_timeout(cfg.database.conninfo, cfg.database.connect_timeout);
  if (auto status = persistence::schema_migrator::check(conninfo); !status) {
    spdlog::error("database schema check failed: {}", persistence::render_error(status.error()));
    return 1;
  }

  actors::metrics_registry metrics;
  auto& esl_up = metrics.gauge("callgrid_esl_up", "1 while the inbound ESL link is ready");
  auto& prompts_missing
    = metrics.gauge(actors::prompts_missing_metric, actors::prompts_missing_help);
  metrics.gauge("callgrid_build_info", "Always 1; the labels say which build runs",
                {{"version", callgrid_version}, {"role", std::string{config::to_string(cfg.role)}}})
    .set(1);

  // Exactly one thread runs it (io_thread). The hint tells Asio so: work the I/O thread posts
  // to itself then goes to a thread-local queue instead of interrupting its own epoll_wait
  // (an epoll_ctl and one more epoll_wait each time). Other threads post as before.
  boost::asio::io_context io{1};
  auto work = boost::asio::make_work_guard(io);
  // With `scheduler.policy = "io"` the actors run on io_thread too, after each handler that
  // made them ready (run_io); after it stops they go on on a thread of their own until the
  // actor system (declared below, destroyed first) ends.
  actors::io_thread_scheduler io_scheduler{io};
  std::thread io_thread{[&io_scheduler] {
    pthread_setname_np(pthread_self(), "cg.io"); // ESL, Redis and HTTP; named for top -H
    io_scheduler.run_io();
  }};
  auto stop_io = [&] {
    work.reset();
    io.stop();
    if (io_thread.joinable())
      io_thread.join();
    io_scheduler.leave_io();
  };

  const auto tls = link_tls_of(cfg.cluster);
  const bool joins_cluster = runs_coordinator || !cfg.cluster.coordinators.empty();
  if (tls.enabled() && joins_cluster) {
    if (auto err = cluster::check_link_tls(tls)) {
      spdlog::error("TLS on the cluster link: {}", cluster::render_error(err));
      stop_io();
      return 1;
    }
  }
  daemon_system_config caf_config{cfg.scheduler, io_scheduler,
                                  joins_cluster ? tls : cluster::link_tls{}};
  caf::actor_system system{caf_config};
  std::optional<caf::actor> tls_reporter;
  if (tls.enabled() && joins_cluster)
    tls_reporter = cluster::spawn_tls_failure_reporter(
      system, runs_coordinator ? std::string{"coordinator"} : std::string{"node"});
  auto stop_tls_reporter = [&] {
    if (tls_reporter)
      caf::anon_send_exit(*tls_reporter, caf::exit_reason::user_shutdown);
  };

  coordinator_stack coordinator;
  if (runs_coordinator && !coordinator.start(cfg, system, metrics)) {
    coordinator.stop();
    stop_tls_reporter();
    stop_io();
    return 1;
  }
  node_stack node;
  if (runs_node && !node.start(cfg, conninfo, io, system, metrics)) {
    node.stop(system, cfg);
    coordinator.stop();
    stop_tls_reporter();
    stop_io();
    return 1;
  }

  // /metrics, /healthz, /readyz and, on a coordinator, the admin API under /v1/.
  admin_api_options admin;
  admin.token = coordinator.admin_token;
  admin.default_deadline = cfg.cluster.drain_deadline;
  admin.system = &system;
  if (coordinator.registry)
    admin.registry = *coordinator.registry;
  // POST /v1/calls on a node (call_api.hpp), guarded by the same admin token.
  call_api_options calls;
  calls.system = &system;
  if (node.supervisor) {
    calls.supervisor = *node.supervisor;
    calls.token = coordinator.admin_token;
    if (calls.token.empty() && !cfg.cluster.admin_token_file.empty())
      calls.token = read_token_file(cfg.cluster.admin_token_file).value_or("");
  }
  auto http = actors::http_endpoint::listen(
    io, cfg.http.listen, cfg.http.port,
    [&](const actors::http_request& request, actors::http_reply reply) {
      const auto& path = request.path;
      if (path == "/v1/calls" && runs_node) {
        serve_call_request(calls, request, std::move(reply));
        return;
      }
      if (path.starts_with("/v1/")) {
        if (!runs_coordinator || admin.token.empty())
          reply({404, "text/plain; charset=utf-8",
                 "no admin API here: it runs on a coordinator with cluster.admin_token_file "
                 "set\n"});
        else
          serve_admin_request(admin, request, std::move(reply));
        return;
      }
      if (request.method != "GET" && request.method != "HEAD") {
        reply({405, "text/plain; charset=utf-8", "only GET and HEAD are served here\n"});
        return;
      }
      if (path == "/metrics") {
        reply({200, "text/plain; version=0.0.4; charset=utf-8", metrics.render()});
      } else if (path == "/healthz") {
        reply({200, "text/plain; charset=utf-8", "ok\n"});
      } else if (path == "/readyz") {
        auto missing = runs_node ? node.missing(esl_up) : std::string{};
        if (missing.empty())
          reply({200, "text/plain; charset=utf-8",
                 prompts_missing.value() > 0
                   ? "ready\nprompts missing: "
                       + std::to_string(static_cast<long>(prompts_missing.value()))
                       + " (see the log and callgrid_prompts_missing)\n"
                   : std::string{"ready\n"}});
        else
          reply({503, "text/plain; charset=utf-8", "not ready: " + missing + "\n"});
      } else {
        reply({404, "text/plain; charset=utf-8",
               "not found; try /metrics, /healthz, /readyz or the admin API under /v1/\n"});
      }
    });
  if (!http) {
    spdlog::error("HTTP listener failed: {} (http.listen, http.port)",
                  actors::render_error(http.error()));
  } else {
    spdlog::info("serving /metrics, /healthz and /readyz{} on {}:{}",
                 admin.token.empty() ? "" : " and the admin API", cfg.http.listen,
                 (*http)->port());
  }

  spdlog::info("callgridd running as {}", config::to_string(cfg.role));
  auto running = cfg; // what SIGHUP compares a new reading with, and changes
  auto apply_live = [&](const config::daemon_config& live) {
    set_log_level(live.log.level);
    if (node.supervisor) {
      using std::chrono::duration_cast;
      using std::chrono::seconds;
      caf::anon_send(*node.supervisor,
                     actors::node_settings_update{
                       live.node.capacity, duration_cast<seconds>(live.node.park_timeout),
                       duration_cast<seconds>(live.node.answer_timeout)});
    }
  };
  int signal = wait_for_stop_signal(config_file, running, apply_live);
  if (signal == SIGTERM && runs_node && node.supervisor)
    drain_before_stop(system, *node.supervisor, cfg.cluster.drain_deadline);
  spdlog::info("stopping: no new calls, flushing call records");
  if (http)
    (*http)->stop();
  if (runs_node)
    node.stop(system, cfg);
  coordinator.stop();
  stop_tls_reporter();
  stop_io();
  return 0;
}

} // namespace callgrid::daemon

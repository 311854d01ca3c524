#include "daemon.hpp"

#include <csignal>
#include <chrono>
#include <optional>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/engine_catalog.hpp"
#include "actors/errc.hpp"
#include "actors/http_endpoint.hpp"
#include "actors/metrics_registry.hpp"
#include "actors/node_supervisor.hpp"
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

/// The daemon's CAF settings: the scheduler pinned as configured (platform-notes.md).
class daemon_system_config : public caf::actor_system_config {
public:
  explicit daemon_system_config(const config::scheduler_settings& scheduler) {
    set("scheduler.max-threads", static_cast<size_t>(scheduler.threads));
    if (scheduler.policy == config::scheduler_policy::sharing)
      set("scheduler.policy", caf::atom("sharing"));
    else
      set("scheduler.policy", caf::atom("stealing"));
    set("logger.verbosity", caf::atom("quiet"));
  }
};

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
build_catalog(const persistence::catalog_snapshot& snapshot) {
  std::vector<std::string> problems;
  auto catalog = actors::build_engine_catalog(snapshot, problems);
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

/// The node's session journal in Redis: `cg:session:<uuid>` holds a call's snapshot (expiring
/// after `ttl`, longer than any call), `cg:node_sessions:<node>` the set of this node's calls.
/// Best-effort like every session snapshot (docs/hot-state.md): a failed write is counted by the
/// client and costs, at worst, the record of a call that ends while callgridd is down.
actors::session_journal redis_session_journal(persistence::redis_client& client,
                                              const std::string& node,
                                              std::chrono::milliseconds ttl) {
  auto set_key = "cg:node_sessions:" + node;
  auto ttl_text = std::to_string(ttl.count());
  actors::session_journal journal;
  journal.save = [&client, set_key, ttl_text](const std::string& uuid, std::string snapshot) {
    client.command({"SET", "cg:session:" + uuid, std::move(snapshot), "PX", ttl_text}, ignore_reply);
    client.command({"SADD", set_key, uuid}, ignore_reply);
  };
  journal.drop = [&client, set_key](const std::string& uuid) {
    client.command({"DEL", "cg:session:" + uuid}, ignore_reply);
    client.command({"SREM", set_key, uuid}, ignore_reply);
  };
  journal.list = [&client, set_key](
                   std::function<void(std::vector<std::pair<std::string, std::string>>)> done) {
    client.command({"SMEMBERS", set_key}, [&client, set_key, done = std::move(done)](
                                            caf::expected<persistence::redis_reply> members) {
      if (!members || members->type != persistence::redis_reply_type::array
          || members->elements.empty()) {
        done({});
        return;
      }
      std::vector<std::string> uuids;
      std::vector<std::string> mget{"MGET"};
      for (const auto& m : members->elements) {
        uuids.push_back(m.text);
        mget.push_back("cg:session:" + m.text);
      }
      client.command(std::move(mget), [&client, set_key, uuids, done](
                                        caf::expected<persistence::redis_reply> values) {
        std::vector<std::pair<std::string, std::string>> entries;
        if (values && values->type == persistence::redis_reply_type::array) {
          for (std::size_t i = 0; i < uuids.size() && i < values->elements.size(); ++i) {
            if (values->elements[i].is_nil())
              client.command({"SREM", set_key, uuids[i]}, ignore_reply); // expired snapshot
            else
              entries.emplace_back(uuids[i], values->elements[i].text);
          }
        }
        done(std::move(entries));
      });
    });
  };
  return journal;
}

int wait_for_stop_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int signal = 0;
  sigwait(&set, &signal);
  return signal;
}

} // namespace

void block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int run_node(const config::daemon_config& cfg) {
  if (cfg.role == config::daemon_role::coordinator) {
    spdlog::error("role 'coordinator' is not available in this build yet (the cluster registry "
                  "is issue 6); set role = \"node\" or \"all\"");
    return 1;
  }
  if (cfg.database.conninfo.empty()) {
    spdlog::error("database.conninfo is empty: a node needs PostgreSQL for its catalog and call "
                  "records; set it in the config file or CALLGRID_DATABASE_CONNINFO");
    return 1;
  }
  auto conninfo = with_connect_timeout(cfg.database.conninfo, cfg.database.connect_timeout);
  if (auto status = persistence::schema_migrator::check(conninfo); !status) {
    spdlog::error("database schema check failed: {}", persistence::render_error(status.error()));
    return 1;
  }

  actors::metrics_registry metrics;
  auto& esl_up = metrics.gauge("callgrid_esl_up", "1 while the inbound ESL link is ready");
  metrics.gauge("callgrid_build_info", "Always 1; the labels say which build runs",
                {{"version", "0.1.0"}, {"role", std::string{config::to_string(cfg.role)}}})
    .set(1);

  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread io_thread{[&io] { io.run(); }};
  auto stop_io = [&] {
    work.reset();
    io.stop();
    if (io_thread.joinable())
      io_thread.join();
  };

  // Catalog: loaded before anything takes calls; the daemon refuses to start without it.
  daemon_system_config caf_config{cfg.scheduler};
  caf::actor_system system{caf_config};
  std::optional<actors::node_supervisor_actor> supervisor_handle;
  std::mutex supervisor_mutex;
  auto watcher = persistence::catalog_watcher::start(
    {.conninfo = cfg.database.conninfo, .connect_timeout = cfg.database.connect_timeout},
    [&](std::shared_ptr<const persistence::catalog_snapshot> snapshot) {
      auto catalog = build_catalog(*snapshot);
      std::lock_guard guard{supervisor_mutex};
      if (supervisor_handle)
        caf::anon_send(*supervisor_handle, actors::catalog_update{catalog});
    },
    [](const caf::error& err) {
      spdlog::warn("catalog watcher: {}", persistence::render_error(err));
    });
  if (!watcher) {
    spdlog::error("loading the catalog failed: {}", persistence::render_error(watcher.error()));
    stop_io();
    return 1;
  }
  auto initial_catalog = build_catalog(*(*watcher)->current());
  register_catalog_metrics(metrics, *watcher->get());

  // Redis hot state: lookups for the IVR. Optional by configuration.
  std::unique_ptr<persistence::hot_state> hot;
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

  // Record writer: the spool first, so that no call can end before its record has a home.
  actors::record_writer_options writer_options;
  writer_options.spool_dir = cfg.records.spool_dir;
  writer_options.batcher.conninfo = conninfo;
  writer_options.batcher.batch_size = static_cast<std::size_t>(cfg.records.batch_size);
  writer_options.batcher.max_delay = cfg.records.max_delay;
  writer_options.batcher.retry_max = cfg.records.retry_max;
  writer_options.log_warning = [](const std::string& line) { spdlog::warn("records: {}", line); };
  auto writer = actors::spawn_record_writer(system, std::move(writer_options), metrics);
  if (!writer) {
    spdlog::error("opening the record spool {} failed: {} (records.spool_dir)",
                  cfg.records.spool_dir, actors::render_error(writer.error()));
    (*watcher)->stop();
    if (hot)
      hot->stop();
    stop_io();
    return 1;
  }

  // The node supervisor and its ESL link.
  actors::node_supervisor_options node_options;
  node_options.node_name = cfg.node.name;
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
  if (hot)
    node_options.journal = redis_session_journal(hot->client(), cfg.node.name,
                                                 std::chrono::hours{12});
  auto supervisor = actors::spawn_node_supervisor(system, std::move(node_options));
  {
    std::lock_guard guard{supervisor_mutex};
    supervisor_handle = supervisor;
  }

  // Outbound sockets (FreeSWITCH's `socket` application) become call actors too.
  std::shared_ptr<esl::outbound_server> outbound;
  if (cfg.outbound.enabled) {
    esl::outbound_options options;
    options.listen_address = cfg.outbound.listen;
    options.port = cfg.outbound.port;
    options.linger = cfg.outbound.linger;
    auto server = esl::outbound_server::listen(
      io, options,
      [supervisor](std::shared_ptr<esl::outbound_session> session) {
        caf::anon_send(supervisor, actors::outbound_call{std::move(session)});
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

  // /metrics, /healthz, /readyz.
  auto readiness = [&esl_up, w = watcher->get(), h = hot.get()] {
    std::string missing;
    if (esl_up.value() < 1)
      missing += "esl ";
    if (!w->status().connected)
      missing += "postgresql ";
    if (h && !h->stats().redis.connected)
      missing += "redis ";
    return missing;
  };
  auto http = actors::http_endpoint::listen(
    io, cfg.http.listen, cfg.http.port, [&metrics, readiness](const std::string& path) {
      if (path == "/metrics")
        return actors::http_answer{200, "text/plain; version=0.0.4; charset=utf-8",
                                   metrics.render()};
      if (path == "/healthz")
        return actors::http_answer{200, "text/plain; charset=utf-8", "ok\n"};
      if (path == "/readyz") {
        auto missing = readiness();
        if (missing.empty())
          return actors::http_answer{200, "text/plain; charset=utf-8", "ready\n"};
        return actors::http_answer{503, "text/plain; charset=utf-8", "not ready: " + missing + "\n"};
      }
      return actors::http_answer{404, "text/plain; charset=utf-8",
                                 "not found; try /metrics, /healthz or /readyz\n"};
    });
  if (!http) {
    spdlog::error("HTTP listener failed: {} (http.listen, http.port)",
                  actors::render_error(http.error()));
  } else {
    spdlog::info("serving /metrics, /healthz and /readyz on {}:{}", cfg.http.listen,
                 (*http)->port());
  }

  spdlog::info("callgridd node '{}' running (ESL {}:{})", cfg.node.name, cfg.esl.host,
               cfg.esl.port);
  int signal = wait_for_stop_signal();
  spdlog::info("received {}; stopping: no new calls, flushing call records",
               signal == SIGTERM ? "SIGTERM" : "SIGINT");

  if (outbound)
    outbound->stop();
  if (http)
    (*http)->stop();
  {
    std::lock_guard guard{supervisor_mutex};
    supervisor_handle.reset();
  }
  caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
  int exit_code = 0;
  {
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
  }
  caf::anon_send_exit(*writer, caf::exit_reason::user_shutdown);
  (*watcher)->stop();
  if (hot)
    hot->stop();
  stop_io();
  return exit_code;
}

} // namespace callgrid::daemon

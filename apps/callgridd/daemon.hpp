#pragma once

#include <filesystem>

#include "config/daemon_config.hpp"

namespace callgrid::daemon {

/// Runs callgridd in its configured role until SIGINT or SIGTERM. Role `node` (and `all`) checks
/// the schema, loads the catalog, opens the record spool, connects Redis and the ESL link,
/// accepts outbound sockets; role `coordinator` (and `all`) runs the cluster registry, the leader
/// elector and the edge writer and serves the admin API. Every role serves /metrics, /healthz and
/// /readyz. SIGTERM drains a node first (calls finish until `cluster.drain_deadline`); SIGINT
/// or a second SIGTERM stops at once; either way new calls stop and the record spool is
/// flushed. SIGHUP reads `config_file` (with conf.d and the environment) again, applies the
/// keys marked `restart = no` (log level, node capacity and timeouts) and names every other
/// changed key. Returns the process exit code: 0 after a
/// clean stop, 1 when something needed at start failed (the message says what and which key to
/// fix). Call from main's thread with SIGINT, SIGTERM and SIGHUP blocked in every thread
/// (`block_stop_signals`).
[[nodiscard]] int run_daemon(const config::daemon_config& config,
                             const std::filesystem::path& config_file);

/// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (and the threads it starts later) so
/// that `run_daemon` can wait for them with sigwait.
void block_stop_signals();

} // namespace callgrid::daemon

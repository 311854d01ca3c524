#pragma once

#include "config/daemon_config.hpp"

namespace callgrid::daemon {

/// Runs callgridd in role `node` or `all` until SIGINT or SIGTERM: checks the schema, loads the
/// catalog, opens the record spool, connects Redis and the ESL link, serves /metrics, /healthz
/// and /readyz, accepts outbound sockets, and on a signal stops taking new calls and flushes the
/// record spool. Returns the process exit code: 0 after a clean stop, 1 when something needed
/// at start failed (the message says what and which key to fix). Call from main's thread with
/// SIGINT and SIGTERM blocked in every thread (`block_stop_signals`).
[[nodiscard]] int run_node(const config::daemon_config& config);

/// Blocks SIGINT and SIGTERM in the calling thread (and the threads it starts later) so that
/// `run_node` can wait for them with sigwait.
void block_stop_signals();

} // namespace callgrid::daemon

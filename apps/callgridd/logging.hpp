#pragma once

#include "config/daemon_config.hpp"

namespace callgrid::daemon {

/// Sets spdlog's default logger for the daemon: stderr, the configured level, and either text
/// lines for a terminal or JSON lines (one object per line, properly escaped, with `call_uuid`
/// taken from a leading "call <uuid>: " of the message) for systemd's journal. Call once from
/// main before any other thread logs.
void setup_logging(config::log_level level, config::log_format format);

/// Changes the level of the logger `setup_logging` made (a SIGHUP with a new `log.level`).
void set_log_level(config::log_level level);

} // namespace callgrid::daemon

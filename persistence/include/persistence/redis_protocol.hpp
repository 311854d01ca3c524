#pragma once

#include <span>
#include <string>

namespace callgrid::persistence {

/// Appends one command in Redis' wire protocol (RESP: an array of bulk strings,
/// "*<n>\r\n" then "$<length>\r\n<bytes>\r\n" per argument) to `out`. Arguments are
/// binary-safe. The same bytes as hiredis' `redisFormatCommandArgv`, in one allocation at most.
void append_redis_command(std::string& out, std::span<const std::string> args);

} // namespace callgrid::persistence

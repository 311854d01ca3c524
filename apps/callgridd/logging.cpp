#include "logging.hpp"

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace callgrid::daemon {

namespace {

void append_json_string(spdlog::memory_buf_t& out, std::string_view text) {
  out.push_back('"');
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out.append(std::string_view{"\\\""});
        break;
      case '\\':
        out.append(std::string_view{"\\\\"});
        break;
      case '\n':
        out.append(std::string_view{"\\n"});
        break;
      case '\r':
        out.append(std::string_view{"\\r"});
        break;
      case '\t':
        out.append(std::string_view{"\\t"});
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out.append(std::string_view{buf});
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

/// {"ts":"2026-11-26T08:00:00.123456Z","level":"info","call_uuid":"...","msg":"..."}
class json_formatter final : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    auto micros = duration_cast<microseconds>(msg.time.time_since_epoch()).count();
    std::time_t seconds = static_cast<std::time_t>(micros / 1'000'000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char stamp[96];
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ",
                  utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                  utc.tm_sec, static_cast<long long>(micros % 1'000'000));
    std::string_view text{msg.payload.data(), msg.payload.size()};
    dest.append(std::string_view{"{\"ts\":\""});
    dest.append(std::string_view{stamp});
    dest.append(std::string_view{"\",\"level\":"});
    auto level = spdlog::level::to_string_view(msg.level);
    append_json_string(dest, std::string_view{level.data(), level.size()});
    // Messages about one call start with "call <uuid>: "; that UUID becomes a field.
    if (text.starts_with("call ")) {
      auto colon = text.find(": ");
      if (colon != std::string_view::npos && colon > 5 && colon < 80) {
        dest.append(std::string_view{",\"call_uuid\":"});
        append_json_string(dest, text.substr(5, colon - 5));
      }
    }
    dest.append(std::string_view{",\"msg\":"});
    append_json_string(dest, text);
    dest.append(std::string_view{"}\n"});
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }
};

spdlog::level::level_enum to_spdlog(config::log_level level) {
  switch (level) {
    case config::log_level::trace:
      return spdlog::level::trace;
    case config::log_level::debug:
      return spdlog::level::debug;
    case config::log_level::info:
      return spdlog::level::info;
    case config::log_level::warn:
      return spdlog::level::warn;
    case config::log_level::error:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

} // namespace

void setup_logging(config::log_level level, config::log_format format) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("callgridd", sink);
  if (format == config::log_format::json)
    logger->set_formatter(std::make_unique<json_formatter>());
  else
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  logger->set_level(to_spdlog(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

void set_log_level(config::log_level level) {
  spdlog::default_logger()->set_level(to_spdlog(level));
}

} // namespace callgrid::daemon

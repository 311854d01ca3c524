// record_writer_driver: a test program that pushes numbered call records through the record
// writer callgridd uses (actors::spawn_record_writer: durable spool, then the record batcher into
// PostgreSQL) and exits once every one of them is stored. Used by
// tests/persistence/record_pipeline_crash_test.cpp, which kills it with SIGKILL mid-run and
// starts it again on the same spool.
//
//   record_writer_driver --spool DIR --conninfo STR --records N --base-us B
//                        [--rate R] [--timeout-s S]
//
// Record i (0 <= i < N) has call_uuid "00000000-0000-4000-8000-" followed by i in 12 decimal
// digits, leg 0, and ended_us = B + i * 1000 + 30 s: the same content in every run, so that a
// replayed record is recognisably the same call leg.
//
// Resuming: the driver appends in order and the spool gives every record its own sequence
// number, so a spool whose next sequence number is S already holds records 0 .. S - 2 (durable:
// an append returns only after fdatasync). Records the killed run had sent but not yet appended
// were only in its memory; the new run sends them again from S - 1 on. Records are sent at `R`
// per second (0: as fast as possible) so that a test can stop PostgreSQL and kill the driver
// while it is still appending.
//
// Exit status: 0 when every record is stored (the writer's flush answers 0 pending), 1 for bad
// arguments, 2 when the spool cannot be opened or holds more records than asked for, 3 when the
// records are not all stored within the timeout. Progress goes to stdout, the record writer's
// warnings (outage, repairs at open) to stderr, one line each.

#include <chrono>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/errc.hpp"
#include "actors/messages.hpp"
#include "actors/metrics_registry.hpp"
#include "actors/record_writer.hpp"
#include "persistence/call_record.hpp"
#include "persistence/errc.hpp"
#include "persistence/record_spool.hpp"

namespace {

using namespace std::chrono_literals;
using callgrid::persistence::call_record;

struct driver_options {
  std::string spool_dir;
  std::string conninfo;
  uint64_t records = 0;
  int64_t base_us = 0;
  uint64_t rate = 0;
  std::chrono::seconds timeout{90};
};

/// Seconds since the driver started, for log lines.
double elapsed_s() {
  static const auto start = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void print_line(std::ostream& out, const std::string& line) {
  out << "[driver " << std::fixed << std::setprecision(3) << elapsed_s() << " s] " << line
      << std::endl;
}

void say(const std::string& line) {
  print_line(std::cout, line);
}

void warn(const std::string& line) {
  print_line(std::cerr, line);
}

/// Prints the record writer's counters (stored, duplicates, failures) from `metrics`.
void print_record_metrics(const callgrid::actors::metrics_registry& metrics) {
  std::istringstream page{metrics.render()};
  for (std::string line; std::getline(page, line);)
    if (line.starts_with("callgrid_record"))
      say(line);
}

/// `value` in `width` decimal digits, zero padded.
std::string padded(uint64_t value, int width) {
  std::string digits = std::to_string(value);
  if (static_cast<int>(digits.size()) < width)
    digits.insert(0, static_cast<std::size_t>(width) - digits.size(), '0');
  return digits;
}

/// Record number `i`; the crash test derives the same call_uuid in SQL.
call_record make_record(uint64_t i, int64_t base_us) {
  using namespace callgrid::persistence;
  call_record rec;
  rec.call_uuid = "00000000-0000-4000-8000-" + padded(i, 12);
  rec.leg_uuid = "00000000-0000-4000-9000-" + padded(i, 12);
  rec.leg = 0;
  rec.direction = i % 2 == 0 ? call_direction::inbound : call_direction::outbound;
  rec.caller = "+4930" + std::to_string(1'000'000 + i);
  rec.callee = "+4940" + std::to_string(2'000'000 + i);
  rec.node = "fs-" + std::to_string(i % 4);
  rec.mode = esl_mode::outbound;
  rec.created_us = base_us + static_cast<int64_t>(i) * 1000;
  rec.ended_us = rec.created_us + 30'000'000;
  rec.duration_ms = 30'000;
  if (i % 2 == 0) {
    rec.answered_us = rec.created_us + 2'000'000;
    rec.billsec_ms = 28'000;
    rec.sip_code = 200;
    rec.disposition = "answered";
    rec.hangup_cause = "NORMAL_CLEARING";
  } else {
    rec.disposition = "no_answer";
    rec.hangup_cause = "NO_ANSWER";
  }
  return rec;
}

std::optional<driver_options> parse(int argc, char** argv) {
  std::map<std::string, std::string> given;
  for (int i = 1; i + 1 < argc; i += 2)
    given[argv[i]] = argv[i + 1];
  if (argc % 2 == 0) {
    warn("every option needs a value");
    return std::nullopt;
  }
  driver_options out;
  try {
    for (const auto& [name, value] : given) {
      if (name == "--spool")
        out.spool_dir = value;
      else if (name == "--conninfo")
        out.conninfo = value;
      else if (name == "--records")
        out.records = std::stoull(value);
      else if (name == "--base-us")
        out.base_us = std::stoll(value);
      else if (name == "--rate")
        out.rate = std::stoull(value);
      else if (name == "--timeout-s")
        out.timeout = std::chrono::seconds{std::stoll(value)};
      else {
        warn("unknown option " + name);
        return std::nullopt;
      }
    }
  } catch (const std::exception& e) {
    warn(std::string{"bad option value: "} + e.what());
    return std::nullopt;
  }
  if (out.spool_dir.empty() || out.conninfo.empty() || out.records == 0 || out.base_us == 0) {
    warn("usage: record_writer_driver --spool DIR --conninfo STR --records N --base-us B "
         "[--rate R] [--timeout-s S]");
    return std::nullopt;
  }
  return out;
}

/// The number of records a previous run appended, read from what the spool proves; the spool is
/// closed again before the writer opens it.
std::optional<uint64_t> records_already_appended(const driver_options& opts) {
  auto spool = callgrid::persistence::record_spool::open(opts.spool_dir);
  if (!spool) {
    warn("cannot open the spool " + opts.spool_dir + ": "
         + callgrid::persistence::render_error(spool.error()));
    return std::nullopt;
  }
  for (const auto& damage : spool->report().damage)
    say("spool damage found at open: " + callgrid::persistence::to_string(damage));
  uint64_t appended = spool->next_sequence() - 1;
  say("spool holds " + std::to_string(appended) + " appended records, "
      + std::to_string(spool->depth()) + " of them not yet stored");
  return appended;
}

class driver_config : public caf::actor_system_config {
public:
  driver_config() {
    set("scheduler.max-threads", std::size_t{2});
    set("logger.verbosity", caf::atom("quiet"));
  }
};

int run(const driver_options& opts) {
  auto appended = records_already_appended(opts);
  if (!appended)
    return 2;
  if (*appended > opts.records) {
    warn("the spool holds " + std::to_string(*appended) + " records, more than the "
         + std::to_string(opts.records) + " asked for");
    return 2;
  }

  driver_config cfg;
  caf::actor_system system{cfg};
  callgrid::actors::metrics_registry metrics;
  callgrid::actors::record_writer_options writer_options;
  writer_options.spool_dir = opts.spool_dir;
  writer_options.batcher.conninfo = opts.conninfo;
  writer_options.batcher.batch_size = 1000;
  // Short retry waits: the test's outage is a few seconds long, and the run must end soon after.
  writer_options.batcher.retry_initial = 50ms;
  writer_options.batcher.retry_max = 500ms;
  writer_options.log_warning = [](const std::string& line) { warn(line); };
  auto writer = callgrid::actors::spawn_record_writer(system, std::move(writer_options), metrics);
  if (!writer) {
    warn("cannot start the record writer: "
         + callgrid::actors::render_error(writer.error()));
    return 2;
  }

  say("sending records " + std::to_string(*appended) + " to " + std::to_string(opts.records - 1));
  const auto started = std::chrono::steady_clock::now();
  constexpr uint64_t pace_step = 100;
  for (uint64_t i = *appended; i < opts.records; ++i) {
    caf::anon_send(*writer, callgrid::actors::record_message{make_record(i, opts.base_us)});
    const uint64_t sent = i + 1 - *appended;
    if (opts.rate > 0 && sent % pace_step == 0) {
      auto due = started + std::chrono::microseconds{sent * 1'000'000 / opts.rate};
      std::this_thread::sleep_until(due);
    }
    if ((i + 1) % 10'000 == 0)
      say("sent up to record " + std::to_string(i));
  }
  say("all records sent; flushing");

  // The flush answers the records not yet in PostgreSQL; ask again until none are left.
  const auto deadline = std::chrono::steady_clock::now() + opts.timeout;
  int status = 3;
  {
    caf::scoped_actor self{system};
    uint64_t last_left = UINT64_MAX;
    while (std::chrono::steady_clock::now() < deadline) {
      std::optional<uint64_t> left;
      self->request(*writer, 30s, caf::flush_atom_v)
        .receive([&](uint64_t pending) { left = pending; },
                 [&](caf::error& err) {
                   warn("flush failed: " + callgrid::actors::render_error(err));
                 });
      if (left && *left == 0) {
        say("every record is stored");
        status = 0;
        break;
      }
      if (left && *left != last_left) {
        say(std::to_string(*left) + " records not yet stored");
        last_left = *left;
      }
      std::this_thread::sleep_for(100ms);
    }
    if (status != 0)
      warn("records still pending after " + std::to_string(opts.timeout.count()) + " s");
  }
  print_record_metrics(metrics);
  caf::anon_send_exit(*writer, caf::exit_reason::user_shutdown);
  return status;
}

} // namespace

int main(int argc, char** argv) {
  auto opts = parse(argc, argv);
  if (!opts)
    return 1;
  return run(*opts);
}

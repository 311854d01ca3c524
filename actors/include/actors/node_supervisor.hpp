#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/call_actor.hpp"
#include "actors/engine_catalog.hpp"
#include "actors/messages.hpp"
#include "actors/record_writer.hpp"
#include "actors/route_table.hpp"
#include "actors/session_journal.hpp"
#include "esl/inbound_client.hpp"

namespace boost::asio {
class io_context;
} // namespace boost::asio

namespace callgrid::actors {

class metrics_registry;

/// Replaces the supervisor's catalog (from the catalog watcher, on a LISTEN/NOTIFY change).
struct catalog_update {
  std::shared_ptr<const engine_catalog> catalog;
  friend bool operator==(const catalog_update& a, const catalog_update& b) {
    return a.catalog == b.catalog;
  }
};

/// The supervisor lists the channels again (recovery, second look after FreeSWITCH's lag).
struct relist_channels {
  friend bool operator==(const relist_channels&, const relist_channels&) = default;
};

/// The answer to FreeSWITCH's `status` after the link became ready: whether it "is ready".
struct freeswitch_status {
  bool ready = false;
  friend bool operator==(const freeswitch_status&, const freeswitch_status&) = default;
};

/// The entries a session journal listed at start (uuid, snapshot).
struct journal_entries {
  std::vector<std::pair<std::string, std::string>> entries;
  friend bool operator==(const journal_entries&, const journal_entries&) = default;
};

/// A `bgapi originate` ended without a channel of ours: FreeSWITCH refused the command or its
/// job failed (`cause` is the hangup cause, e.g. "USER_BUSY"), or the link failed it.
struct origination_failed {
  std::string uuid;
  std::string cause;
  friend bool operator==(const origination_failed&, const origination_failed&) = default;
};

/// An origination's time is up: what of it is still pending (its channel, its job) is dropped.
struct origination_expired {
  std::string uuid;
  std::string job_uuid;
  friend bool operator==(const origination_expired&, const origination_expired&) = default;
};

} // namespace callgrid::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::origination_failed)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::origination_expired)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::catalog_update)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::relist_channels)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::freeswitch_status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(callgrid::actors::journal_entries)

namespace callgrid::actors {

/// The node supervisor (design.md §3): owns the inbound ESL link to its FreeSWITCH, spawns a
/// call actor for every parked channel (inbound ESL mode) and for every outbound socket the
/// listener hands over, routes each channel's events by Unique-ID to its call actor, counts
/// the node's load, and after a (re)connect lists the live channels to re-adopt parked ones
/// and end the calls whose channels are gone. It also drains the node on request
/// (`start_drain`: `fsctl pause inbound`, calls finish or are ended with SYSTEM_SHUTDOWN at the
/// deadline, the record spool is flushed; progress in `node_load`). Runs as an event-based actor; the ESL link's
/// callbacks run on the Asio thread and only send messages to it.
///
/// It places outbound calls on request (`originate_request`): refused at once with an `errc`
/// error while draining, while the ESL link is down or at `node.capacity`; otherwise it picks
/// the channel's UUID, sends `bgapi originate {origination_uuid=...}DIAL &park()` and replies
/// with the UUID and Job-UUID before the job ends. The channel's CHANNEL_PARK then starts a
/// call actor with direction outbound that runs the requested route or flow; a job that
/// reports `-ERR CAUSE` gets one record with that cause. Channels found bridged or transferred
/// after a restart are adopted by call actors that only wait for their hangup.
using node_supervisor_actor
  = caf::typed_actor<caf::reacts_to<esl_events>, caf::reacts_to<link_status>,
                     caf::reacts_to<channel_listing>, caf::reacts_to<relist_channels>,
                     caf::reacts_to<freeswitch_status>,
                     caf::reacts_to<journal_entries>,
                     caf::reacts_to<outbound_call>,
                     caf::reacts_to<catalog_update>,
                     caf::replies_to<load_query>::with<node_load>,
                     caf::reacts_to<start_drain>, caf::reacts_to<cancel_drain>,
                     caf::reacts_to<node_settings_update>,
                     caf::reacts_to<caf::tick_atom>,
                     caf::replies_to<originate_request>::with<originate_reply>,
                     caf::reacts_to<origination_failed>, caf::reacts_to<origination_expired>,
                     caf::reacts_to<call_finished>>;

/// How the node supervisor runs.
struct node_supervisor_options {
  /// This node's name, carried by every call record.
  std::string node_name;
  /// The most calls this node takes (`node.capacity`), reported in `node_load`.
  int32_t capacity = 0;
  /// The `park_timeout` set on the channels this node originates (`node.park_timeout`): an
  /// originated channel nobody takes over is hung up by FreeSWITCH after it.
  std::chrono::seconds park_timeout{30};
  /// How long the far end of a bridge may ring (`node.answer_timeout`), handed to every call.
  std::chrono::seconds answer_timeout{60};
  /// The inbound ESL link (host, port, password, timeouts); the supervisor sets the events.
  esl::inbound_options esl;
  /// The io_context whose thread runs the ESL link (owned by the daemon).
  boost::asio::io_context* io = nullptr;
  record_writer_actor records;
  metrics_registry* metrics = nullptr;
  hot_data_lookup lookup;
  std::shared_ptr<const engine_catalog> catalog;
  /// Notes live calls so that calls ending while callgridd is down still get a record.
  session_journal journal;
};

/// The JSON object the supervisor journals when call `setup` starts: caller, callee, mode,
/// created_us, node and, with a route, route_id and flow_id. Valid JSON whatever bytes the
/// caller's number holds (bytes that are not UTF-8 become U+FFFD).
[[nodiscard]] std::string session_snapshot(const call_setup& setup);

/// Spawns the supervisor, which connects its ESL link at once (and keeps reconnecting).
[[nodiscard]] node_supervisor_actor spawn_node_supervisor(caf::actor_system& system,
                                                          node_supervisor_options options);

/// The events the supervisor subscribes to on the inbound link. Not CHANNEL_HANGUP: the events
/// after a hangup say `Answer-State: hangup` (the park or prompt that ends with it completes,
/// then CHANNEL_HANGUP_COMPLETE comes). CHANNEL_ANSWER stays although a call also learns that its
/// `answer` worked from the application's CHANNEL_EXECUTE_COMPLETE: measured without it
/// (bench/README.md, fifth perf round), park -> first command took 0.7 ms longer at p50 and 2 ms
/// at p99, most likely because the ANSWER that a dialplan's answer sends just before CHANNEL_PARK
/// wakes the daemon's I/O thread while the PARK is still on its way (it costs ~10 us of CPU per
/// call).
inline constexpr const char* node_supervisor_events
  = "CHANNEL_PARK CHANNEL_ANSWER CHANNEL_EXECUTE_COMPLETE CHANNEL_HANGUP_COMPLETE DTMF HEARTBEAT";

/// Events of `node_supervisor_events` that the inbound link drops unread
/// (`esl::connection_options::skipped_events`): they are there only to wake the I/O thread
/// ahead of CHANNEL_PARK (see above), and a call learns as much from the `answer`'s
/// CHANNEL_EXECUTE_COMPLETE. Read, each cost ~10,000 instructions per call (parsing, indexing,
/// routing to no call: bench/README.md, eleventh perf round); skipped, only its first line is
/// looked at. Outbound sockets still deliver CHANNEL_ANSWER to their call.
inline constexpr const char* node_supervisor_wake_only_events = "CHANNEL_ANSWER";

/// Applications whose CHANNEL_EXECUTE_COMPLETE the inbound link drops unread
/// (`esl::inbound_client::skip_completions`) once the recovery listings after the link became
/// ready are done: no call reads them. A call sends its `answer` with its first prompt and
/// learns the answer time from the final event (call_state::start); a `set` (the dialplan's, or
/// an IVR variable) completes with nothing a call waits for. Until then they are read: a
/// channel born after the link became ready that never parks (a loopback origination's far
/// leg) may show itself only by them, and must not be adopted by those listings. Not filtered
/// by FreeSWITCH instead: a dialplan's `answer` completes just before CHANNEL_PARK and its
/// arrival wakes the I/O thread in time for it (see `node_supervisor_ignored_applications`);
/// skipped, only the event's first and last lines are looked at, instead of ~8,000
/// instructions of parsing and routing per completion.
inline constexpr const char* node_supervisor_skipped_completions = "answer set";

/// Applications whose CHANNEL_EXECUTE_COMPLETE the inbound link filters out (a negative ESL
/// filter `Application -NAME`; the subscribed event names become the positive filters, as an
/// event must match one to pass). The dialplan's `park` completes on every call, at its hangup,
/// and no call needs that: CHANNEL_HANGUP_COMPLETE follows. One ~6 KB event per call less to
/// read and parse: 123 vs 144-148 us of CPU per call at 1,000 calls/s, and park -> first command
/// p99 4.6 vs 5.0 ms (interleaved runs, bench/README.md, sixth perf round). Filtering `answer`
/// too saved as much CPU but made park -> first command 0.8 ms slower at p50 on this VM (its
/// completion comes just before CHANNEL_PARK and wakes the I/O thread, as CHANNEL_ANSWER does).
inline constexpr const char* node_supervisor_ignored_applications = "park";

/// The `filter` commands of the inbound link, as (header, value): `Event-Name NAME` for each of
/// `node_supervisor_events` (and BACKGROUND_JOB when `with_background_jobs`), then
/// `Application -NAME` for each of `node_supervisor_ignored_applications`.
[[nodiscard]] std::vector<std::pair<std::string, std::string>>
node_supervisor_filters(bool with_background_jobs);

} // namespace callgrid::actors

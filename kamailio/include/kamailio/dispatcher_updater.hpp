#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kamailio/dispatcher_list.hpp"
#include "kamailio/errc.hpp"
#include "kamailio/reload_coalescer.hpp"
#include "kamailio/rpc_client.hpp"

/// The thin driver around `reload_coalescer`: publishes a new dispatcher list to one Kamailio
/// (validate, write atomically, `dispatcher.set_state` for every state change at once) and sends
/// the coalesced `dispatcher.reload` when it is due, then checks `dispatcher.list` against what
/// was written.
///
/// ```
/// kamailio::dispatcher_updater edge{{.list_file = "/var/lib/callgrid/dispatcher.list",
///                                    .rpc = {.socket_path = "/run/kamailio/kamailio_rpc.sock"},
///                                    .validation = {.required_sets = {1}}}};
/// auto published = edge.publish(targets, clock::now());   // node b disabled at once
/// // later, from a timer set to edge.next_due():
/// auto report = edge.poll(clock::now());                  // one reload, then a check
/// ```
namespace callgrid::kamailio {

/// Settings of a `dispatcher_updater`. Plain data.
struct updater_options {
  /// The file Kamailio's dispatcher reads (`modparam("dispatcher", "list_file", ...)`).
  std::filesystem::path list_file;
  /// Kamailio's JSON-RPC socket and the time budget per call.
  rpc_options rpc;
  /// What a list must satisfy before it is written (sets that must stay usable).
  list_validation validation;
  /// Reload timing.
  coalescer_options timing;
};

/// What `publish` did. Plain data.
struct publish_report {
  /// `dispatcher.set_state` calls that Kamailio accepted.
  std::size_t states_set = 0;
  /// Calls that failed (Kamailio down, target unknown to it); the file was still written and
  /// the next reload applies the states from it.
  std::vector<error> state_errors;
};

/// What `poll` did. Plain data.
struct poll_report {
  /// Whether a reload was sent, and whether Kamailio accepted it.
  bool reload_sent = false;
  bool reloaded = false;
  /// Kamailio refused the reload as too soon ("Ongoing reload"); it is retried.
  bool refused = false;
  /// The failure of the reload or of the check after it, if any.
  std::optional<error> failure;
  /// After an accepted reload: what differs between the file and `dispatcher.list` (empty when
  /// they match; see `listing_differences`).
  std::vector<std::string> mismatches;
};

/// Keeps one Kamailio's dispatcher in line with the lists callgrid publishes. Owned by the
/// coordinator's dispatcher writer; used from one thread; blocking (file I/O and RPC calls of
/// at most the RPC budget each). Every failure is a value in the reports; nothing throws.
/// If Kamailio is down, the file is still written and the reload retried, so Kamailio starts
/// with the newest list.
class dispatcher_updater {
public:
  using time_point = reload_coalescer::time_point;

  explicit dispatcher_updater(updater_options options);

  /// Publishes `targets`: validates them (`errc::invalid_list` and nothing written when they
  /// fail), writes the list file atomically (`errc::io_error`), then sends
  /// `dispatcher.set_state` for every target already known to Kamailio whose state changes,
  /// and `d` for every target that leaves the list, so that the change takes effect before the
  /// reload; finally marks a reload as needed. The first call learns Kamailio's current states
  /// from `dispatcher.list`.
  [[nodiscard]] result<publish_report> publish(std::vector<dispatcher_target> targets,
                                               time_point now);

  /// When `poll` has work next, or `nullopt`.
  [[nodiscard]] std::optional<time_point> next_due() const { return coalescer_.next_due(); }

  /// Sends `dispatcher.reload` when one is due at `now`; after an accepted reload lists the
  /// targets and compares them with the file written.
  [[nodiscard]] poll_report poll(time_point now);

  /// The reload bookkeeping (counters for metrics).
  [[nodiscard]] const reload_coalescer& coalescer() const noexcept { return coalescer_; }

  /// The targets last written.
  [[nodiscard]] const std::vector<dispatcher_target>& published() const noexcept {
    return published_;
  }

private:
  /// Takes a `dispatcher.list` answer as what Kamailio holds.
  void learn_view(const std::vector<listed_target>& listed);

  updater_options options_;
  rpc_client rpc_;
  reload_coalescer coalescer_;
  std::vector<dispatcher_target> published_;
  /// What Kamailio holds now, as far as we know, by (set, URI): its `dispatcher.list` at the
  /// first publish and after each accepted reload, plus every `set_state` it accepted since.
  /// A target it was given in a file but not yet reloaded is not in it (set_state would fail).
  std::map<std::pair<int, std::string>, target_state> kamailio_view_;
  /// Whether `kamailio_view_` was learned (false until the first publish lists Kamailio).
  bool known_ = false;
};

} // namespace callgrid::kamailio

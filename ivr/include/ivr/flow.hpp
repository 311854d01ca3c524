#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ivr/diagnostic.hpp"
#include "ivr/internal/flow_model.hpp"

namespace callgrid::ivr {

/// A loaded, validated IVR flow document. Immutable after `load_flow` built it, so one instance
/// is shared (through `std::shared_ptr<const flow>`) by every call running it, from any thread.
/// Nothing in it fails: every problem was reported when it was loaded.
///
/// ```cpp
/// auto loaded = ivr::load_flow(text, "main_menu.yaml", catalog_prompt_names);
/// for (const auto& d : loaded.problems) std::cerr << ivr::render(d) << '\n';
/// if (!loaded.flow) return;                         // at least one error
/// warm(loaded.flow->prompt_uris());                 // before the first call uses it
/// store_jsonb(loaded.flow->name(), loaded.flow->version(), loaded.flow->to_json());
/// ```
class flow {
public:
  explicit flow(internal::flow_model model) : model_(std::move(model)) {
  }

  /// The flow's `name`.
  [[nodiscard]] const std::string& name() const noexcept {
    return model_.name;
  }

  /// The flow's `version` (a positive integer chosen by the author).
  [[nodiscard]] std::int64_t version() const noexcept {
    return model_.version;
  }

  /// The flow's `language` ("" when not given); available to templates as `${language}`.
  [[nodiscard]] const std::string& language() const noexcept {
    return model_.language;
  }

  /// Every prompt URI the flow may play, sorted and without duplicates, for checking and warming
  /// before calls use the flow. URIs holding `${...}` placeholders depend on the call and are
  /// left out.
  [[nodiscard]] std::vector<std::string> prompt_uris() const;

  /// The ids of all nodes, in document order.
  [[nodiscard]] std::vector<std::string> node_ids() const;

  /// The canonical JSON form of the flow (every default made explicit, object keys sorted, prompt
  /// names from the catalog listed under `prompts`), for storage as JSONB. `load_flow` accepts it
  /// back and yields an equal flow. Never fails.
  [[nodiscard]] std::string to_json() const;

  /// The interpreter's view. Not for hosts.
  [[nodiscard]] const internal::flow_model& model() const noexcept {
    return model_;
  }

private:
  internal::flow_model model_;
};

/// What `load_flow` returns: the flow, or null when any problem is an error, and every problem
/// found (errors and warnings, in document order as far as possible).
struct flow_load_result {
  std::shared_ptr<const ivr::flow> flow;
  std::vector<diagnostic> problems;

  /// Number of problems of `level`.
  [[nodiscard]] std::size_t count(severity level) const noexcept;
};

/// Limits that keep a hostile or broken document from costing much to load.
inline constexpr std::size_t max_flow_document_bytes = 1024 * 1024;
inline constexpr std::size_t max_flow_nodes = 2000;

/// The prompt catalog as a flow sees it: prompt name -> the URI it plays.
using prompt_catalog = std::map<std::string, std::string, std::less<>>;

/// Parses and validates a YAML or JSON flow document. `file_name` is used in locations only.
/// A prompt name used by a node must be listed in the document's `prompts` or be one of
/// `catalog_prompts` (the prompt catalog; such a prompt plays the catalog's URI, and the
/// canonical form does not copy it: a stored flow refers to the catalog by name and is resolved
/// against the catalog of the moment whenever it is loaded).
/// Runs in the caller's thread; reads the zoneinfo files of the time zones the flow names and
/// nothing else. Never throws: every problem, with its location, is in `problems`.
[[nodiscard]] flow_load_result load_flow(std::string_view text, std::string_view file_name,
                                         const prompt_catalog& catalog_prompts = {});

/// Reads `path` and calls `load_flow` on its content. An unreadable file is reported as one
/// error diagnostic. Runs in the caller's thread (blocking file I/O).
[[nodiscard]] flow_load_result load_flow_file(const std::string& path,
                                              const prompt_catalog& catalog_prompts = {});

} // namespace callgrid::ivr

#include "esl/frame.hpp"

#include <array>
#include <bit>
#include <vector>

#include "internal/frame_block.hpp"
#include "internal/plain_event.hpp"
#include "internal/text.hpp"

namespace callgrid::esl {

namespace {

std::optional<std::string_view> find_in(std::span<const header_field> fields,
                                        std::string_view name) noexcept {
  for (const auto& field : fields)
    if (internal::iequals(field.name, name))
      return field.value;
  return std::nullopt;
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool sanitized_build = true;
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
constexpr bool sanitized_build = true;
#  else
constexpr bool sanitized_build = false;
#  endif
#else
constexpr bool sanitized_build = false;
#endif

/// Per thread, a few free blocks of each power-of-two size from 2 KiB to 64 KiB. A frame's
/// block is taken from the thread that parses it and given back to the thread that drops it;
/// in callgridd both are usually the I/O thread. One 64 KiB read holds a dozen 5 KB events,
/// all parsed before the actors drop any, so a class keeps up to `blocks_per_class` blocks,
/// and all classes together at most `max_cached_bytes`. Frames above 64 KiB use the heap, and so
/// do those of at most 1 KiB (a command reply): glibc keeps such sizes per thread already, and
/// rounding them up would waste memory where frames are kept. Under
/// AddressSanitizer (the fuzz build) every block comes from the heap, so that a use after free
/// is still caught.
class frame_block_cache {
public:
  static constexpr std::size_t heap_at_most = 1024;
  static constexpr std::size_t smallest_shift = 11;
  static constexpr std::size_t classes = 6; // 2 KiB .. 64 KiB
  static constexpr std::size_t blocks_per_class = 64;
  static constexpr std::size_t max_cached_bytes = 2 * 1024 * 1024;

  frame_block_cache() {
    for (auto& free : free_)
      free.reserve(blocks_per_class); // give_back never allocates
  }

  ~frame_block_cache() {
    destroyed = true;
    for (auto& free : free_)
      for (auto* block : free)
        delete[] block;
  }

  /// A block of at least `bytes`, and its size class (0: not cached).
  std::pair<char*, std::uint8_t> take(std::size_t bytes) {
    auto size_class = sanitized_build ? std::uint8_t{0} : class_of(bytes);
    if (size_class == 0)
      return {new char[bytes == 0 ? 1 : bytes], 0};
    auto& free = free_[size_class - 1];
    if (!free.empty()) {
      auto* block = free.back();
      free.pop_back();
      cached_bytes_ -= size_of(size_class);
      return {block, size_class};
    }
    return {new char[size_of(size_class)], size_class};
  }

  void give_back(char* block, std::uint8_t size_class) noexcept {
    auto& free = free_[size_class - 1];
    auto bytes = size_of(size_class);
    if (free.size() < blocks_per_class && cached_bytes_ + bytes <= max_cached_bytes) {
      free.push_back(block);
      cached_bytes_ += bytes;
    } else {
      delete[] block;
    }
  }

  /// Set when this thread's cache is gone (thread exit): later frames go to the heap.
  static thread_local bool destroyed;

private:
  static std::uint8_t class_of(std::size_t bytes) noexcept {
    if (bytes <= heap_at_most || bytes > size_of(classes))
      return 0;
    auto rounded = std::bit_ceil(bytes);
    auto shift = static_cast<std::size_t>(std::countr_zero(rounded));
    return static_cast<std::uint8_t>(shift <= smallest_shift ? 1 : shift - smallest_shift + 1);
  }
  static std::size_t size_of(std::size_t size_class) noexcept {
    return std::size_t{1} << (smallest_shift + size_class - 1);
  }

  std::array<std::vector<char*>, classes> free_;
  std::size_t cached_bytes_ = 0;
};

thread_local bool frame_block_cache::destroyed = false;

frame_block_cache& thread_block_cache() {
  thread_local frame_block_cache cache;
  return cache;
}

} // namespace

std::pair<char*, std::uint8_t> internal::take_frame_block(std::size_t bytes) {
  return thread_block_cache().take(bytes);
}

void frame_block_release::operator()(char* block) const noexcept {
  if (size_class == 0 || frame_block_cache::destroyed)
    delete[] block;
  else
    thread_block_cache().give_back(block, size_class);
}

const char* to_string(content_type type) noexcept {
  switch (type) {
    case content_type::auth_request: return "auth_request";
    case content_type::command_reply: return "command_reply";
    case content_type::api_response: return "api_response";
    case content_type::event_plain: return "event_plain";
    case content_type::event_json: return "event_json";
    case content_type::event_xml: return "event_xml";
    case content_type::disconnect_notice: return "disconnect_notice";
    case content_type::log_data: return "log_data";
    case content_type::channel_data: return "channel_data";
    case content_type::command: return "command";
    case content_type::unknown: return "unknown";
  }
  return "unknown";
}

const internal::decoded_fields*
internal::decoded_fields_slot::publish(decoded_fields* fields) const noexcept {
  decoded_fields* expected = nullptr;
  if (fields_.compare_exchange_strong(expected, fields, std::memory_order_acq_rel,
                                      std::memory_order_acquire))
    return fields;
  release_decoded_fields(fields);
  return expected;
}

void internal::decoded_fields_slot::reset(decoded_fields* fields) noexcept {
  release_decoded_fields(fields_.exchange(fields, std::memory_order_acq_rel));
}

const internal::decoded_fields& frame::decoded() const {
  if (const auto* fields = decoded_.get())
    return *fields;
  // Two threads may race to decode: both do, and the first to publish wins.
  return *decoded_.publish(
    internal::decode_plain_fields(plain_lines_, {plain_index_, plain_line_count_}));
}

std::optional<std::string_view> frame::header(std::string_view name) const noexcept {
  return find_in(headers_, name);
}

std::span<const header_field> frame::event_fields() const {
  if (plain_lines_.empty())
    return fields_;
  return decoded().fields;
}

std::optional<std::string_view> frame::field(std::string_view name) const {
  std::optional<std::string_view> found;
  find_fields(std::span<const std::string_view>{&name, 1}, std::span{&found, 1});
  return found;
}

void frame::find_fields(std::span<const std::string_view> names,
                        std::span<std::optional<std::string_view>> found) const {
  auto from_table = [&](std::span<const header_field> table) {
    for (std::size_t i = 0; i < names.size(); ++i)
      found[i] = find_in(table, names[i]);
  };
  if (plain_lines_.empty())
    return from_table(fields_);
  if (const auto* fields = decoded_.get())
    return from_table(fields->fields);
  constexpr std::size_t on_stack = 16;
  std::optional<internal::raw_value> raw_on_stack[on_stack];
  std::vector<std::optional<internal::raw_value>> raw_on_heap;
  std::span<std::optional<internal::raw_value>> raw{raw_on_stack,
                                                     std::min(names.size(), on_stack)};
  if (names.size() > on_stack) {
    raw_on_heap.resize(names.size());
    raw = raw_on_heap;
  }
  internal::find_plain_fields(plain_lines_, {plain_index_, plain_line_count_}, names, raw);
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (raw[i] && raw[i]->has_percent)
      return from_table(decoded().fields); // a value to decode: decode them all, once
    found[i] = raw[i] ? std::optional{raw[i]->text} : std::nullopt;
  }
}

} // namespace callgrid::esl

#include "persistence/record_codec.hpp"

#include <exception>
#include <string>
#include <string_view>

#include <msgpack.hpp>

namespace callgrid::persistence {

namespace {

/// Adapts a byte vector to the stream concept of msgpack's packer.
struct byte_sink {
  std::vector<std::byte>* out;
  void write(const char* data, std::size_t size) {
    const auto* first = reinterpret_cast<const std::byte*>(data);
    out->insert(out->end(), first, first + size);
  }
};

// The number of elements of a version 1 record, version included.
constexpr uint32_t v1_fields = 23;

using packer = msgpack::packer<byte_sink>;

void pack_string(packer& pk, const std::string& value) {
  pk.pack_str(static_cast<uint32_t>(value.size()));
  pk.pack_str_body(value.data(), static_cast<uint32_t>(value.size()));
}

template <class T>
void pack_optional(packer& pk, const std::optional<T>& value) {
  if (value)
    pk.pack(*value);
  else
    pk.pack_nil();
}

caf::error decode_error(std::string_view field, std::string_view what) {
  std::string text = "call record field '";
  text += field;
  text += "': ";
  text += what;
  return caf::make_error(errc::record_decode_failed, std::move(text));
}

/// Reads the fields of one encoded record in order; the first failure sticks, so the decoder
/// reads straight through and checks once at the end.
class field_reader {
public:
  field_reader(const msgpack::object* fields, uint32_t count) : fields_(fields), count_(count) {}

  const caf::error& error() const { return error_; }

  void read(std::string_view name, std::string& out) {
    const auto* obj = next(name);
    if (obj == nullptr)
      return;
    if (obj->type != msgpack::type::STR)
      return fail(name, "expected a string");
    out.assign(obj->via.str.ptr, obj->via.str.size);
  }

  void read(std::string_view name, int64_t& out) {
    const auto* obj = next(name);
    if (obj != nullptr)
      read_integer(name, *obj, out);
  }

  void read(std::string_view name, int32_t& out) {
    int64_t wide = 0;
    read(name, wide);
    if (wide < INT32_MIN || wide > INT32_MAX)
      return fail(name, "out of the int32 range");
    out = static_cast<int32_t>(wide);
  }

  template <class T>
  void read(std::string_view name, std::optional<T>& out) {
    const auto* obj = peek(name);
    if (obj == nullptr)
      return;
    if (obj->type == msgpack::type::NIL) {
      ++index_;
      out.reset();
      return;
    }
    T value{};
    read(name, value);
    out = value;
  }

  template <class Enum>
  void read_enum(std::string_view name, Enum& out, Enum last) {
    int64_t raw = 0;
    read(name, raw);
    if (raw < 0 || raw > static_cast<int64_t>(last))
      return fail(name, "unknown enum value " + std::to_string(raw));
    out = static_cast<Enum>(raw);
  }

  void read(std::string_view name, std::vector<ivr_step>& out) {
    const auto* obj = next(name);
    if (obj == nullptr)
      return;
    if (obj->type != msgpack::type::ARRAY)
      return fail(name, "expected an array");
    out.clear();
    out.reserve(obj->via.array.size);
    for (uint32_t i = 0; i < obj->via.array.size; ++i) {
      const auto& step = obj->via.array.ptr[i];
      if (step.type != msgpack::type::ARRAY || step.via.array.size != 2
          || step.via.array.ptr[0].type != msgpack::type::STR
          || step.via.array.ptr[1].type != msgpack::type::STR)
        return fail(name, "step " + std::to_string(i) + " is not [menu, choice]");
      const auto& menu = step.via.array.ptr[0].via.str;
      const auto& choice = step.via.array.ptr[1].via.str;
      out.push_back(ivr_step{std::string{menu.ptr, menu.size},
                             std::string{choice.ptr, choice.size}});
    }
  }

private:
  const msgpack::object* peek(std::string_view name) {
    if (error_)
      return nullptr;
    if (index_ >= count_) {
      fail(name, "missing");
      return nullptr;
    }
    return &fields_[index_];
  }

  const msgpack::object* next(std::string_view name) {
    const auto* obj = peek(name);
    if (obj != nullptr)
      ++index_;
    return obj;
  }

  void read_integer(std::string_view name, const msgpack::object& obj, int64_t& out) {
    if (obj.type == msgpack::type::POSITIVE_INTEGER) {
      if (obj.via.u64 > static_cast<uint64_t>(INT64_MAX))
        return fail(name, "out of the int64 range");
      out = static_cast<int64_t>(obj.via.u64);
    } else if (obj.type == msgpack::type::NEGATIVE_INTEGER) {
      out = obj.via.i64;
    } else {
      fail(name, "expected an integer");
    }
  }

  void fail(std::string_view name, std::string_view what) {
    if (!error_)
      error_ = decode_error(name, what);
  }

  const msgpack::object* fields_;
  uint32_t count_;
  uint32_t index_ = 0;
  caf::error error_;
};

caf::expected<call_record> decode_v1(const msgpack::object& root) {
  if (root.via.array.size != v1_fields)
    return caf::make_error(errc::record_decode_failed,
                           "a version 1 call record has " + std::to_string(v1_fields)
                             + " fields, this one " + std::to_string(root.via.array.size));
  field_reader in{root.via.array.ptr + 1, root.via.array.size - 1};
  call_record rec;
  in.read("call_uuid", rec.call_uuid);
  in.read("leg_uuid", rec.leg_uuid);
  in.read("leg", rec.leg);
  in.read_enum("direction", rec.direction, call_direction::outbound);
  in.read("caller", rec.caller);
  in.read("callee", rec.callee);
  in.read("route_id", rec.route_id);
  in.read("flow_id", rec.flow_id);
  in.read("campaign_id", rec.campaign_id);
  in.read("attempt_id", rec.attempt_id);
  in.read("node", rec.node);
  in.read_enum("esl_mode", rec.mode, esl_mode::outbound);
  in.read("created_us", rec.created_us);
  in.read("answered_us", rec.answered_us);
  in.read("ended_us", rec.ended_us);
  in.read("duration_ms", rec.duration_ms);
  in.read("billsec_ms", rec.billsec_ms);
  in.read("hangup_cause", rec.hangup_cause);
  in.read("sip_code", rec.sip_code);
  in.read("disposition", rec.disposition);
  in.read("ivr_path", rec.ivr_path);
  in.read_enum("end_reason", rec.reason, end_reason::engine_restart);
  if (in.error())
    return in.error();
  return rec;
}

} // namespace

void record_codec::encode(const call_record& rec, std::vector<std::byte>& out) {
  byte_sink sink{&out};
  packer pk{sink};
  pk.pack_array(v1_fields);
  pk.pack(format_version);
  pack_string(pk, rec.call_uuid);
  pack_string(pk, rec.leg_uuid);
  pk.pack(rec.leg);
  pk.pack(static_cast<uint8_t>(rec.direction));
  pack_string(pk, rec.caller);
  pack_string(pk, rec.callee);
  pack_optional(pk, rec.route_id);
  pack_optional(pk, rec.flow_id);
  pack_optional(pk, rec.campaign_id);
  pack_optional(pk, rec.attempt_id);
  pack_string(pk, rec.node);
  pk.pack(static_cast<uint8_t>(rec.mode));
  pk.pack(rec.created_us);
  pack_optional(pk, rec.answered_us);
  pk.pack(rec.ended_us);
  pk.pack(rec.duration_ms);
  pk.pack(rec.billsec_ms);
  pack_string(pk, rec.hangup_cause);
  pack_optional(pk, rec.sip_code);
  pack_string(pk, rec.disposition);
  pk.pack_array(static_cast<uint32_t>(rec.ivr_path.size()));
  for (const auto& step : rec.ivr_path) {
    pk.pack_array(2);
    pack_string(pk, step.menu);
    pack_string(pk, step.choice);
  }
  pk.pack(static_cast<uint8_t>(rec.reason));
}

std::vector<std::byte> record_codec::encode(const call_record& rec) {
  std::vector<std::byte> out;
  encode(rec, out);
  return out;
}

caf::expected<call_record> record_codec::decode(std::span<const std::byte> bytes) {
  msgpack::object_handle handle;
  std::size_t offset = 0;
  try {
    // msgpack throws on malformed or truncated input; this is the library boundary. Without
    // limits it believes an array header announcing 600 million elements and allocates for them
    // before noticing the input is 32 bytes long (found by tests/fuzz/record_codec_fuzz): no
    // container or string can have more elements or bytes than the input itself, and a record
    // nests two levels deep.
    auto most = bytes.size();
    msgpack::unpack_limit limits{most, most, most, most, most, 8};
    handle = msgpack::unpack(reinterpret_cast<const char*>(bytes.data()), bytes.size(), offset,
                             nullptr, nullptr, limits);
  } catch (const std::exception& ex) {
    return caf::make_error(errc::record_decode_failed,
                           std::string{"malformed msgpack: "} + ex.what());
  }
  if (offset != bytes.size())
    return caf::make_error(errc::record_decode_failed,
                           std::to_string(bytes.size() - offset)
                             + " trailing bytes after the call record");
  const auto& root = handle.get();
  if (root.type != msgpack::type::ARRAY || root.via.array.size == 0)
    return caf::make_error(errc::record_decode_failed,
                           "a call record must be a msgpack array starting with its version");
  const auto& version = root.via.array.ptr[0];
  if (version.type != msgpack::type::POSITIVE_INTEGER)
    return caf::make_error(errc::record_decode_failed,
                           "the first element of a call record must be its format version");
  switch (version.via.u64) {
    case 1: return decode_v1(root);
    default:
      return caf::make_error(errc::unsupported_record_version,
                             "call record format version " + std::to_string(version.via.u64)
                               + "; this build reads versions up to "
                               + std::to_string(format_version));
  }
}

} // namespace callgrid::persistence

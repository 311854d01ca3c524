#include "capture_transcript.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace callgrid::test_support {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  throw std::runtime_error(std::string{"bad hex digit '"} + c + "' in bytes literal");
}

} // namespace

std::vector<std::string> capture::received_frames() const {
  std::vector<std::string> out;
  for (const auto& entry : entries)
    if (entry.from_freeswitch)
      out.push_back(entry.bytes);
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string captures_dir() {
  if (const char* dir = std::getenv("CALLGRID_TEST_DATA"); dir != nullptr && *dir != '\0')
    return std::string{dir} + "/esl-captures";
#ifdef CALLGRID_TEST_DATA_DIR
  return std::string{CALLGRID_TEST_DATA_DIR} + "/esl-captures";
#else
  throw std::runtime_error("CALLGRID_TEST_DATA is not set");
#endif
}

std::vector<std::string> capture_names() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator{captures_dir()}) {
    auto file = entry.path().filename().string();
    constexpr std::string_view suffix = ".recv.bin";
    if (file.size() > suffix.size() && file.ends_with(suffix))
      names.push_back(file.substr(0, file.size() - suffix.size()));
  }
  std::sort(names.begin(), names.end());
  if (names.empty())
    throw std::runtime_error("no captures found in " + captures_dir());
  return names;
}

std::string decode_python_bytes(std::string_view literal) {
  if (literal.size() < 3 || literal[0] != 'b' || (literal[1] != '\'' && literal[1] != '"')
      || literal.back() != literal[1])
    throw std::runtime_error("not a Python bytes literal: " + std::string{literal.substr(0, 40)});
  auto text = literal.substr(2, literal.size() - 3);
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i >= text.size())
      throw std::runtime_error("bytes literal ends with a backslash");
    switch (text[i]) {
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'x':
        if (i + 2 >= text.size())
          throw std::runtime_error("short \\x escape in bytes literal");
        out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
        i += 2;
        break;
      default:
        throw std::runtime_error(std::string{"unknown escape \\"} + text[i]);
    }
  }
  return out;
}

capture load_capture(const std::string& name) {
  auto base = captures_dir() + "/" + name;
  capture result;
  result.name = name;
  result.received = read_file(base + ".recv.bin");
  result.sent = read_file(base + ".sent.bin");
  std::istringstream transcript{read_file(base + ".txt")};
  std::string line;
  std::size_t line_number = 0;
  while (std::getline(transcript, line)) {
    ++line_number;
    bool received = line.rfind("<<< ", 0) == 0;
    bool sent = line.rfind(">>> ", 0) == 0;
    if (!received && !sent)
      continue;
    capture_entry entry;
    entry.from_freeswitch = received;
    auto open = line.find('[');
    if (open != std::string::npos)
      entry.time = std::strtod(line.c_str() + open + 1, nullptr);
    std::string literal;
    if (!std::getline(transcript, literal))
      throw std::runtime_error(base + ".txt:" + std::to_string(line_number)
                               + ": entry without bytes");
    ++line_number;
    entry.bytes = decode_python_bytes(literal);
    result.entries.push_back(std::move(entry));
  }
  std::string joined_received;
  std::string joined_sent;
  for (const auto& entry : result.entries)
    (entry.from_freeswitch ? joined_received : joined_sent) += entry.bytes;
  if (joined_received != result.received)
    throw std::runtime_error(base + ".txt: its <<< entries do not add up to " + name
                             + ".recv.bin");
  if (joined_sent != result.sent)
    throw std::runtime_error(base + ".txt: its >>> entries do not add up to " + name
                             + ".sent.bin");
  return result;
}

} // namespace callgrid::test_support

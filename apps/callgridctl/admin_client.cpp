#include "admin_client.hpp"

#include <cstdlib>
#include <fstream>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace callgrid::ctl {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

admin_answer admin_request(const admin_endpoint& endpoint, const std::string& method,
                           const std::string& target, const std::string& body) {
  admin_answer answer;
  try {
    asio::io_context io;
    asio::ip::tcp::resolver resolver{io};
    beast::tcp_stream stream{io};
    stream.expires_after(endpoint.timeout);
    auto addresses = resolver.resolve(endpoint.host, std::to_string(endpoint.port));
    stream.connect(addresses);
    http::request<http::string_body> request{http::string_to_verb(method), target, 11};
    request.set(http::field::host, endpoint.host);
    request.set(http::field::user_agent, "callgridctl");
    request.set(http::field::authorization, "Bearer " + endpoint.token);
    if (!body.empty()) {
      request.set(http::field::content_type, "application/json");
      request.body() = body;
    }
    request.prepare_payload();
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    answer.status = static_cast<int>(response.result_int());
    answer.body = std::move(response.body());
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  } catch (const std::exception& e) {
    answer.status = 0;
    answer.error = "admin API at " + endpoint.host + ":" + std::to_string(endpoint.port) + ": "
                   + e.what();
  }
  return answer;
}

std::optional<std::string> make_admin_endpoint(const std::string& api_option,
                                               const std::string& token_file_option,
                                               admin_endpoint& out) {
  std::string api = api_option;
  if (api.empty())
    if (const char* env = std::getenv("CALLGRID_ADMIN_API"))
      api = env;
  if (api.empty())
    api = "127.0.0.1:9464";
  auto colon = api.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == api.size())
    return "--api '" + api + "' is not HOST:PORT (e.g. 127.0.0.1:9464, the coordinator's "
           "http.listen and http.port)";
  try {
    auto port = std::stoi(api.substr(colon + 1));
    if (port < 1 || port > 65535)
      throw std::out_of_range{"port"};
    out.port = static_cast<uint16_t>(port);
  } catch (const std::exception&) {
    return "--api '" + api + "' has no valid port (1 to 65535)";
  }
  out.host = api.substr(0, colon);
  std::string token_file = token_file_option;
  if (token_file.empty())
    if (const char* env = std::getenv("CALLGRID_ADMIN_TOKEN_FILE"))
      token_file = env;
  if (token_file.empty())
    return "no admin token: give --token-file FILE or set CALLGRID_ADMIN_TOKEN_FILE (the file "
           "the coordinator's cluster.admin_token_file names)";
  std::ifstream in{token_file};
  if (!in)
    return "cannot read the token file '" + token_file + "'";
  std::string token;
  std::getline(in, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ' || token.back() == '\t'))
    token.pop_back();
  if (token.empty())
    return "the token file '" + token_file + "' is empty";
  out.token = std::move(token);
  return std::nullopt;
}

} // namespace callgrid::ctl

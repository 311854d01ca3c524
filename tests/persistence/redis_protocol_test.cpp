#define CAF_SUITE persistence.redis_protocol

#include <caf/test/unit_test.hpp>

#include <string>
#include <vector>

#include "persistence/redis_protocol.hpp"

using namespace callgrid::persistence;

CAF_TEST(a command is an array of bulk strings) {
  std::string out;
  std::vector<std::string> hset{"HSET", "cg:journal:node-a", "uuid-1", "{\"caller\":\"1000\"}"};
  append_redis_command(out, hset);
  CAF_CHECK_EQUAL(out, "*4\r\n$4\r\nHSET\r\n$17\r\ncg:journal:node-a\r\n$6\r\nuuid-1\r\n"
                       "$17\r\n{\"caller\":\"1000\"}\r\n");
}

CAF_TEST(arguments are binary safe and commands append) {
  std::string out = "kept";
  std::vector<std::string> set{"SET", std::string("k\0\r\n", 4), ""};
  append_redis_command(out, set);
  CAF_CHECK_EQUAL(out, std::string("kept*3\r\n$3\r\nSET\r\n$4\r\nk\0\r\n\r\n$0\r\n\r\n", 33));
  std::string big(12345, 'x');
  std::string long_form;
  append_redis_command(long_form, std::vector<std::string>{"ECHO", big});
  CAF_CHECK_EQUAL(long_form, "*2\r\n$4\r\nECHO\r\n$12345\r\n" + big + "\r\n");
}

#include "actors/event_batcher.hpp"

#include <mutex>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <caf/send.hpp>

#include "actors/messages.hpp"
#include "esl/frame.hpp"

namespace callgrid::actors {

namespace {

class batcher_impl final : public event_batcher {
public:
  batcher_impl(boost::asio::io_context& io, caf::actor supervisor)
    : io_(io), supervisor_(std::move(supervisor)) {
  }

  void add(esl::frame&& event) override {
    auto shared = std::make_shared<const esl::frame>(std::move(event));
    bool first;
    {
      std::lock_guard lock{mutex_};
      first = pending_.empty();
      pending_.push_back(std::move(shared));
    }
    if (first)
      boost::asio::post(io_, [self = shared_from_this()] { self->flush(); });
  }

  void flush() override {
    // Sent under the lock: two flushes on two threads must not overtake each other.
    std::lock_guard lock{mutex_};
    if (pending_.empty())
      return;
    caf::anon_send(supervisor_, esl_events{std::exchange(pending_, {})});
  }

private:
  boost::asio::io_context& io_;
  caf::actor supervisor_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<const esl::frame>> pending_;
};

} // namespace

std::shared_ptr<event_batcher> event_batcher::make(boost::asio::io_context& io,
                                                   caf::actor supervisor) {
  return std::make_shared<batcher_impl>(io, std::move(supervisor));
}

} // namespace callgrid::actors

#pragma once

#include <memory>

namespace callgrid::esl {

class connection;

/// While a write_batch lives on a thread, the commands that thread sends on any connection are
/// held back and leave when it ends, in one write per connection instead of one per command.
/// callgridd's I/O thread holds one around each I/O handler and the actors that handler woke
/// (actors::io_thread_scheduler::run_io), so the commands caused by all the events of one
/// socket read cost one send(2). Commands other threads send on a connection with held-back
/// commands queue behind them (order is kept). An instance nested in another defers to the
/// outer one. Not for code that waits for a reply inside the batch: the command would not
/// leave before the wait ends.
class write_batch {
public:
  write_batch() noexcept;
  ~write_batch();
  write_batch(const write_batch&) = delete;
  write_batch& operator=(const write_batch&) = delete;

  /// Whether a batch is open on the calling thread.
  [[nodiscard]] static bool open() noexcept;

private:
  friend class connection;
  /// Registers `link` to be flushed when the outermost batch of this thread ends.
  static void hold(std::shared_ptr<connection> link);

  bool outermost_;
};

} // namespace callgrid::esl

#include "persistence/record_pipeline.hpp"

#include <pthread.h>

#include <algorithm>
#include <iterator>
#include <utility>

namespace callgrid::persistence {

caf::expected<std::unique_ptr<record_pipeline>>
record_pipeline::start(record_spool spool, record_pipeline_options options) {
  std::unique_ptr<record_pipeline> pipeline{
    new record_pipeline(std::move(spool), std::move(options))};
  if (pipeline->shipping_) {
    const auto threads = std::max<std::size_t>(pipeline->options_.connections, 1);
    for (std::size_t i = 0; i < threads; ++i)
      pipeline->shippers_.emplace_back([p = pipeline.get()] {
        pthread_setname_np(pthread_self(), "cg.pg-ship"); // shown by top -H and in bench logs
        p->ship_loop();
      });
  }
  return pipeline;
}

record_pipeline::record_pipeline(record_spool spool, record_pipeline_options options)
  : options_(std::move(options)),
    report_(spool.report()),
    shipping_(!options_.batcher.conninfo.empty()),
    spool_(std::move(spool)) {
  ack_wanted_.store(spool_.acknowledged_up_to());
  appended_up_to_ = spool_.next_sequence() - 1;
  committed_up_to_ = spool_.acknowledged_up_to();
  next_to_claim_ = committed_up_to_ + 1;
  contiguous_up_to_ = committed_up_to_;
  stats_.pending = appended_up_to_ - committed_up_to_;
}

record_pipeline::~record_pipeline() {
  {
    std::lock_guard guard{state_mutex_};
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& shipper : shippers_)
    shipper.join();
  apply_acknowledgement();
}

void record_pipeline::warn(const std::string& line) const {
  if (options_.log_warning)
    options_.log_warning(line);
}

caf::expected<sequence_range> record_pipeline::append(std::vector<call_record>& records) {
  std::unique_lock spool_lock{spool_mutex_};
  auto range = spool_.append(records);
  if (!range)
    return range;
  // A shipping thread may have committed while this append held the spool.
  acknowledge_locked(ack_wanted_.load());
  {
    // Still under the spool lock, so that concurrent appends reach the buffer in order.
    std::lock_guard guard{state_mutex_};
    const auto count = records.size();
    if (count > 0) {
      appended_up_to_ = range->last();
      stats_.appended += count;
      stats_.pending = appended_up_to_ - committed_up_to_;
      if (shipping_ && buffered_records_ + count <= options_.max_buffered_records) {
        buffered_records_ += count;
        buffer_.push_back(buffered_batch{range->first, std::move(records)});
      }
    }
    records.clear();
  }
  spool_lock.unlock();
  wake_.notify_one();
  return range;
}

uint64_t record_pipeline::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock{state_mutex_};
  if (!shipping_)
    return appended_up_to_ - committed_up_to_;
  const auto target = appended_up_to_;
  const auto failures_before = failure_count_;
  ++retry_now_;
  wake_.notify_all();
  progress_.wait_for(lock, timeout, [&] {
    return committed_up_to_ >= target || failure_count_ != failures_before || stop_;
  });
  const auto pending = appended_up_to_ - committed_up_to_;
  lock.unlock();
  apply_acknowledgement();
  return pending;
}

record_pipeline_stats record_pipeline::stats() const {
  std::lock_guard guard{state_mutex_};
  auto out = stats_;
  out.pending = appended_up_to_ - committed_up_to_;
  return out;
}

std::optional<std::chrono::microseconds>
record_pipeline::oldest_pending_age(caf::timestamp now) {
  std::lock_guard guard{spool_mutex_};
  acknowledge_locked(ack_wanted_.load());
  return spool_.oldest_pending_age(now);
}

uint64_t record_pipeline::committed_up_to() const {
  std::lock_guard guard{state_mutex_};
  return committed_up_to_;
}

void record_pipeline::apply_acknowledgement() {
  std::lock_guard guard{spool_mutex_};
  acknowledge_locked(ack_wanted_.load());
}

void record_pipeline::acknowledge_locked(uint64_t up_to) {
  if (up_to <= spool_.acknowledged_up_to())
    return;
  if (auto err = spool_.acknowledge(up_to))
    warn("acknowledging shipped call records in the spool failed (they will be sent again "
         "after a restart): "
         + render_error(err));
}

caf::error record_pipeline::next_batch(uint64_t next, std::vector<call_record>& batch,
                                       uint64_t& last) {
  const auto batch_size = std::max<std::size_t>(options_.batcher.batch_size, 1);
  uint64_t read_limit = UINT64_MAX;
  {
    std::lock_guard guard{state_mutex_};
    // Batches the spool already delivered (read back while they were buffered) are dropped.
    while (!buffer_.empty()
           && buffer_.front().first + buffer_.front().records.size() <= next) {
      buffered_records_ -= buffer_.front().records.size();
      buffer_.pop_front();
    }
    if (!buffer_.empty() && buffer_.front().first <= next) {
      // From memory: whole buffered batches, and the front part of one that does not fit.
      while (!buffer_.empty() && batch.size() < batch_size) {
        auto& front = buffer_.front();
        const auto expected = next + batch.size();
        if (front.first > expected)
          break;
        const auto skip = static_cast<std::size_t>(expected - front.first);
        const auto take = std::min(batch_size - batch.size(), front.records.size() - skip);
        auto begin = front.records.begin() + static_cast<std::ptrdiff_t>(skip);
        auto end = begin + static_cast<std::ptrdiff_t>(take);
        std::move(begin, end, std::back_inserter(batch));
        if (skip + take == front.records.size()) {
          buffered_records_ -= front.records.size();
          buffer_.pop_front();
        } else {
          // What is left of this batch goes next time.
          buffered_records_ -= skip + take;
          front.records.erase(front.records.begin(), end);
          front.first += skip + take;
        }
      }
      last = next + batch.size() - 1;
      return {};
    }
    if (!buffer_.empty())
      read_limit = buffer_.front().first - next;
  }
  // From disk: records from before a restart, or ones that did not fit the buffer; stop where
  // the buffer starts.
  std::lock_guard guard{spool_mutex_};
  auto entries = spool_.read(next, static_cast<std::size_t>(
                                     std::min<uint64_t>(batch_size, read_limit)));
  if (!entries)
    return std::move(entries.error());
  for (auto& entry : *entries)
    batch.push_back(std::move(entry.record));
  // Nothing readable from `next` on: everything the spool holds up to now is accounted for.
  last = entries->empty() ? spool_.next_sequence() - 1 : entries->back().sequence;
  std::lock_guard state_guard{state_mutex_};
  stats_.read_back += entries->size();
  return {};
}

bool record_pipeline::claim_batch(std::vector<call_record>& batch, uint64_t& first,
                                  uint64_t& last) {
  std::lock_guard claim{claim_mutex_};
  {
    std::lock_guard guard{state_mutex_};
    first = next_to_claim_;
    if (appended_up_to_ < first)
      return true; // another thread took it all
  }
  if (auto err = next_batch(first, batch, last)) {
    std::lock_guard guard{state_mutex_};
    ++failure_count_;
    ++stats_.ship_failures;
    progress_.notify_all();
    warn("reading call records back from the spool failed: " + render_error(err));
    return false;
  }
  std::lock_guard guard{state_mutex_};
  if (last >= first)
    next_to_claim_ = last + 1;
  return true;
}

void record_pipeline::record_commit(uint64_t first, uint64_t last, bool acknowledge) {
  {
    // Held across the whole step so that commits become visible (callback, acknowledgement,
    // `committed_up_to`, `flush`) in order, and only after `on_committed` saw them.
    std::lock_guard publishing{publish_mutex_};
    uint64_t contiguous = 0;
    {
      std::lock_guard guard{state_mutex_};
      committed_ahead_[first] = last;
      // Only what has no uncommitted batch before it counts as committed (and is acknowledged).
      for (auto it = committed_ahead_.begin();
           it != committed_ahead_.end() && it->first <= contiguous_up_to_ + 1;
           it = committed_ahead_.erase(it))
        contiguous_up_to_ = std::max(contiguous_up_to_, it->second);
      contiguous = contiguous_up_to_;
    }
    if (contiguous <= committed_up_to())
      return;
    if (options_.on_committed)
      options_.on_committed(contiguous);
    if (acknowledge) {
      uint64_t wanted = ack_wanted_.load();
      while (wanted < contiguous && !ack_wanted_.compare_exchange_weak(wanted, contiguous)) {
      }
    }
    std::lock_guard guard{state_mutex_};
    committed_up_to_ = contiguous;
    stats_.pending = appended_up_to_ - committed_up_to_;
  }
  progress_.notify_all();
  // The spool is busy while an append waits for its fdatasync (that append then applies the
  // acknowledgement itself) or while the other shipping thread acknowledges: this thread goes
  // on with the next batch rather than wait. Whoever held the spool looks again afterwards.
  for (;;) {
    std::unique_lock spool_lock{spool_mutex_, std::try_to_lock};
    if (!spool_lock.owns_lock())
      return;
    const auto target = ack_wanted_.load();
    acknowledge_locked(target);
    spool_lock.unlock();
    if (ack_wanted_.load() <= target)
      return;
  }
}

void record_pipeline::ship_loop() {
  record_batcher batcher{options_.batcher};
  // Connected before the first record arrives, as a daemon should be; when the database is not
  // there yet, the first batch tries again (and its failures are reported).
  if (auto err = batcher.prepare())
    warn("preparing the connection for call records failed (the first batch tries again): "
         + render_error(err));
  std::vector<call_record> batch;
  uint64_t batch_first = 0;
  uint64_t batch_last = 0;
  auto retry_at = std::chrono::steady_clock::time_point{};
  uint64_t retry_now_seen = 0;
  for (;;) {
    {
      std::unique_lock lock{state_mutex_};
      for (;;) {
        if (stop_)
          return;
        if (batch.empty()) {
          if (appended_up_to_ >= next_to_claim_ && std::chrono::steady_clock::now() >= retry_at)
            break;
        } else if (std::chrono::steady_clock::now() >= retry_at || retry_now_ != retry_now_seen) {
          break;
        }
        if (retry_at > std::chrono::steady_clock::now())
          wake_.wait_until(lock, retry_at);
        else
          wake_.wait(lock);
      }
      retry_now_seen = retry_now_;
    }
    if (batch.empty()) {
      if (!claim_batch(batch, batch_first, batch_last)) {
        retry_at = std::chrono::steady_clock::now() + options_.batcher.retry_max;
        continue;
      }
      if (batch.empty()) {
        // Sequence numbers without an entry (quarantined by the spool's open), or nothing left
        // to take: nothing to ship there.
        if (batch_last >= batch_first)
          record_commit(batch_first, batch_last, true);
        continue;
      }
    }
    auto shipped = batcher.deliver(batch);
    if (!shipped) {
      auto failures = batcher.consecutive_failures();
      auto delay = batcher.next_retry_delay();
      retry_at = std::chrono::steady_clock::now() + delay;
      {
        std::lock_guard guard{state_mutex_};
        ++failure_count_;
        ++stats_.ship_failures;
        stats_.consecutive_failures = failures;
      }
      progress_.notify_all();
      if (failures == 1 || failures % 20 == 0)
        warn("shipping call records failed " + std::to_string(failures)
             + " time(s) in a row, retrying in " + std::to_string(delay.count())
             + " ms; records stay in the spool: " + render_error(shipped.error()));
      continue;
    }
    retry_at = {};
    if (shipped->partition_error)
      warn("creating cdr partitions failed (rows go to the default partition): "
           + render_error(shipped->partition_error));
    const bool acknowledge = !options_.batcher.after_commit || options_.batcher.after_commit();
    {
      std::lock_guard guard{state_mutex_};
      stats_.stored += shipped->inserted;
      stats_.duplicates += shipped->duplicates();
      ++stats_.batches;
      if (shipped->fallback)
        ++stats_.fallbacks;
      stats_.consecutive_failures = 0;
    }
    batch.clear();
    record_commit(batch_first, batch_last, acknowledge);
  }
}

} // namespace callgrid::persistence

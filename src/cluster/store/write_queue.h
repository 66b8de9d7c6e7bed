// WriteQueue: the group commit that SqliteStore and PostgresStore share (the write half of the
// StateStore contract, state_store.h), parameterized by the store's connection type.
//
// Every write is queued, with a ticket, to one writer thread. The writer takes everything queued
// so far (up to max_batch writes) and hands it to the store's RunBatch, which runs it inside one
// transaction and commits once. If the batch fails, RunBatch has rolled it back whole, and each of
// its writes is run again in a transaction of its own, so that a failure is reported for exactly
// the writes that failed and no batch is ever half applied. Writes are applied in the order they
// were queued, so a caller that queues under its own lock gets the database to follow its
// in-memory order. A caller that needs durability waits for its ticket (Wait); others go on.
//
// Two exceptions to the retries, failures of the batch rather than of a write: a batch that failed
// with kUnavailable (the store cannot be reached: PostgresStore's server went away) or with
// kFailedPrecondition (the store's fence refused it: this coordinator is deposed) fails whole,
// every write with that status, instead of trying once per write (and so do the rest of a batch
// being retried write by write when one of them fails so). The store tries to reconnect at its
// next batch.
//
// Failed writes are counted (FailedWrites) whether or not anyone waits on them, and the latest
// failure is kept (LastWriteError): that is how the coordinator notices that the store cannot
// write.
//
// Thread-safety: Enqueue, Wait, Flush and the counters may be called from any thread. RunBatch is
// called on the writer thread only, one call at a time, with no lock of the queue held.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "cluster/common/mutex.h"
#include "cluster/store/state_store.h"

namespace muster::cluster {

template <typename Conn>
class WriteQueue {
 public:
  using Ticket = StateStore::Ticket;
  // One write: runs its statements on the connection, inside the batch's transaction.
  using Write = std::function<Status(Conn&)>;
  // Runs `writes` in one transaction: commits all of them and returns Ok, or rolls all of them
  // back and returns why.
  using RunBatch = std::function<Status(std::span<Write> writes)>;

  // Starts the writer thread. `run` must stay callable until Stop() returns.
  WriteQueue(int max_batch, RunBatch run)
      : max_batch_(std::max(1, max_batch)), run_(std::move(run)) {
    writer_ = std::thread([this] { WriterLoop(); });
  }
  ~WriteQueue() { Stop(); }
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;

  // Commits everything queued so far, then stops the writer thread; idempotent.
  // REQUIRES: nothing is queued after it (a ticket queued later would never be answered).
  void Stop() EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      stopping_ = true;
    }
    queued_cv_.notify_all();
    if (writer_.joinable()) writer_.join();
  }

  Ticket Enqueue(Write write) EXCLUDES(mu_) {
    Ticket t;
    {
      MutexLock lock(mu_);
      queue_.push_back(std::move(write));
      t = next_ticket_++;
    }
    queued_cv_.notify_one();
    return t;
  }

  // Blocks until the write with this ticket is committed (or has failed); returns its status.
  // A failure is answered once: a second Wait on the same ticket returns Ok.
  Status Wait(Ticket t) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    committed_cv_.wait(lock, [&]() REQUIRES(mu_) { return committed_ >= t; });
    auto it = failed_.find(t);
    if (it == failed_.end()) return Status::Ok();
    Status s = it->second;
    failed_.erase(it);
    return s;
  }

  // Blocks until every write queued so far is done.
  Status Flush() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    const Ticket last = next_ticket_ - 1;
    committed_cv_.wait(lock, [&]() REQUIRES(mu_) { return committed_ >= last; });
    return Status::Ok();
  }

  // Batches run so far (committed, or failed and retried write by write).
  uint64_t CommittedBatches() const EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return batches_;
  }
  uint64_t FailedWrites() const EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return failed_count_;
  }
  Status LastWriteError() const EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return last_error_;
  }

 private:
  static constexpr size_t kMaxUnansweredFailures = 100000;  // failed tickets nobody waited on

  static bool FailsWhole(const Status& s) {
    return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kFailedPrecondition;
  }

  void WriterLoop() EXCLUDES(mu_) {
    for (;;) {
      std::vector<Write> batch;
      Ticket first = 0;
      {
        MutexLock lock(mu_);
        queued_cv_.wait(lock, [&]() REQUIRES(mu_) { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping and drained
        first = committed_ + 1;
        const size_t n = std::min(queue_.size(), static_cast<size_t>(max_batch_));
        for (size_t i = 0; i < n; ++i) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      std::vector<std::pair<Ticket, Status>> errors;
      const std::span<Write> all(batch);
      Status s = run_(all);
      if (!s.ok() && FailsWhole(s)) {
        for (size_t i = 0; i < batch.size(); ++i) errors.emplace_back(first + i, s);
      } else if (!s.ok() && batch.size() > 1) {
        // One write failed (or the commit did): the batch was rolled back whole. Apply each write
        // in its own transaction, so that only the failing ones report failure.
        // Should the store become unreachable meanwhile, the rest fail with that at once.
        for (size_t i = 0; i < batch.size(); ++i) {
          Status one = run_(all.subspan(i, 1));
          if (one.ok()) continue;
          errors.emplace_back(first + i, one);
          if (FailsWhole(one)) {
            for (size_t k = i + 1; k < batch.size(); ++k) errors.emplace_back(first + k, one);
            break;
          }
        }
      } else if (!s.ok()) {
        errors.emplace_back(first, s);
      }
      {
        MutexLock lock(mu_);
        for (auto& [t, e] : errors) failed_[t] = e;
        failed_count_ += errors.size();
        if (!errors.empty()) last_error_ = errors.back().second;
        while (failed_.size() > kMaxUnansweredFailures) failed_.erase(failed_.begin());
        committed_ = first + batch.size() - 1;
        ++batches_;
      }
      committed_cv_.notify_all();
    }
  }

  const int max_batch_;
  const RunBatch run_;

  mutable Mutex mu_;
  std::condition_variable_any queued_cv_;
  std::condition_variable_any committed_cv_;
  std::deque<Write> queue_ GUARDED_BY(mu_);
  Ticket next_ticket_ GUARDED_BY(mu_) = 1;           // ticket of the next queued write
  Ticket committed_ GUARDED_BY(mu_) = 0;             // all tickets <= this are done
  std::map<Ticket, Status> failed_ GUARDED_BY(mu_);  // failed writes not yet waited on
  uint64_t failed_count_ GUARDED_BY(mu_) = 0;
  Status last_error_ GUARDED_BY(mu_);
  uint64_t batches_ GUARDED_BY(mu_) = 0;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread writer_;
};

}  // namespace muster::cluster

// Agent sessions: connect, register, serve commands, write queued messages and heartbeats,
// reconnect with backoff. See agent.h for the protocol and its guarantees.
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

#include "cluster/agent/agent.h"
#include "cluster/agent/join.h"
#include "cluster/common/convert.h"
#include "cluster/common/coordinator_list.h"
#include "cluster/common/link_limits.h"
#include "cluster/common/pki.h"
#include "cluster/proto/muster.grpc.pb.h"

namespace muster::agent {

namespace {

using ExitKey = std::tuple<int64_t, int32_t, int64_t>;

}  // namespace

struct Agent::Session {
  grpc::ClientContext ctx;
  int64_t renew_at_ms = 0;  // wall time to end the session and renew the node certificate
  std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::CoordinatorMessage>> stream;
  bool done = false;     // GUARDED_BY(Agent::mu_)
  bool replied = false;  // GUARDED_BY(Agent::mu_)
};

Status Agent::Run() {
  int64_t backoff = options_.initial_backoff_ms;
  bool said_waiting = false;
  size_t round_start = coordinator_at_;  // a round of the list without an answer backs off
  std::minstd_rand rng(static_cast<unsigned>(getpid()));
  while (true) {
    bool fatal = false, registered = false;
    Status s = RunSession(&fatal, &registered);
    if (fatal) {
      launcher_->StopAll(options_.stop_grace_ms);
      return s;
    }
    {
      std::lock_guard lock(mu_);
      if (shutting_down_) return Status::Ok();
    }
    if (registered) {
      backoff = options_.initial_backoff_ms;
      spdlog::warn("lost the coordinator at {} ({}); {} task(s) keep running; reconnecting",
                   coordinators_[coordinator_at_], s.message(), launcher_->Running().size());
      said_waiting = true;
      round_start = coordinator_at_;
    } else if (!said_waiting) {
      spdlog::info("waiting for the coordinator at {} ({})", options_.coordinator, s.message());
      said_waiting = true;
    }
    // The next coordinator of the list at once (the leader may be another now); a wait only
    // once all of them were tried.
    coordinator_at_ = cluster::NextCoordinator(coordinator_at_, coordinators_.size());
    if (coordinator_at_ != round_start) continue;
    std::uniform_int_distribution<int64_t> jitter(0, backoff / 5);
    if (!WaitBackoff(backoff + jitter(rng))) return Status::Ok();
    backoff = std::min(backoff * 2, options_.max_backoff_ms);
  }
}

bool Agent::WaitBackoff(int64_t ms) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return shutting_down_; });
}

void Agent::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) return;
    shutting_down_ = true;
  }
  cv_.notify_all();
  const size_t n = launcher_->Running().size();
  if (n > 0) spdlog::info("stopping {} task(s)", n);
  launcher_->StopAll(options_.stop_grace_ms);
  std::unique_lock lock(mu_);
  // Give the writer a moment to report the ends, then close the link.
  cv_.wait_for(lock, std::chrono::seconds(2), [&] {
    if (!connected_) return true;
    for (const auto& e : exits_)
      if (!e.sent) return false;
    return outbox_.empty();
  });
  if (live_ctx_) live_ctx_->TryCancel();
  cv_.notify_all();
}

Status Agent::RunSession(bool* fatal, bool* registered) {
  int64_t renew_at_ms = 0;
  if (!options_.transport.cert_pem.empty()) {
    auto renewed = RenewIfDue(coordinators_[coordinator_at_], options_.transport, options_.work_dir,
                              options_.renew_before_ms);
    if (!renewed.ok()) {
      spdlog::warn("cannot renew this node's certificate yet: {}", renewed.status().message());
    } else if (renewed->cert_pem != options_.transport.cert_pem) {
      spdlog::info("renewed this node's certificate");
      options_.transport = *renewed;
    }
    if (auto info = cluster::ReadCert(options_.transport.cert_pem); info.ok())
      renew_at_ms = std::max(info->not_after_ms - options_.renew_before_ms,
                             WallMs() + 10 * 60 * 1000);  // a failed renewal is retried later
  }
  grpc::ChannelArguments args = cluster::LinkChannelArgs(/*keepalive=*/true);
  // With several coordinators, each session's channel is its own (not sharing a refused
  // address's reconnect backoff), so that the new leader is reached as soon as it listens.
  if (coordinators_.size() > 1) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel =
      grpc::CreateCustomChannel(coordinators_[coordinator_at_],
                                cluster::MakeChannelCredentials(options_.transport), args);
  auto stub = v1::AgentLink::NewStub(channel);
  Session s;
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) return Status::Ok();
    live_ctx_ = &s.ctx;
  }
  auto end_session = [&](Status st) {
    {
      std::lock_guard lock(mu_);
      s.done = true;
      live_ctx_ = nullptr;
    }
    cv_.notify_all();
    return st;
  };
  if (options_.credentials) {
    auto token = options_.credentials->Token();
    if (!token.ok()) {
      if (token.status().code() == StatusCode::kPermissionDenied && !registered_once_)
        *fatal = true;
      return end_session(token.status());
    }
    if (!token->empty()) s.ctx.AddMetadata("authorization", "Bearer " + *token);
  }
  s.renew_at_ms = renew_at_ms;
  s.stream = stub->Connect(&s.ctx);
  v1::AgentMessage reg;
  *reg.mutable_register_() = BuildRegister();
  // A coordinator that accepts the connection but never answers is given up on.
  std::thread watchdog([&] {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::milliseconds(options_.register_timeout_ms),
                      [&] { return s.replied || s.done || shutting_down_; }))
      s.ctx.TryCancel();
  });
  v1::CoordinatorMessage m;
  const int64_t register_sent = TaskKeeper::NowMs();
  const bool wrote = s.stream->Write(reg);
  const bool got = wrote && s.stream->Read(&m);
  {
    std::lock_guard lock(mu_);
    s.replied = true;
  }
  cv_.notify_all();
  watchdog.join();
  if (!got || !m.has_register_reply()) {
    // A stream the coordinator ended (a refused credential) carries its status; cancelling it
    // first would hide that behind CANCELLED.
    if (got || !wrote) s.ctx.TryCancel();
    grpc::Status st = s.stream->Finish();
    if (st.error_code() == grpc::StatusCode::UNAUTHENTICATED && options_.credentials &&
        options_.credentials->Refresh())  // a local session a restarted coordinator forgot
      return end_session(Status::Unavailable(st.error_message()));
    if ((st.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
         st.error_code() == grpc::StatusCode::PERMISSION_DENIED) &&
        !registered_once_) {
      *fatal = true;  // the caller prints the one error line
      return end_session(cluster::FromGrpcStatus(st));
    }
    return end_session(Status::Unavailable(st.ok() ? "no registration reply" : st.error_message()));
  }
  const v1::RegisterReply& reply = m.register_reply();
  if (!reply.accepted()) {
    s.ctx.TryCancel();
    s.stream->Finish();
    if (!registered_once_)
      *fatal = true;  // the caller prints the one error line
    else
      spdlog::warn("registration refused: {}; retrying", reply.error());
    return end_session(Status::FailedPrecondition(reply.error()));
  }
  *registered = true;
  if (reply.lease_ms() > 0) {
    keeper_->SetGrace(reply.fence_grace_ms());
    keeper_->Renew(register_sent + reply.lease_ms());
    lease_ms_seen_.store(reply.lease_ms());
    lease_reply_ms_.store(TaskKeeper::NowMs());
  }
  const bool again = registered_once_;
  registered_once_ = true;
  for (const auto& k : reply.kill()) {
    spdlog::info("coordinator does not know job {} task {} attempt {}: killing it", k.job_id(),
                 k.task_index(), k.attempt());
    KillAttempt(k.job_id(), k.task_index(), k.attempt(), 0);
  }
  {
    std::lock_guard lock(mu_);
    if (reply.heartbeat_interval_ms() > 0) heartbeat_ms_ = reply.heartbeat_interval_ms();
    connected_ = true;
    // Exits during the outage, and those sent just before it, go out again.
    int resent = 0;
    for (auto& e : exits_)
      if (e.sent && e.sent_ms >= last_disconnect_ms_ - kResendWindowMs) {
        e.sent = false;
        ++resent;
      }
    if (dropped_log_bytes_ > 0)
      spdlog::warn("dropped {} bytes of task output while disconnected (kept in {}/logs)",
                   dropped_log_bytes_, options_.work_dir);
    dropped_log_bytes_ = 0;
    (void)resent;
  }
  spdlog::info("{} with the coordinator at {}: {}", again ? "registered again" : "registered",
               coordinators_[coordinator_at_], Describe());
  std::thread writer([&] { WriterLoop(s); });
  while (s.stream->Read(&m)) HandleCommand(m);
  {
    std::lock_guard lock(mu_);
    connected_ = false;
    s.done = true;
    last_disconnect_ms_ = WallMs();
  }
  cv_.notify_all();
  writer.join();
  grpc::Status st = s.stream->Finish();
  return end_session(Status::Unavailable(st.ok() ? "stream closed" : st.error_message()));
}

void Agent::WriterLoop(Session& s) {
  const int64_t session_start = TaskKeeper::NowMs();
  auto next_heartbeat = std::chrono::steady_clock::now();
  auto next_prune = std::chrono::steady_clock::now();
  auto fail = [&] {
    std::lock_guard lock(mu_);
    s.done = true;
    s.ctx.TryCancel();
  };
  while (true) {
    std::deque<v1::AgentMessage> batch;
    std::vector<v1::TaskProgress> progress;
    std::vector<v1::TaskEvent> exits;
    int64_t hb_ms;
    {
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, next_heartbeat, [&] {
        if (s.done || !outbox_.empty() || !progress_.empty()) return true;
        for (const auto& e : exits_)
          if (!e.sent) return true;
        return false;
      });
      if (s.done) return;
      batch.swap(outbox_);
      outbox_log_bytes_ = 0;
      for (auto& [k, p] : progress_) progress.push_back(std::move(p));
      progress_.clear();
      for (const auto& e : exits_)
        if (!e.sent) exits.push_back(e.event);
      hb_ms = heartbeat_ms_;
    }
    while (!batch.empty()) {
      if (!s.stream->Write(batch.front())) {
        std::lock_guard lock(mu_);
        for (const auto& m : batch)
          if (m.has_log()) outbox_log_bytes_ += m.log().data().size();
        outbox_.insert(outbox_.begin(), batch.begin(), batch.end());  // kept for the next session
        s.done = true;
        s.ctx.TryCancel();
        return;
      }
      batch.pop_front();
    }
    for (auto& p : progress) {
      v1::AgentMessage m;
      *m.mutable_progress() = std::move(p);
      if (!s.stream->Write(m)) return fail();
    }
    for (auto& e : exits) {
      v1::AgentMessage m;
      *m.mutable_event() = e;
      if (!s.stream->Write(m)) return fail();
      std::lock_guard lock(mu_);
      for (auto& x : exits_)
        if (std::tuple(x.event.job_id(), x.event.task_index(), x.event.attempt()) ==
            ExitKey{e.job_id(), e.task_index(), e.attempt()}) {
          x.sent = true;
          x.sent_ms = WallMs();
        }
    }
    if (!exits.empty()) cv_.notify_all();
    if (options_.log_retention_ms > 0 && std::chrono::steady_clock::now() >= next_prune) {
      next_prune = std::chrono::steady_clock::now() + std::chrono::hours(1);
      if (int n = launcher_->PruneLogs(WallMs() - options_.log_retention_ms); n > 0)
        spdlog::info("removed {} task log files older than {} s", n,
                     options_.log_retention_ms / 1000);
    }
    if (s.renew_at_ms > 0 && WallMs() >= s.renew_at_ms) {
      spdlog::info("this node's certificate is due for renewal: making the link again");
      return fail();
    }
    // With several coordinators, a leader that stopped answering without closing the link (its
    // host died, or it is cut off) is left after half a lease, not after the link's keepalive
    // (20 s): the next one may lead by then, and the tasks' lease must not run out meanwhile.
    if (coordinators_.size() > 1 && lease_ms_seen_.load() > 0) {
      const int64_t silent =
          TaskKeeper::NowMs() - std::max(session_start, lease_reply_ms_.load());
      if (silent * 2 > lease_ms_seen_.load()) {
        spdlog::warn("the coordinator at {} has not answered for {} ms: trying the next",
                     coordinators_[coordinator_at_], silent);
        return fail();
      }
    }
    if (std::chrono::steady_clock::now() >= next_heartbeat) {
      v1::AgentMessage m;
      *m.mutable_heartbeat()->mutable_usage() = sampler_->Sample(launcher_->Running(), WallMs());
      {
        std::lock_guard lock(mu_);
        m.mutable_heartbeat()->set_seq(++heartbeat_seq_);
        heartbeats_sent_.push_back({heartbeat_seq_, TaskKeeper::NowMs()});
        while (heartbeats_sent_.size() > 256) heartbeats_sent_.pop_front();
      }
      if (!s.stream->Write(m)) return fail();
      next_heartbeat = std::chrono::steady_clock::now() + std::chrono::milliseconds(hb_ms);
    }
  }
}

void Agent::HandleCommand(const v1::CoordinatorMessage& m) {
  if (m.has_lease()) {
    int64_t sent = -1;
    {
      std::lock_guard lock(mu_);
      for (const auto& [seq, at] : heartbeats_sent_)
        if (seq == m.lease().seq()) sent = at;
    }
    if (sent >= 0 && m.lease().lease_ms() > 0) keeper_->Renew(sent + m.lease().lease_ms());
    lease_ms_seen_.store(m.lease().lease_ms());
    lease_reply_ms_.store(TaskKeeper::NowMs());
    return;
  }
  if (m.has_launch()) {
    launches_->Submit(m.launch());  // off this thread: a spawn may hang (launch_pool.h)
  } else if (m.has_kill()) {
    const v1::Kill& k = m.kill();
    KillAttempt(k.job_id(), k.task_index(), k.attempt(), k.grace_ms(), k.reason());
  }
}

void Agent::KillAttempt(int64_t job_id, int32_t task_index, int64_t attempt, int64_t grace_ms,
                        const std::string& reason) {
  switch (launches_->Cancel(job_id, task_index, attempt, grace_ms)) {
    case LaunchPool::Cancelled::kWillKill:
      return;  // stopped as soon as its spawn returns
    case LaunchPool::Cancelled::kDropped: {
      launcher_->NoteAttempt(job_id, task_index, attempt);  // a late repeat stays refused
      v1::TaskEvent e;
      e.set_job_id(job_id);
      e.set_task_index(task_index);
      e.set_attempt(attempt);
      e.set_state(v1::TASK_STATE_LOST);  // not its own outcome: it never ran
      e.set_message("stopped on request before it started on " + node_.spec.name);
      e.set_time_ms(WallMs());
      OnEvent(e);
      return;
    }
    case LaunchPool::Cancelled::kNotHere:
      if (Status s = launcher_->Kill(job_id, task_index, attempt, grace_ms, reason); !s.ok())
        spdlog::debug("kill ignored: {}", s.message());
  }
}

void Agent::StartLaunch(const v1::Launch& l) {
  Status st = launcher_->Launch(l);
  if (st.ok()) return;
  spdlog::warn("launch refused: {}", st.message());
  // A stale attempt gets no answer (the coordinator ignores it anyway); a malformed launch, or
  // one whose user cannot run here, fails; one that arrives during shutdown or after the
  // node's lease ran out is handed back to be placed elsewhere.
  if (st.code() == StatusCode::kInvalidArgument || st.code() == StatusCode::kUnavailable ||
      st.code() == StatusCode::kNotFound || st.code() == StatusCode::kPermissionDenied ||
      st.code() == StatusCode::kInternal) {
    const bool stopping = st.code() == StatusCode::kUnavailable;
    v1::TaskEvent e;
    e.set_job_id(l.job_id());
    e.set_task_index(l.task_index());
    e.set_attempt(l.attempt());
    e.set_state(stopping ? v1::TASK_STATE_LOST : v1::TASK_STATE_FAILED);
    e.set_exit_code(stopping ? 0 : 127);
    e.set_message(stopping ? "not started on " + node_.spec.name + ": " + st.message()
                           : st.message());
    e.set_time_ms(WallMs());
    OnEvent(e);
  }
}

}  // namespace muster::agent

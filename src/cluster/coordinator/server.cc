#include "cluster/coordinator/server.h"

#include <grpcpp/grpcpp.h>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "cluster/common/convert.h"
#include "cluster/common/credentials.h"
#include "cluster/common/gateway_delegation.h"
#include "cluster/common/link_limits.h"
#include "cluster/common/wall_time.h"
#include "cluster/common/pki.h"
#include "cluster/coordinator/access.h"
#include "cluster/coordinator/refusal_sampler.h"
#include "cluster/coordinator/wire_views.h"
#include "cluster/store/backup.h"
#include "cluster/store/open_store.h"
#include "cluster/proto/muster.grpc.pb.h"

namespace muster::cluster {

TimeMs WallClock::MonotonicMs() const { return SteadyMs(); }

TimeMs WallClock::NowMs() const { return WallMs(); }

namespace {

using AgentStream = grpc::ServerReaderWriter<v1::CoordinatorMessage, v1::AgentMessage>;

// The downlink of one agent stream: an outbox drained by its own writer thread.
class AgentSession final : public AgentChannel {
 public:
  AgentSession(grpc::ServerContext* ctx, AgentStream* stream) : ctx_(ctx), stream_(stream) {
    writer_ = std::thread([this] { WriteLoop(); });
  }
  ~AgentSession() override { Finish(); }

  void Send(v1::CoordinatorMessage msg) override {
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      outbox_.push_back(std::move(msg));
    }
    cv_.notify_one();
  }
  void Close() override {
    std::lock_guard lock(mu_);
    if (!finished_) ctx_->TryCancel();
  }
  // Drains what is queued (while the stream lasts), stops the writer. Called by the handler
  // before it returns; after it, the context and stream are never touched again.
  void Finish() {
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    if (writer_.joinable()) writer_.join();
    std::lock_guard lock(mu_);
    finished_ = true;
  }

 private:
  void WriteLoop() {
    for (;;) {
      v1::CoordinatorMessage msg;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !outbox_.empty(); });
        if (outbox_.empty() || broken_) return;
        msg = std::move(outbox_.front());
        outbox_.pop_front();
      }
      if (!stream_->Write(msg)) {
        std::lock_guard lock(mu_);
        broken_ = true;
        outbox_.clear();
        return;
      }
    }
  }

  grpc::ServerContext* ctx_;
  AgentStream* stream_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::CoordinatorMessage> outbox_;  // GUARDED_BY(mu_)
  bool stopping_ = false;                      // GUARDED_BY(mu_)
  bool finished_ = false;                      // GUARDED_BY(mu_)
  bool broken_ = false;                        // GUARDED_BY(mu_)
  std::thread writer_;
};

// "ipv4:127.0.0.1:5000" / "ipv6:[::1]:5000" -> host part.
std::string PeerHost(const std::string& peer) {
  std::string s = peer;
  if (auto c = s.find(':');
      c != std::string::npos && (s.rfind("ipv", 0) == 0 || s.rfind("unix", 0) == 0))
    s = s.substr(c + 1);
  if (auto c = s.rfind(':'); c != std::string::npos) s = s.substr(0, c);
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  return s;
}

Status WriteFileAtomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out.flush()) return Status::Internal("cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::Internal("cannot rename " + tmp + ": " + ec.message());
  return Status::Ok();
}

}  // namespace

// ------------------------------------------------------------------------------ services

class CoordinatorServer::Services final : public v1::Coordinator::Service,
                                          public v1::AgentLink::Service {
 public:
  // `gateway_key`: the secret the REST gateway's calls carry (gateway_delegation.h).
  Services(Coordinator* c, const LiveServerTls* tls, double submit_rate, double submit_burst,
           std::string gateway_key)
      : c_(c), tls_(tls), gateway_key_(std::move(gateway_key)), rate_(submit_rate),
        burst_(submit_burst) {}
  std::atomic<bool> stopping{false};

  grpc::Status Submit(grpc::ServerContext* ctx, const v1::SubmitRequest* req,
                      v1::SubmitReply* reply) override {
    auto caller = Identify(ctx, "submit");
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    if (Status a = Allow(*caller, Action::kSubmit, "submit"); !a.ok()) return ToGrpcStatus(a);
    if (Status r = Throttle(*caller); !r.ok()) return ToGrpcStatus(r);
    // The owner is who the credential names; someone else only for an admin.
    v1::JobSpec spec = req->spec();
    if (spec.user().empty()) spec.set_user(caller->name);
    if (!ValidPrincipalName(spec.user()))
      return ToGrpcStatus(Status::InvalidArgument(
          "invalid user name '" + spec.user() + "': use 1-64 letters, digits, '.', '_' or '-'"));
    if (spec.user() != caller->name) {
      if (Status a = Allow(*caller, Action::kSubmitAs, "submit", spec.user(), "user " + spec.user());
          !a.ok())
        return ToGrpcStatus(a);
      spdlog::info("{} submits a job on behalf of {}", caller->Describe(), spec.user());
    }
    // With preemption, priority is the power to stop others' work: an admin's to give.
    if (c_->options().preemption == "priority" && spec.priority() > 0 &&
        caller->role != Role::kAdmin) {
      Status refused = Status::PermissionDenied(
          "this cluster preempts by priority: only admins submit jobs of priority above 0 "
          "(--priority " + std::to_string(spec.priority()) + ")");
      c_->Audit(*caller, "submit", "a job", refused);
      return ToGrpcStatus(refused);
    }
    Result<JobSpec> parsed = FromProto(spec);
    auto id = parsed.ok() ? c_->Submit(std::move(parsed).value()) : Result<JobId>(parsed.status());
    // Every accepted job is audited; so is every refusal of one the caller was allowed to send.
    c_->Audit(*caller, "submit",
              (id.ok() ? "job " + std::to_string(*id) : std::string("a job")) +
                  (spec.user() != caller->name ? " for " + spec.user() : ""),
              id.status());
    if (!id.ok()) return ToGrpcStatus(id.status());
    reply->set_job_id(*id);
    return grpc::Status::OK;
  }
  grpc::Status GetJob(grpc::ServerContext* ctx, const v1::JobRef* req,
                      v1::JobInfo* reply) override {
    auto caller = Identify(ctx, "show");
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    if (Status a = Allow(*caller, Action::kReadCluster, "read"); !a.ok()) return ToGrpcStatus(a);
    auto info = c_->GetJob(req->job_id());
    if (!info.ok()) return ToGrpcStatus(info.status());
    ToProto(*info, reply);
    Redact(*caller, reply);
    return grpc::Status::OK;
  }
  grpc::Status ListJobs(grpc::ServerContext* ctx, const v1::ListJobsRequest* req,
                        v1::JobList* reply) override {
    auto caller = Identify(ctx, "list jobs");
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    if (Status a = Allow(*caller, Action::kReadCluster, "read"); !a.ok()) return ToGrpcStatus(a);
    for (int s : req->states())
      if (!FromProto(static_cast<v1::JobState>(s)).ok())
        return ToGrpcStatus(Status::InvalidArgument(
            "job state " + std::to_string(s) + " in the filter is not one this coordinator "
            "knows"));
    JobQuery query = FromProto(*req);
    if (query.user == "@me") query.user = caller->name;
    ToProto(c_->ListJobs(query), reply);
    for (auto& j : *reply->mutable_jobs()) Redact(*caller, &j);
    for (const auto& [user, share] : c_->UserShares()) (*reply->mutable_user_shares())[user] = share;
    return grpc::Status::OK;
  }
  grpc::Status Cancel(grpc::ServerContext* ctx, const v1::CancelRequest* req,
                      v1::CancelReply* reply) override {
    auto caller = Identify(ctx, "cancel");
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    // The role first (a viewer may cancel nothing), then each id on its own: the ones the caller
    // may cancel are, the others are answered with why not. An id unknown now is answered "not
    // found" here and never passed on, so a job submitted meanwhile cannot be cancelled by
    // someone who guessed its id.
    if (Status a = Allow(*caller, Action::kCancel, "cancel", caller->name); !a.ok())
      return ToGrpcStatus(a);
    constexpr int kMaxIds = 10000;
    if (req->job_ids_size() + req->tasks_size() > kMaxIds)
      return ToGrpcStatus(Status::InvalidArgument("at most " + std::to_string(kMaxIds) +
                                                  " jobs per cancel"));
    std::vector<JobId> allowed;
    std::vector<TaskRef> allowed_tasks;
    std::map<int64_t, std::string> refused;
    for (int64_t id : req->job_ids()) {
      Status a = MayCancel(*caller, id);
      if (a.ok()) {
        allowed.push_back(id);
      } else {
        refused[id] = a.message();
        if (a.code() == StatusCode::kPermissionDenied)
          spdlog::warn("refused: {} may not cancel job {}", caller->Describe(), id);
      }
    }
    std::vector<std::string> task_refused;  // by position in req->tasks(); "" = allowed
    for (const auto& ct : req->tasks()) {
      Status a = MayCancel(*caller, ct.job_id());
      task_refused.push_back(a.ok() ? "" : a.message());
      if (a.ok()) allowed_tasks.push_back({.job = ct.job_id(), .index = ct.task_index()});
    }
    const std::vector<ChangeResult> done = allowed.size() + allowed_tasks.size() > 0
                                               ? c_->Cancel(allowed, allowed_tasks)
                                               : std::vector<ChangeResult>{};
    size_t k = 0;
    for (int64_t id : req->job_ids()) {  // answers in the order asked
      v1::CancelResult* r = reply->add_results();
      if (auto it = refused.find(id); it != refused.end()) {
        r->set_job_id(id);
        r->set_ok(false);
        r->set_error(it->second);
      } else {
        ToProto(done[k++], r);
      }
      c_->Audit(*caller, "cancel", "job " + std::to_string(id),
                r->ok() ? Status::Ok() : Status::FailedPrecondition(r->error()));
    }
    for (int i = 0; i < req->tasks_size(); ++i) {
      const auto& ct = req->tasks(i);
      v1::CancelResult* r = reply->add_results();
      if (!task_refused[static_cast<size_t>(i)].empty()) {
        r->set_job_id(ct.job_id());
        r->set_is_task(true);
        r->set_task_index(ct.task_index());
        r->set_error(task_refused[static_cast<size_t>(i)]);
      } else {
        ToProto(done[k++], r);
      }
      c_->Audit(*caller, "cancel",
                "task " + std::to_string(ct.job_id()) + "." + std::to_string(ct.task_index()),
                r->ok() ? Status::Ok() : Status::FailedPrecondition(r->error()));
    }
    return grpc::Status::OK;
  }
  grpc::Status ListNodes(grpc::ServerContext* ctx, const v1::ListNodesRequest*,
                         v1::NodeList* reply) override {
    auto caller = Identify(ctx, "list nodes");
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    if (Status a = Allow(*caller, Action::kReadCluster, "read"); !a.ok()) return ToGrpcStatus(a);
    ToProto(c_->ListNodes(), reply);
    return grpc::Status::OK;
  }
  grpc::Status GetSchedule(grpc::ServerContext* ctx, const v1::GetScheduleRequest* req,
                           v1::ScheduleTable* reply) override {
    auto caller = Identify(ctx, "schedule");
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    if (Status a = Allow(*caller, Action::kReadCluster, "read"); !a.ok()) return ToGrpcStatus(a);
    ToProto(c_->GetSchedule(req->include_finished()), reply);
    return grpc::Status::OK;
  }

  grpc::Status GetBalance(grpc::ServerContext* ctx, const v1::GetBalanceRequest* req,
                          v1::BalanceStatus* reply) override {
    auto caller = Identify(ctx, "balance");
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    if (Status a = Allow(*caller, Action::kReadCluster, "read"); !a.ok()) return ToGrpcStatus(a);
    ToProto(c_->GetBalance(static_cast<size_t>(std::max(0, req->trend_points()))), reply);
    return grpc::Status::OK;
  }

  grpc::Status ManageUsers(grpc::ServerContext* ctx, const v1::ManageUsersRequest* req,
                           v1::ManageUsersReply* reply) override {
    auto caller = Identify(ctx, "users");
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    if (Status a = Allow(*caller, Action::kManageUsers, "user " + req->op(), {}, "user " + req->name());
        !a.ok())
      return ToGrpcStatus(a);
    Authenticator& auth = c_->auth();
    const std::string& op = req->op();
    if (op != "list")
      if (Status w = c_->Writable(); !w.ok()) return ToGrpcStatus(w);
    Status result;
    if (op == "add") {
      auto role = ParseRole(req->role());
      if (!role)
        return ToGrpcStatus(Status::InvalidArgument("unknown role '" + req->role() +
                                                    "' (viewer, user, admin or agent)"));
      auto token = auth.AddUser(req->name(), *role);
      result = token.status();
      if (token.ok()) reply->set_token(*token);
    } else if (op == "rotate" || op == "remove") {
      // An agent whose token stops working is cut off now, not at its next reconnect.
      const bool agent = auth.IsNode(req->name());
      if (op == "rotate") {
        auto token = auth.RotateUser(req->name());
        result = token.status();
        if (token.ok()) reply->set_token(*token);
      } else {
        result = auth.RemoveUser(req->name());
      }
      if (result.ok() && agent) c_->DropAgentLink(req->name());
    } else if (op == "cert") {
      const auto tls = tls_->get();
      const int days = req->days() == 0 ? 90 : req->days();
      if (tls->ca_fingerprint.empty())
        result = Status::FailedPrecondition("client certificates need TLS (not --insecure)");
      else if (days < 1 || days > 365)
        result = Status::InvalidArgument("--days must be between 1 and 365");
      else if (!auth.IsUser(req->name()))
        result = Status::NotFound("no user " + req->name() +
                                  " that is not a node (muster admin user add)");
      if (result.ok()) {
        auto cert = SignCsr(tls->ca, req->csr_pem(), req->name(), days);
        auto fp = cert.ok() ? CertFingerprint(*cert) : Result<std::string>(cert.status());
        result = fp.ok() ? auth.SetUserCertificate(req->name(), *fp) : fp.status();
        if (result.ok()) {
          reply->set_cert_pem(*cert);
          reply->set_ca_pem(tls->ca.cert_pem);
        }
      }
    } else if (op == "list") {
      for (const UserRecord& u : auth.Users()) {
        v1::UserInfo* i = reply->add_users();
        i->set_name(u.name);
        i->set_role(u.role);
        i->set_created_ms(u.created_ms);
        i->set_has_cert(!u.cert_fp.empty() || u.token_hash.starts_with("cert:"));
      }
    } else {
      return ToGrpcStatus(Status::InvalidArgument("unknown user operation '" + op + "'"));
    }
    if (op != "list") {
      spdlog::info("{}: user {} {} {}", caller->Describe(), op, req->name(),
                   result.ok() ? "done" : "failed: " + result.message());
      c_->Audit(*caller, "user " + op, "user " + req->name(), result);
    }
    return ToGrpcStatus(result);
  }

  grpc::Status Backup(grpc::ServerContext* ctx, const v1::BackupRequest*,
                      grpc::ServerWriter<v1::BackupChunk>* writer) override {
    auto caller = Identify(ctx, "backup");
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    if (Status a = Allow(*caller, Action::kBackup, "backup"); !a.ok()) return ToGrpcStatus(a);
    // The copy is made in the (private) state dir, streamed, and removed.
    const std::string& dir = c_->options().state_dir;
    if (const std::string& url = c_->options().store_url;
        !url.empty() && url != "sqlite://" + dir + "/" + kStoreFileName)
      return ToGrpcStatus(Status::FailedPrecondition(
          "this coordinator's state is not in its state dir's " + std::string(kStoreFileName) +
          " but in " + RedactStoreUrl(url) +
          ": back that database up with its own tools (pg_dump for PostgreSQL), and the state "
          "dir's tls/ with it"));
    const std::string tmp = dir + "/backup-" + NewToken().substr(4, 16) + ".db";
    auto info = WriteBackup(dir, tmp);
    Status result = info.status();
    if (result.ok()) {
      v1::BackupChunk head;
      head.set_time_ms(info->time_ms);
      head.set_jobs(info->jobs);
      head.set_epoch(info->epoch);
      for (const auto& f : info->files) head.add_files(f);
      std::ifstream in(tmp, std::ios::binary);
      std::string buf(1 << 20, '\0');
      bool first = true;
      while (result.ok() && in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        const std::streamsize n = in.gcount();
        if (n <= 0 && !first) break;
        v1::BackupChunk chunk = first ? head : v1::BackupChunk();
        chunk.set_data(buf.data(), static_cast<size_t>(n));
        first = false;
        if (!writer->Write(chunk)) result = Status::Unavailable("the client went away");
      }
    }
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    c_->Audit(*caller, "backup",
              info.ok() ? std::to_string(info->jobs) + " jobs, " +
                              std::to_string(info->files.size()) + " TLS files"
                        : "",
              result);
    return ToGrpcStatus(result);
  }

  grpc::Status HoldJobs(grpc::ServerContext* ctx, const v1::HoldRequest* req,
                        v1::CancelReply* reply) override {
    const char* call = req->requeue() ? "requeue" : req->release() ? "release" : "hold";
    auto caller = Identify(ctx, call);
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    // Who may cancel a job may hold it.
    if (Status a = Allow(*caller, Action::kCancel, call, caller->name); !a.ok())
      return ToGrpcStatus(a);
    if (req->job_ids_size() > 10000)
      return ToGrpcStatus(Status::InvalidArgument("at most 10000 jobs at once"));
    std::vector<JobId> allowed;
    std::map<int64_t, std::string> refused;
    for (int64_t id : req->job_ids()) {
      Status a = MayCancel(*caller, id);
      if (a.ok())
        allowed.push_back(id);
      else
        refused[id] = a.message();
    }
    const std::vector<ChangeResult> done =
        req->requeue() ? c_->RequeueJobs(allowed, caller->name)
                       : c_->HoldJobs(allowed, req->release(), caller->name);
    size_t k = 0;
    for (int64_t id : req->job_ids()) {
      v1::CancelResult* r = reply->add_results();
      if (auto it = refused.find(id); it != refused.end()) {
        r->set_job_id(id);
        r->set_error(it->second);
      } else {
        ToProto(done[k++], r);
      }
      c_->Audit(*caller, call, "job " + std::to_string(id),
                r->ok() ? Status::Ok() : Status::FailedPrecondition(r->error()));
    }
    return grpc::Status::OK;
  }

  grpc::Status DrainNode(grpc::ServerContext* ctx, const v1::DrainRequest* req,
                         v1::DrainReply* reply) override {
    const char* call = req->undrain() ? "undrain" : "drain";
    auto caller = Identify(ctx, call);
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    if (Status a = Allow(*caller, Action::kManageNodes, call, {}, "node " + req->node()); !a.ok())
      return ToGrpcStatus(a);
    auto r = req->undrain() ? c_->UndrainNode(req->node())
                            : c_->DrainNode(req->node(), req->reason(), req->migrate(),
                                            caller->name);
    c_->Audit(*caller, call, "node " + req->node() + (req->undrain() ? "" : ": " + req->reason()),
              r.status());
    if (!r.ok()) return ToGrpcStatus(r.status());
    ToProto(*r, reply);
    return grpc::Status::OK;
  }

  grpc::Status CollectGarbage(grpc::ServerContext* ctx, const v1::GcRequest* req,
                              v1::GcReply* reply) override {
    auto caller = Identify(ctx, "gc");
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    if (Status a = Allow(*caller, Action::kCollectGarbage, "gc"); !a.ok()) return ToGrpcStatus(a);
    int64_t age = req->older_than_ms();
    if (age < 0) return ToGrpcStatus(Status::InvalidArgument("--older-than must not be negative"));
    if (age == 0) age = c_->options().retention_ms;
    if (age <= 0)
      return ToGrpcStatus(Status::InvalidArgument(
          "this cluster keeps finished jobs forever (--retention 0); say --older-than"));
    auto report = c_->CollectGarbage(age, req->dry_run());
    if (!req->dry_run())
      c_->Audit(*caller, "gc",
                report.ok() ? std::to_string(report->jobs) + " jobs ended over " +
                                  std::to_string(age / 1000) + " s ago"
                            : "",
                report.status());
    if (!report.ok()) return ToGrpcStatus(report.status());
    reply->set_before_ms(report->before_ms);
    reply->set_jobs(report->jobs);
    reply->set_tasks(report->tasks);
    reply->set_bytes(report->bytes);
    reply->set_kept_for_dependents(report->kept_for_dependents);
    return grpc::Status::OK;
  }

  grpc::Status ListAudit(grpc::ServerContext* ctx, const v1::AuditRequest* req,
                         v1::AuditList* reply) override {
    auto caller = Identify(ctx, "audit");
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    if (Status a = Allow(*caller, Action::kReadAudit, "audit"); !a.ok()) return ToGrpcStatus(a);
    if (req->limit() < 0 || req->since_ms() < 0)
      return ToGrpcStatus(Status::InvalidArgument("since and limit must not be negative"));
    auto rows = c_->AuditLog(req->since_ms(), req->identity(), req->limit());
    if (!rows.ok()) return ToGrpcStatus(rows.status());
    for (const AuditRecord& r : *rows) {
      v1::AuditEntry* e = reply->add_entries();
      e->set_time_ms(r.time_ms);
      e->set_identity(r.identity);
      e->set_role(r.role);
      e->set_via(r.via);
      e->set_peer(r.peer);
      e->set_action(r.action);
      e->set_target(r.target);
      e->set_result(r.result);
    }
    return grpc::Status::OK;
  }

  grpc::Status Accounting(grpc::ServerContext* ctx, const v1::AccountingRequest* req,
                          v1::AccountingReply* reply) override {
    auto caller = Identify(ctx, "acct");
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    if (Status a = Allow(*caller, Action::kReadCluster, "acct"); !a.ok()) return ToGrpcStatus(a);
    if (req->since_ms() < 0 || req->job_id() < 0)
      return ToGrpcStatus(Status::InvalidArgument("since and job must not be negative"));
    const std::string user = req->user() == "@me" ? caller->name : req->user();
    auto rows = c_->Accounting(req->since_ms(), user, req->job_id());
    if (!rows.ok()) return ToGrpcStatus(rows.status());
    std::map<JobId, v1::JobState> states;
    for (const AccountingRow& r : *rows) {
      v1::AttemptUsage* a = reply->add_attempts();
      a->set_job_id(r.job);
      a->set_task_index(r.index);
      a->set_attempt(r.attempt);
      a->set_user(r.user);
      a->set_name(r.name);
      a->set_node(r.node);
      a->set_state(r.state);
      a->set_exit_code(r.exit_code);
      a->set_submit_ms(r.submit_ms);
      a->set_start_ms(r.start_ms);
      a->set_end_ms(r.end_ms);
      a->set_gpus(r.gpus);
      a->set_milli_cpus(r.milli_cpus);
      a->set_cpu_seconds(r.cpu_seconds);
      a->set_peak_memory_mib(r.peak_memory_mib);
      a->set_gpu_util(r.gpu_util);
      a->set_energy_wh(r.energy_wh);
      auto [it, fresh] = states.try_emplace(r.job);
      if (fresh) {
        const std::optional<JobState> now = c_->JobStateOf(r.job);
        it->second = now ? ToProto(*now) : v1::JOB_STATE_UNSPECIFIED;
      }
      a->set_job_state(it->second);
    }
    reply->set_now_ms(WallMs());
    return grpc::Status::OK;
  }

  grpc::Status ManageLimits(grpc::ServerContext* ctx, const v1::LimitRequest* req,
                            v1::LimitReply* reply) override {
    const v1::LimitSpec& l = req->limit();
    const bool list = l.kind().empty() && l.name().empty();
    const std::string call = list ? "limits" : req->clear() ? "limit-clear" : "limit";
    auto caller = Identify(ctx, call);
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    if (Status a = Allow(*caller, list ? Action::kReadCluster : Action::kManageUsers, call);
        !a.ok())
      return ToGrpcStatus(a);
    if (!list) {
      Status s;
      if (req->clear()) {
        s = c_->ClearLimit(l.kind(), l.name());
      } else {
        s = c_->SetLimit({.kind = l.kind(),
                          .name = l.name(),
                          .max_gpus = l.max_gpus(),
                          .max_milli_cpus = l.max_milli_cpus(),
                          .max_jobs = l.max_jobs(),
                          .set_by = caller->name,
                          .set_ms = 0});
      }
      c_->Audit(*caller, call,
                l.kind() + " " + l.name() +
                    (req->clear() ? ""
                                  : ": gpus " + std::to_string(l.max_gpus()) + ", mcpus " +
                                        std::to_string(l.max_milli_cpus()) + ", jobs " +
                                        std::to_string(l.max_jobs())),
                s);
      if (!s.ok()) return ToGrpcStatus(s);
    }
    for (const LimitRecord& r : c_->Limits()) {
      v1::LimitSpec* out = reply->add_limits();
      out->set_kind(r.kind);
      out->set_name(r.name);
      out->set_max_gpus(r.max_gpus);
      out->set_max_milli_cpus(r.max_milli_cpus);
      out->set_max_jobs(r.max_jobs);
      out->set_set_by(r.set_by);
      out->set_set_ms(r.set_ms);
    }
    return grpc::Status::OK;
  }

  grpc::Status CreateJoinToken(grpc::ServerContext* ctx, const v1::JoinTokenRequest* req,
                               v1::JoinTokenReply* reply) override {
    auto caller = Identify(ctx, "join-token");
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    if (Status a = Allow(*caller, Action::kManageUsers, "join-token", {}, "node " + req->node());
        !a.ok())
      return ToGrpcStatus(a);
    const auto tls = tls_->get();
    if (tls->ca_fingerprint.empty())
      return ToGrpcStatus(Status::FailedPrecondition("join tokens need TLS (not --insecure)"));
    if (!req->node().empty() && !ValidPrincipalName(req->node()))
      return ToGrpcStatus(Status::InvalidArgument("invalid node name '" + req->node() + "'"));
    if (req->ttl_s() <= 0 || req->ttl_s() > 7 * 86400)
      return ToGrpcStatus(Status::InvalidArgument("--ttl must be between 1 s and 7 days"));
    if (Status w = c_->Writable(); !w.ok()) return ToGrpcStatus(w);
    auto secret = c_->auth().CreateJoinToken(req->node(), req->ttl_s() * 1000);
    if (!secret.ok()) return ToGrpcStatus(secret.status());
    reply->set_token(*secret + "." + tls->ca_fingerprint);
    c_->Audit(*caller, "join-token", req->node().empty() ? "any node" : "node " + req->node(),
              Status::Ok());
    return grpc::Status::OK;
  }

  grpc::Status Join(grpc::ServerContext* ctx, const v1::JoinRequest* req,
                    v1::JoinReply* reply) override {
    const std::string node = req->node().substr(0, 128);
    Caller joiner{.name = node, .role = Role::kAgent, .via = "join token", .peer = ctx->peer()};
    auto refuse = [&](Status why) {
      c_->Audit(joiner, "join", "node " + node, why);
      spdlog::warn("join of node {} from {} refused: {}", node, ctx->peer(), why.message());
      return ToGrpcStatus(why);
    };
    const auto tls = tls_->get();
    if (tls->ca_fingerprint.empty())
      return refuse(Status::FailedPrecondition("joining needs TLS (not --insecure)"));
    if (!ValidPrincipalName(node))
      return refuse(Status::InvalidArgument("invalid node name '" + node + "'"));
    std::string token = req->token();
    if (auto dot = token.find('.'); dot != std::string::npos) token.resize(dot);
    auto bound = c_->auth().ConsumeJoinToken(token, node);
    if (!bound.ok()) return refuse(bound.status());
    auto cert = SignCsr(tls->ca, req->csr_pem(), node, 90);
    if (!cert.ok()) return refuse(cert.status());
    auto fp = CertFingerprint(*cert);
    if (!fp.ok()) return refuse(fp.status());
    if (Status e = c_->auth().EnrollNode(node, *fp, *bound); !e.ok()) return refuse(e);
    reply->set_cert_pem(*cert);
    reply->set_ca_pem(tls->ca.cert_pem);
    c_->Audit(joiner, "join", "node " + node, Status::Ok());
    spdlog::info("node {} joined from {}", node, ctx->peer());
    return grpc::Status::OK;
  }

  grpc::Status RenewNodeCert(grpc::ServerContext* ctx, const v1::RenewRequest* req,
                             v1::JoinReply* reply) override {
    auto caller = Identify(ctx, "renew");
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    // Only a node presenting its (still valid) certificate: the new one has the same name.
    if (caller->role != Role::kAgent || caller->via != "certificate") {
      Status no = Status::PermissionDenied(
          "permission denied: only a node presenting its certificate may renew it");
      c_->Audit(*caller, "renew", "node " + caller->name, no);
      return ToGrpcStatus(no);
    }
    const auto tls = tls_->get();
    if (tls->ca_fingerprint.empty())
      return ToGrpcStatus(Status::FailedPrecondition("renewal needs TLS (not --insecure)"));
    auto cert = SignCsr(tls->ca, req->csr_pem(), caller->name, 90);
    Status result = cert.status();
    std::string fp;
    if (result.ok()) {
      auto f = CertFingerprint(*cert);
      result = f.status();
      if (f.ok()) fp = *f;
    }
    if (result.ok()) result = c_->auth().EnrollNode(caller->name, fp, /*replace=*/true);
    c_->Audit(*caller, "renew", "node " + caller->name, result);
    if (!result.ok()) return ToGrpcStatus(result);
    reply->set_cert_pem(*cert);
    reply->set_ca_pem(tls->ca.cert_pem);
    spdlog::info("node {} renewed its certificate", caller->name);
    return grpc::Status::OK;
  }

  grpc::Status WhoAmI(grpc::ServerContext* ctx, const v1::WhoAmIRequest*,
                      v1::WhoAmIReply* reply) override {
    auto caller = Identify(ctx, "whoami");
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    reply->set_name(caller->name);
    reply->set_role(RoleName(caller->role));
    reply->set_via(caller->via);
    reply->set_peer(caller->peer);
    return grpc::Status::OK;
  }

  grpc::Status ReadLogs(grpc::ServerContext* ctx, const v1::LogRequest* req,
                        grpc::ServerWriter<v1::LogChunk>* writer) override {
    constexpr int64_t kChunk = 64 * 1024;
    auto caller = Identify(ctx, "logs");
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    auto owner = c_->JobOwner(req->job_id());
    if (!owner.ok()) return ToGrpcStatus(owner.status());
    if (Status a = Allow(*caller, Action::kReadLogs, "logs", *owner,
                         "job " + std::to_string(req->job_id()));
        !a.ok())
      return ToGrpcStatus(a);
    auto targets = c_->LogTargets(req->job_id(), req->task_index());
    if (!targets.ok()) return ToGrpcStatus(targets.status());
    std::map<int, int64_t> offset;
    for (auto [idx, done] : *targets) offset[idx] = req->task_index() >= 0 ? req->offset() : 0;
    int64_t idle_polls = 0;
    for (;;) {
      // Read "finished" before draining, so output written before the end is never missed.
      auto now = c_->LogTargets(req->job_id(), req->task_index());
      if (!now.ok()) return ToGrpcStatus(now.status());
      bool all_done = true;
      for (auto [idx, done] : *now) {
        all_done = all_done && done;
        for (;;) {
          std::string data =
              c_->logs().Read(req->job_id(), idx, req->stderr(), offset[idx], kChunk);
          if (data.empty()) break;
          offset[idx] += static_cast<int64_t>(data.size());
          v1::LogChunk chunk;
          chunk.set_task_index(idx);
          chunk.set_data(std::move(data));
          if (!writer->Write(chunk)) return grpc::Status::OK;
        }
      }
      if (!req->follow() || all_done) break;
      if (ctx->IsCancelled() || stopping)
        return grpc::Status(grpc::StatusCode::CANCELLED, "stopped");
      // A quiet task: an empty chunk every few seconds, so that a reader that went away (the
      // REST API's, whose HTTP client closed) finds out without waiting for output.
      if (++idle_polls % 50 == 0) {
        v1::LogChunk beat;
        beat.set_task_index(req->task_index());
        if (!writer->Write(beat)) return grpc::Status::OK;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    v1::LogChunk eof;
    eof.set_task_index(req->task_index());
    eof.set_eof(true);
    writer->Write(eof);
    return grpc::Status::OK;
  }

  grpc::Status Connect(grpc::ServerContext* ctx, AgentStream* stream) override {
    v1::AgentMessage first;
    if (!stream->Read(&first)) return grpc::Status::OK;
    if (!first.has_register_()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "the first message on an agent link must be Register");
    }
    const std::string name = first.register_().node().name().substr(0, 128);
    auto caller = Identify(ctx, "register");
    Status allowed = caller.ok() ? Allow(*caller, Action::kActAsNode, "register", name,
                                         "node " + name)
                                 : caller.status();
    if (!allowed.ok()) {
      spdlog::warn("agent registration as {} from {} refused: {}", name, ctx->peer(),
                   allowed.message());
      return ToGrpcStatus(allowed);
    }
    auto session = std::make_shared<AgentSession>(ctx, stream);
    Status reg = c_->RegisterAgent(first.register_(), PeerHost(ctx->peer()), session);
    c_->Audit(*caller, "register", "node " + name, reg);
    if (!reg.ok()) {
      spdlog::warn("agent registration refused: {}", reg.message());
      v1::CoordinatorMessage refused;
      refused.mutable_register_reply()->set_accepted(false);
      refused.mutable_register_reply()->set_error(reg.message());
      session->Send(std::move(refused));
      session->Finish();
      return ToGrpcStatus(reg);
    }
    v1::AgentMessage msg;
    while (stream->Read(&msg)) c_->OnAgentMessage(name, session.get(), msg);
    c_->OnAgentDisconnected(name, session.get());
    session->Finish();
    return grpc::Status::OK;
  }

 private:
  // The caller a call's credential names ("authorization: Bearer <token>"), or why not; a call
  // without a valid credential is audited as refused.
  // Such refusals are sampled (refusal_sampler.h): one row per host per second, counting the
  // rest, so that callers nobody identified cannot fill the store.
  Result<Caller> Identify(grpc::ServerContext* ctx, std::string_view call) {
    Result<Caller> caller = FromCredential(ctx);
    int64_t left_out = 0;
    const std::string peer = CallPeer(ctx);
    if (!caller.ok() && refusals_.Admit(peer, SteadyMs(), &left_out))
      c_->Audit({.name = "(unauthenticated)", .via = "none", .peer = peer},
                std::string(call),
                left_out == 0 ? "" : "(and " + std::to_string(left_out) +
                                         " more refused from this host since the last row)",
                caller.status());
    return caller;
  }
  enum class Gateway { kNone, kOurs, kForged };
  // Whether a call says it comes from the REST gateway, and with this coordinator's key.
  Gateway GatewayCall(grpc::ServerContext* ctx) const {
    auto key = Metadata(ctx, gateway_delegation::kGatewayKey);
    if (!key) return Gateway::kNone;
    return !gateway_key_.empty() && key->size() == gateway_key_.size() &&
                   CRYPTO_memcmp(key->data(), gateway_key_.data(), key->size()) == 0
               ? Gateway::kOurs
               : Gateway::kForged;
  }
  static std::optional<std::string_view> Metadata(grpc::ServerContext* ctx, const char* key) {
    const auto& md = ctx->client_metadata();
    auto it = md.find(key);
    if (it == md.end()) return std::nullopt;
    return std::string_view(it->second.data(), it->second.size());
  }
  // Where a call came from: for the REST gateway's calls, the HTTP client ("rest:ADDR:PORT"),
  // else gRPC's peer ("ipv4:ADDR:PORT").
  std::string CallPeer(grpc::ServerContext* ctx) const {
    if (GatewayCall(ctx) == Gateway::kOurs) {
      auto from = Metadata(ctx, gateway_delegation::kClientAddress);
      if (from && !from->empty()) return "rest:" + std::string(from->substr(0, 80));
    }
    return ctx->peer();
  }
  Result<Caller> FromCredential(grpc::ServerContext* ctx) const {
    const auto& md = ctx->client_metadata();
    auto it = md.find("authorization");
    // The REST gateway, for an HTTP request: its key must be ours, and only it may name a
    // client certificate verified in the HTTPS handshake (gateway_delegation.h).
    const Gateway gateway = GatewayCall(ctx);
    if (gateway == Gateway::kForged)
      return Status::Unauthenticated("a gateway key that is not this coordinator's");
    auto cert_cn = Metadata(ctx, gateway_delegation::kCertName);
    auto cert_sha = Metadata(ctx, gateway_delegation::kCertSha256);
    if (gateway == Gateway::kNone &&
        (cert_cn || cert_sha || Metadata(ctx, gateway_delegation::kClientAddress)))
      return Status::Unauthenticated(
          "client-certificate headers are taken only from the coordinator's own REST gateway");
    if (gateway == Gateway::kOurs && it == md.end() && cert_cn && cert_sha) {
      auto caller = c_->auth().FromCertificate(std::string(*cert_cn), std::string(*cert_sha));
      if (caller.ok()) caller->peer = CallPeer(ctx);
      return caller;
    }
    // A node's certificate, verified against the cluster CA in the handshake.
    if (it == md.end() && ctx->auth_context() && ctx->auth_context()->IsPeerAuthenticated()) {
      auto cn = ctx->auth_context()->FindPropertyValues("x509_common_name");
      auto pem = ctx->auth_context()->FindPropertyValues("x509_pem_cert");
      if (cn.size() == 1 && pem.size() == 1) {
        auto fp = CertFingerprint(std::string(pem[0].data(), pem[0].size()));
        if (!fp.ok()) return Status::Unauthenticated("unreadable client certificate");
        auto caller = c_->auth().FromCertificate(std::string(cn[0].data(), cn[0].size()), *fp);
        if (caller.ok()) caller->peer = ctx->peer();
        return caller;
      }
    }
    if (it == md.end())
      return Status::Unauthenticated(
          "authentication required: on the coordinator's machine set MUSTER_STATE_DIR to its "
          "state dir; elsewhere set MUSTER_TOKEN or ~/.config/muster/token (docs/security.md)");
    std::string_view v(it->second.data(), it->second.size());
    constexpr std::string_view kBearer = "Bearer ";
    if (!v.starts_with(kBearer))
      return Status::Unauthenticated("malformed authorization header (expected a bearer token)");
    auto caller = c_->auth().FromToken(v.substr(kBearer.size()));
    if (caller.ok()) caller->peer = CallPeer(ctx);  // where this call came from
    return caller;
  }
  // Ok, or "slow down" when a caller that is not an admin submits faster than its rate.
  Status Throttle(const Caller& caller) {
    if (rate_ <= 0 || caller.role == Role::kAdmin) return Status::Ok();
    const double now = std::chrono::duration<double>(
                           std::chrono::steady_clock::now().time_since_epoch())
                           .count();
    std::lock_guard lock(throttle_mu_);
    auto [it, fresh] = buckets_.try_emplace(caller.name, Bucket{burst_, now});
    Bucket& b = it->second;
    b.tokens = std::min(burst_, b.tokens + (now - b.at) * rate_);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return Status::Ok();
    }
    const double wait_ms = std::min(3.6e6, (1 - b.tokens) / rate_ * 1000 + 1);
    char rate[32];
    std::snprintf(rate, sizeof rate, "%g", rate_);
    return Status::Unavailable("slow down: " + caller.name + " may submit " + rate +
                               " jobs per second; retry in " +
                               std::to_string(static_cast<int64_t>(wait_ms)) + " ms");
  }

  // Authorize, with a refusal logged and audited.
  Status Allow(const Caller& caller, Action action, std::string_view call,
               std::string_view owner = {}, std::string target = {}) const {
    Status a = Authorize(caller, action, owner, target);
    if (!a.ok()) {
      spdlog::warn("refused: {}", a.message());
      c_->Audit(caller, std::string(call), std::move(target), a);
    }
    return a;
  }
  // Whether the caller may cancel (or hold) job `id`: NotFound for an unknown one.
  Status MayCancel(const Caller& caller, int64_t id) const {
    auto owner = c_->JobOwner(id);
    if (!owner.ok()) return owner.status();
    return Authorize(caller, Action::kCancel, *owner, "job " + std::to_string(id));
  }
  // Clears what the caller may not read of a job: its environment.
  static void Redact(const Caller& caller, v1::JobInfo* job) {
    if (!Authorize(caller, Action::kReadJobEnv, job->spec().user()).ok())
      job->mutable_spec()->clear_env();
  }

  Coordinator* c_;
  const LiveServerTls* tls_;  // the CA signs joining nodes' certificates; empty when insecure
  const std::string gateway_key_;
  RefusalSampler refusals_;   // audit rows of unauthenticated calls
  const double rate_, burst_;
  struct Bucket {
    double tokens;
    double at;  // seconds, steady clock
  };
  std::mutex throttle_mu_;
  std::map<std::string, Bucket> buckets_;  // GUARDED_BY(throttle_mu_), by identity
};

// ------------------------------------------------------------------------------ server

Result<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(ServerOptions options) {
  std::unique_ptr<CoordinatorServer> s(new CoordinatorServer());
  auto coord = Coordinator::Open(options.coordinator, &s->clock_);
  if (!coord.ok()) return coord.status();
  s->coordinator_ = std::move(coord).value();
  const std::string gateway_key = NewToken();  // never leaves this process
  s->services_ = std::make_unique<Services>(s->coordinator_.get(), &s->tls_, options.submit_rate,
                                            options.submit_burst, gateway_key);

  const std::string listen_host = options.listen.substr(0, options.listen.rfind(':'));
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (options.insecure) {
    if (!IsLoopbackHost(listen_host))
      return Status::InvalidArgument("--insecure is refused on " + options.listen +
                                     ": plaintext only on a loopback address");
    spdlog::warn("--insecure: serving plaintext on {}; tokens and job data are not encrypted",
                 options.listen);
    creds = grpc::InsecureServerCredentials();
  } else {
    const std::vector<std::string> sans = ServedNames(options);
    auto tls = EnsureServerTls(options.coordinator.state_dir, sans, options.tls_lifetimes);
    if (!tls.ok()) return tls.status();
    for (const auto& what : tls->renewed) spdlog::info("renewed {}", what);
    s->tls_.set(std::move(tls).value());
    creds = MakeServerCredentials(options.coordinator.state_dir, options.tls_refresh_s);
    s->tls_renewer_ = std::thread(&CoordinatorServer::RenewTlsLoop, s.get(),
                                  options.coordinator.state_dir, sans, options.tls_lifetimes,
                                  options.tls_check_ms);
  }
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, creds, &port);
  // The same services for callers on this machine (credentials.h kLocalGrpcSocketName): calls
  // carry their tokens as over TCP; only the TLS handshake is skipped. A state dir too deep for
  // a socket's path goes without (callers use TCP).
  const std::string local_grpc = options.coordinator.state_dir + "/" + kLocalGrpcSocketName;
  if (local_grpc.size() < sizeof(sockaddr_un::sun_path)) {
    builder.AddListeningPort("unix:" + local_grpc, grpc::InsecureServerCredentials());
    s->local_grpc_ = local_grpc;
  }
  builder.RegisterService(static_cast<v1::Coordinator::Service*>(s->services_.get()));
  builder.RegisterService(static_cast<v1::AgentLink::Service*>(s->services_.get()));
  // Calls block on the store's group commit, so many are in flight at once. gRPC's sync server
  // ends a thread that finishes a call while more than MAX_POLLERS (2 by default) wait for
  // work, and makes a new one for the next: under load, a thread created and destroyed per
  // call. Keeping up to 64 idle ones costs nothing while idle (they block in the poller).
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 64);
  builder.SetMaxReceiveMessageSize(kMaxRequestBytes);  // link_limits.h: the clients' limits
  builder.SetMaxSendMessageSize(kMaxReplyBytes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
  // Notice dead agent connections (no RST, e.g. a partition) within about 20 s.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveMs);
  s->server_ = builder.BuildAndStart();
  if (!s->server_ || port == 0)
    return Status::Unavailable("cannot listen on " + options.listen +
                               " (address in use or invalid?)");
  s->address_ = listen_host + ":" + std::to_string(port);
  Status w =
      WriteFileAtomically(options.coordinator.state_dir + "/coordinator.addr", s->address_ + "\n");
  if (!w.ok()) spdlog::warn("{}", w.message());
  if (!options.http.empty()) {
    HttpOptions ho{.listen = options.http};
    const std::string http_host = options.http.substr(0, options.http.rfind(':'));
    if (options.insecure && !IsLoopbackHost(http_host))
      return Status::InvalidArgument("--insecure is refused on --http " + options.http +
                                     ": plaintext only on a loopback address");
    if (!options.insecure) ho.tls = &s->tls_;
    ho.gateway_key = gateway_key;
    // The REST API calls the gRPC port it serves beside, over loopback when it listens on all.
    const bool any = listen_host.empty() || listen_host == "0.0.0.0" || listen_host == "[::]";
    ho.grpc_address = (any ? std::string("127.0.0.1") : listen_host) + ":" + std::to_string(port);
    ho.transport = {.insecure = options.insecure,
                    .ca_pem = options.insecure ? "" : s->ca_pem(),
                    .where = "the coordinator's own CA"};
    auto http = HttpServer::Start(ho, s->coordinator_.get());
    if (!http.ok()) return http.status();
    s->http_ = std::move(http).value();
    Status hw = WriteFileAtomically(options.coordinator.state_dir + "/coordinator.http",
                                    s->http_url() + "\n");
    if (!hw.ok()) spdlog::warn("{}", hw.message());
    spdlog::info("HTTP on {} (/metrics, /api/v1)", s->http_url());
  }
  // The local socket: callers on this machine are told apart by the kernel (local_auth.h). The
  // state dir is private, or searchable by everyone (never listable) when local users may call.
  const std::string& dir = options.coordinator.state_dir;
  const bool open_dir = options.coordinator.auth.allow_local_users;
  if (std::string why; !RestrictStateDir(dir, open_dir, &why)) spdlog::warn("{}", why);
  // As open as auth.sock (connecting needs write permission); gRPC made it with the umask's.
  if (!s->local_grpc_.empty() && chmod(s->local_grpc_.c_str(), open_dir ? 0666 : 0600) != 0)
    return Status::Internal("cannot set the permissions of " + s->local_grpc_ + ": " +
                            std::strerror(errno));
  auto local = LocalAuthListener::Start(dir + "/" + kLocalAuthSocketName, &s->coordinator_->auth());
  if (!local.ok()) return local.status();
  s->local_auth_ = std::move(local).value();
  s->coordinator_->Start();
  spdlog::info("listening on {} ({}) and {}{}", s->address_,
               options.insecure ? "plaintext" : "TLS, CA sha256 " + s->ca_fingerprint(),
               s->local_auth_->path(), open_dir ? " (open to every local user)" : "");
  return s;
}

CoordinatorServer::~CoordinatorServer() {
  Shutdown();
}

void CoordinatorServer::RenewTlsLoop(std::string state_dir, std::vector<std::string> sans,
                                     TlsLifetimes lifetimes, int64_t period_ms) {
  MutexLock lock(renew_mu_);
  while (!shut_down_) {
    renew_cv_.wait_for(lock, std::chrono::milliseconds(period_ms));
    if (shut_down_) break;
    auto tls = EnsureServerTls(state_dir, sans, lifetimes);
    if (!tls.ok()) {
      spdlog::error("cannot renew the TLS certificates: {}", tls.status().message());
      continue;
    }
    if (tls->renewed.empty()) continue;
    Caller self;
    self.name = "coordinator";
    self.role = Role::kAdmin;
    self.via = "itself";
    for (const auto& what : tls->renewed) {
      spdlog::info("renewed {}", what);
      coordinator_->Audit(self, "renew-tls", what, Status::Ok());
    }
    tls_.set(std::move(tls).value());
  }
}

std::vector<std::string> CoordinatorServer::ServedNames(const ServerOptions& options) {
  std::vector<std::string> sans = options.tls_sans;
  const std::string host = options.listen.substr(0, options.listen.rfind(':'));
  if (!host.empty() && host != "0.0.0.0" && host != "[::]")
    sans.push_back((std::isdigit(static_cast<unsigned char>(host[0])) ? "IP:" : "DNS:") + host);
  return sans;
}

void CoordinatorServer::StopServingNow() {
  if (services_) services_->stopping = true;
  if (server_) server_->Shutdown(std::chrono::system_clock::now());
}

void CoordinatorServer::Shutdown() {
  if (shut_down_.exchange(true)) return;
  {
    MutexLock lock(renew_mu_);
    renew_cv_.notify_all();
  }
  if (tls_renewer_.joinable()) tls_renewer_.join();
  if (coordinator_) coordinator_->Stop();
  // Followed log streams end first (the REST API's among them), so the HTTP workers that serve
  // them can be joined.
  if (services_) services_->stopping = true;
  http_.reset();
  local_auth_.reset();
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  if (!local_grpc_.empty()) unlink(local_grpc_.c_str());
  if (coordinator_) {
    if (Status s = coordinator_->store().Flush(); !s.ok())
      spdlog::error("state store flush: {}", s.message());
  }
}

void CoordinatorServer::Wait() {
  if (server_) server_->Wait();
}

}  // namespace muster::cluster

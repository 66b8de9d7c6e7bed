#include "cluster/client/coordinator_client.h"

#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>

#include "cluster/common/convert.h"
#include "cluster/common/coordinator_list.h"
#include "cluster/common/link_limits.h"

namespace muster::client {

Status AddStateFilter(const std::string& name, v1::ListJobsRequest& req) {
  const std::optional<v1::JobState> state = cluster::ParseWireJobState(name);
  if (!state)
    return Status::InvalidArgument("'" + name +
                                   "' is not a job state (pending, running, succeeded, failed, "
                                   "cancelled, timeout, oom)");
  req.add_states(*state);
  return Status::Ok();
}

std::string ResolveCoordinatorAddress(const std::string& flag, const std::string& state_dir) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv(kCoordinatorEnv);
  if (env != nullptr && *env != '\0') return env;
  std::string written = cluster::ReadStateDirAddress(state_dir.empty() ? cluster::DefaultStateDir() : state_dir);
  if (!written.empty()) return written;
  return kDefaultCoordinatorAddress;
}

std::string UnreachableMessage(const std::string& address) {
  if (address.find(',') != std::string::npos)
    return "cannot reach a leading coordinator at any of " + address +
           " (only the leader serves; is their database up?)";
  return "cannot reach the coordinator at " + address +
         " (is `muster up` running? set --coordinator or MUSTER_COORDINATOR)";
}

namespace {

// 128 random bits in hex: a submission's request id.
std::string NewRequestId() {
  std::random_device rd;
  char id[33];
  std::snprintf(id, sizeof id, "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
  return id;
}

// The channel is connected within `until`; false once it fails to (refused, or silent).
bool ConnectsBy(grpc::Channel& channel, std::chrono::system_clock::time_point until) {
  grpc_connectivity_state state = channel.GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY) {
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) return false;
    if (!channel.WaitForStateChange(state, until)) return false;
    state = channel.GetState(true);
  }
  return true;
}

}  // namespace

Status FromGrpcStatus(const grpc::Status& status, const std::string& address) {
  Status s = cluster::FromGrpcStatus(status);
  if (s.ok()) return s;
  if (!cluster::CarriesMusterCode(status)) {  // made by gRPC itself, or by another server
    const std::string& said = status.error_message();
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE && said.starts_with(cluster::kStandbyPrefix))
      return Status(s.code(), "the coordinator at " + address + ": " +
                                  said.substr(std::string_view(cluster::kStandbyPrefix).size()) +
                                  " (give its address, or all of them: --coordinator a:7070,b:7070)");
    switch (status.error_code()) {
      case grpc::StatusCode::UNAVAILABLE:
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        return Status(s.code(), UnreachableMessage(address));
      case grpc::StatusCode::RESOURCE_EXHAUSTED:
        // gRPC's own words name a message over the links' size limit (link_limits.h).
        if (status.error_message().find("larger than max") != std::string::npos)
          return Status(StatusCode::kInvalidArgument,
                        "the request or its reply is larger than a link carries (" +
                            std::to_string(cluster::kMaxRequestBytes >> 20) + " MiB up, " +
                            std::to_string(cluster::kMaxReplyBytes >> 20) + " MiB down)");
        return Status(s.code(), "the coordinator at " + address + " is overloaded; retry later");
      case grpc::StatusCode::CANCELLED:
        return Status(s.code(), "request cancelled");
      case grpc::StatusCode::UNIMPLEMENTED:
        return Status(s.code(), "the coordinator at " + address +
                                    " does not support this request (version mismatch?)");
      default:
        break;
    }
  }
  if (!s.message().empty()) return s;
  switch (s.code()) {  // a bare code: say at least what kind of failure it was
    case StatusCode::kNotFound:
      return Status(s.code(), "not found");
    case StatusCode::kInvalidArgument:
      return Status(s.code(), "invalid request");
    case StatusCode::kInfeasible:
      return Status(s.code(), "request can never be satisfied");
    case StatusCode::kAlreadyExists:
      return Status(s.code(), "already exists");
    default:
      return Status(s.code(), "the coordinator reported an error");
  }
}

CoordinatorClient::CoordinatorClient(ClientOptions options) : options_(std::move(options)) {
  args_ = cluster::LinkChannelArgs(/*keepalive=*/false);
  if (options_.address.find(',') != std::string::npos) {  // one address is taken as it is
    auto list = cluster::ParseCoordinatorList(options_.address);
    if (list.ok())
      addresses_ = std::move(list).value();
    else if (options_.setup_error.ok())
      options_.setup_error = list.status();
  }
  if (addresses_.empty()) addresses_ = {options_.address};
  // With several: a channel of its own per attempt, not one shared with the earlier channel to
  // that address and its reconnect backoff (up to 1 s), so the new leader is found as soon as it
  // listens.
  if (addresses_.size() > 1) args_.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  Connect();
}

CoordinatorClient::CoordinatorClient(CoordinatorClient& base,
                                     std::shared_ptr<cluster::TokenSource> credentials,
                                     std::vector<std::pair<std::string, std::string>> metadata)
    : options_(base.options_),
      addresses_{base.current_address()},
      args_(base.args_),
      stub_(base.Stub()) {
  options_.credentials = std::move(credentials);
  options_.metadata.insert(options_.metadata.end(), metadata.begin(), metadata.end());
}

void CoordinatorClient::Connect(bool next, size_t from) {
  std::string address;
  {
    std::lock_guard lock(mu_);
    if (next && from != current_) return;  // another thread moved on already
    if (next) current_ = cluster::NextCoordinator(current_, addresses_.size());
    from = current_;
    address = addresses_[current_];
  }
  const bool local = !options_.dial.empty() && addresses_.size() == 1;
  auto channel = grpc::CreateCustomChannel(
      local ? options_.dial : address,
      local ? grpc::InsecureChannelCredentials()  // the kernel keeps the socket private
            : cluster::MakeChannelCredentials(options_.transport),
      args_);
  std::shared_ptr<v1::Coordinator::Stub> stub = v1::Coordinator::NewStub(channel);
  std::lock_guard lock(mu_);
  if (current_ != from) return;  // another thread moved on meanwhile: its channel stands
  channel_ = std::move(channel);
  stub_ = std::move(stub);
}

std::string CoordinatorClient::current_address() {
  std::lock_guard lock(mu_);
  return addresses_[current_];
}

bool CoordinatorClient::Reach(std::chrono::system_clock::time_point until) {
  while (std::chrono::system_clock::now() < until) {
    for (size_t tried = 0; tried < addresses_.size(); ++tried) {
      std::shared_ptr<grpc::Channel> channel;
      size_t at;
      {
        std::lock_guard lock(mu_);
        channel = channel_;
        at = current_;
      }
      // A refused address fails at once; a silent one is given up on after 2 s.
      const auto by = std::min(until, std::chrono::system_clock::now() + std::chrono::seconds(2));
      if (channel && ConnectsBy(*channel, by)) return true;
      Connect(/*next=*/true, at);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // none leads yet: a failover
  }
  return false;
}

std::shared_ptr<v1::Coordinator::Stub> CoordinatorClient::Stub() {
  std::lock_guard lock(mu_);
  return stub_;
}

Status CoordinatorClient::Authorize(grpc::ClientContext* ctx) {
  if (!options_.setup_error.ok()) return options_.setup_error;
  for (const auto& [key, value] : options_.metadata) ctx->AddMetadata(key, value);
  if (!options_.credentials) return Status::Ok();
  auto token = options_.credentials->Token();
  if (!token.ok()) return token.status();
  if (!token->empty()) ctx->AddMetadata("authorization", "Bearer " + *token);
  return Status::Ok();
}

template <typename Reply, typename Call>
Result<Reply> CoordinatorClient::Unary(Call call, bool resend) {
  const bool list = addresses_.size() > 1;
  // A list keeps trying for two deadlines, each call for at most half of one: a leader that went
  // silent costs half a deadline, and the rest is for the failover and the next leader.
  const auto give_up = std::chrono::system_clock::now() + (list ? 2 : 1) * options_.deadline;
  for (int attempt = 0;; ++attempt) {
    if (list && options_.setup_error.ok() && !Reach(give_up))
      return Status::Unavailable(UnreachableMessage(options_.address));
    grpc::ClientContext ctx;
    const auto now = std::chrono::system_clock::now();
    ctx.set_deadline(list ? std::min(give_up, now + options_.deadline / 2) : now + options_.deadline);
    if (Status a = Authorize(&ctx); !a.ok()) return a;
    Reply reply;
    size_t at;
    std::shared_ptr<v1::Coordinator::Stub> stub;
    {
      std::lock_guard lock(mu_);
      at = current_;
      stub = stub_;
    }
    grpc::Status st = call(*stub, &ctx, &reply);
    // CANCELLED that no muster code carries: this call's context is never cancelled here, so
    // the link broke under it (a leader killed mid-call can end its streams that way).
    const bool gone = !cluster::CarriesMusterCode(st) &&
                      (st.error_code() == grpc::StatusCode::UNAVAILABLE ||
                       (list && (st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
                                 st.error_code() == grpc::StatusCode::CANCELLED)));
    if (gone) {
      // The leader went away (or went silent) during the call, a failover: again to whichever
      // leads next.
      // A standby did nothing with the call: the next may lead (in a failover, none may yet).
      const bool standby = st.error_message().starts_with(cluster::kStandbyPrefix);
      if (list && !resend && !standby)
        return Status::Unavailable("the coordinator at " + current_address() +
                                   " went away during the call: it may or may not have been "
                                   "done; check before you try again");
      if (list && std::chrono::system_clock::now() < give_up) {
        if (standby) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        Connect(/*next=*/true, at);
        continue;
      }
      // A channel whose coordinator went away can stay unable to connect to the one that
      // replaced it (seen with TLS after a restart); the next call gets a new channel.
      Connect();
    }
    // A local session the coordinator no longer knows (it restarted): ask for a new one once.
    if (st.error_code() == grpc::StatusCode::UNAUTHENTICATED && attempt == 0 &&
        options_.credentials && options_.credentials->Refresh())
      continue;
    if (!st.ok()) return FromGrpcStatus(st, options_.address);
    return reply;
  }
}

Result<int64_t> CoordinatorClient::Submit(const v1::JobSpec& spec) {
  v1::SubmitRequest req;
  *req.mutable_spec() = spec;
  if (req.spec().request_id().empty()) req.mutable_spec()->set_request_id(NewRequestId());
  auto r = Unary<v1::SubmitReply>(
      [&](v1::Coordinator::Stub& stub, grpc::ClientContext* c, v1::SubmitReply* out) { return stub.Submit(c, req, out); });
  if (!r.ok()) return r.status();
  return r->job_id();
}

Result<v1::JobInfo> CoordinatorClient::GetJob(int64_t job_id) {
  v1::JobRef req;
  req.set_job_id(job_id);
  return Unary<v1::JobInfo>(
      [&](v1::Coordinator::Stub& stub, grpc::ClientContext* c, v1::JobInfo* out) { return stub.GetJob(c, req, out); });
}

Result<v1::JobList> CoordinatorClient::ListJobs(const v1::ListJobsRequest& request) {
  return Unary<v1::JobList>(
      [&](v1::Coordinator::Stub& stub, grpc::ClientContext* c, v1::JobList* out) { return stub.ListJobs(c, request, out); });
}

Result<v1::CancelReply> CoordinatorClient::Cancel(const std::vector<int64_t>& job_ids) {
  v1::CancelRequest req;
  for (int64_t id : job_ids) req.add_job_ids(id);
  return Unary<v1::CancelReply>(
      [&](v1::Coordinator::Stub& stub, grpc::ClientContext* c, v1::CancelReply* out) { return stub.Cancel(c, req, out); });
}

Result<v1::CancelReply> CoordinatorClient::Cancel(const v1::CancelRequest& req) {
  return Unary<v1::CancelReply>([&](v1::Coordinator::Stub& stub, grpc::ClientContext* c,
                                    v1::CancelReply* out) { return stub.Cancel(c, req, out); });
}

Result<v1::NodeList> CoordinatorClient::ListNodes() {
  v1::ListNodesRequest req;
  return Unary<v1::NodeList>(
      [&](v1::Coordinator::Stub& stub, grpc::ClientContext* c, v1::NodeList* out) { return stub.ListNodes(c, req, out); });
}

Result<v1::ScheduleTable> CoordinatorClient::GetSchedule(bool include_finished) {
  v1::GetScheduleRequest req;
  req.set_include_finished(include_finished);
  return Unary<v1::ScheduleTable>([&](v1::Coordinator::Stub& stub, grpc::ClientContext* c, v1::ScheduleTable* out) {
    return stub.GetSchedule(c, req, out);
  });
}

Result<v1::BalanceStatus> CoordinatorClient::GetBalance(int trend_points) {
  v1::GetBalanceRequest req;
  req.set_trend_points(trend_points);
  return Unary<v1::BalanceStatus>([&](v1::Coordinator::Stub& stub, grpc::ClientContext* c, v1::BalanceStatus* out) {
    return stub.GetBalance(c, req, out);
  });
}

Result<v1::ManageUsersReply> CoordinatorClient::ManageUsers(
    const v1::ManageUsersRequest& request) {
  const bool reads = request.op() == "list";  // the others make or remove a credential
  return Unary<v1::ManageUsersReply>(
      [&](v1::Coordinator::Stub& stub, grpc::ClientContext* c, v1::ManageUsersReply* out) {
        return stub.ManageUsers(c, request, out);
      },
      /*resend=*/reads);
}

Result<v1::JoinTokenReply> CoordinatorClient::CreateJoinToken(
    const v1::JoinTokenRequest& request) {
  return Unary<v1::JoinTokenReply>(
      [&](v1::Coordinator::Stub& stub, grpc::ClientContext* c, v1::JoinTokenReply* out) {
        return stub.CreateJoinToken(c, request, out);
      },
      /*resend=*/false);
}

Result<v1::AuditList> CoordinatorClient::ListAudit(const v1::AuditRequest& request) {
  return Unary<v1::AuditList>([&](v1::Coordinator::Stub& stub, grpc::ClientContext* c, v1::AuditList* out) {
    return stub.ListAudit(c, request, out);
  });
}

Result<v1::AccountingReply> CoordinatorClient::Accounting(const v1::AccountingRequest& request) {
  return Unary<v1::AccountingReply>([&](v1::Coordinator::Stub& stub, grpc::ClientContext* c, v1::AccountingReply* out) {
    return stub.Accounting(c, request, out);
  });
}

Result<v1::LimitReply> CoordinatorClient::ManageLimits(const v1::LimitRequest& request) {
  return Unary<v1::LimitReply>([&](v1::Coordinator::Stub& stub, grpc::ClientContext* c, v1::LimitReply* out) {
    return stub.ManageLimits(c, request, out);
  });
}

Result<v1::WhoAmIReply> CoordinatorClient::WhoAmI() {
  v1::WhoAmIRequest req;
  return Unary<v1::WhoAmIReply>(
      [&](v1::Coordinator::Stub& stub, grpc::ClientContext* c, v1::WhoAmIReply* out) { return stub.WhoAmI(c, req, out); });
}

Result<v1::DrainReply> CoordinatorClient::DrainNode(const v1::DrainRequest& request) {
  return Unary<v1::DrainReply>([&](v1::Coordinator::Stub& stub, grpc::ClientContext* c,
                                   v1::DrainReply* out) { return stub.DrainNode(c, request, out); });
}

Result<v1::CancelReply> CoordinatorClient::HoldJobs(const v1::HoldRequest& request) {
  return Unary<v1::CancelReply>([&](v1::Coordinator::Stub& stub, grpc::ClientContext* c,
                                    v1::CancelReply* out) { return stub.HoldJobs(c, request, out); });
}

Result<v1::GcReply> CoordinatorClient::CollectGarbage(const v1::GcRequest& request) {
  return Unary<v1::GcReply>([&](v1::Coordinator::Stub& stub, grpc::ClientContext* c,
                                v1::GcReply* out) { return stub.CollectGarbage(c, request, out); });
}

Result<v1::BackupChunk> CoordinatorClient::Backup(std::ostream& out) {
  if (addresses_.size() > 1 && options_.setup_error.ok() &&
      !Reach(std::chrono::system_clock::now() + options_.deadline))
    return Status::Unavailable(UnreachableMessage(options_.address));
  grpc::ClientContext ctx;
  if (Status a = Authorize(&ctx); !a.ok()) return a;
  auto reader = Stub()->Backup(&ctx, v1::BackupRequest());
  v1::BackupChunk chunk, head;
  bool first = true;
  while (reader->Read(&chunk)) {
    if (first) {
      head = chunk;
      head.clear_data();
      first = false;
    }
    out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
    if (!out) {
      ctx.TryCancel();
      reader->Finish();
      return Status::Unavailable("cannot write the backup");
    }
  }
  grpc::Status st = reader->Finish();
  if (!st.ok()) return FromGrpcStatus(st, options_.address);
  if (first) return Status::Internal("the coordinator sent an empty backup");
  return head;
}

Status CoordinatorClient::ReadLogs(const v1::LogRequest& request,
                                   const std::function<bool(const v1::LogChunk&)>& on_chunk,
                                   const std::atomic<bool>* stop) {
  if (addresses_.size() > 1 && options_.setup_error.ok() &&
      !Reach(std::chrono::system_clock::now() + options_.deadline))
    return Status::Unavailable(UnreachableMessage(options_.address));
  grpc::ClientContext ctx;
  if (!request.follow()) ctx.set_deadline(std::chrono::system_clock::now() + options_.deadline);
  if (Status a = Authorize(&ctx); !a.ok()) return a;
  // A watcher cancels the call when asked to stop; Read() then returns false.
  std::atomic<bool> done{false};
  std::atomic<bool> stopped{false};
  std::thread watcher;
  if (stop != nullptr) {
    watcher = std::thread([&] {
      while (!done.load()) {
        if (stop->load()) {
          stopped = true;
          ctx.TryCancel();
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }
  auto stub = Stub();
  auto reader = stub->ReadLogs(&ctx, request);
  v1::LogChunk chunk;
  bool cancelled_by_callback = false;
  while (reader->Read(&chunk)) {
    if (!on_chunk(chunk)) {
      cancelled_by_callback = true;
      ctx.TryCancel();
      break;
    }
  }
  grpc::Status st = reader->Finish();
  done = true;
  if (watcher.joinable()) watcher.join();
  if (cancelled_by_callback || stopped) return Status::Ok();
  return FromGrpcStatus(st, options_.address);
}

}  // namespace muster::client

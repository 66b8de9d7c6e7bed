// A client for the coordinator's user API (the Coordinator gRPC service), as the CLI uses it.
//
// Every unary call carries a deadline (ClientOptions::deadline) and fails fast when the
// coordinator cannot be reached (no wait-for-ready), so a command never hangs; the next call after
// an unreachable coordinator uses a new channel (a TLS channel to a coordinator that was killed
// did not reconnect to its successor), and one refused for an unknown local session asks the
// local socket for a new one and retries once. Calls carry the bearer token of
// ClientOptions::credentials over ClientOptions::transport (TLS by default). gRPC statuses are
// mapped to muster Status codes and never leak gRPC wording:
//   UNAVAILABLE, DEADLINE_EXCEEDED      -> kUnavailable (message: "cannot reach the coordinator
//   ...") NOT_FOUND                           -> kNotFound      (the coordinator's message)
//   INVALID_ARGUMENT, OUT_OF_RANGE      -> kInvalidArgument
//   FAILED_PRECONDITION                 -> kInfeasible    (the only precondition the API reports)
//   ALREADY_EXISTS                      -> kAlreadyExists
//   anything else                       -> kInternal      ("the coordinator reported an error:
//   ...")
//
// Several coordinators (ClientOptions::address "a:7070,b:7070", coordinator_list.h): only the
// leader serves, so the client goes to whichever address connects, trying them in turn (a new
// channel each) for up to two deadlines, each call for at most half of one; a call that finds its
// coordinator gone (or silent) is sent again to the next that connects. A call may be sent twice
// that way: Submit carries a request id (JobSpec::request_id, random unless the spec has one), so
// that a retried submission gets the job the first one made; the others read, or change what is
// already so (a second cancel says "already cancelled"), except ManageUsers and CreateJoinToken,
// which make a token: one of those whose coordinator went away once it had the call fails with
// a line saying it may or may not have been done, rather than being sent again.
// Thread-safety: a CoordinatorClient may be used from several threads at once (gRPC stubs are).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/support/channel_arguments.h>

#include "cluster/common/credentials.h"
#include "cluster/common/tls.h"
#include "cluster/proto/muster.grpc.pb.h"
#include "core/status.h"

namespace muster::client {

inline constexpr const char* kDefaultCoordinatorAddress = "127.0.0.1:7070";
inline constexpr const char* kCoordinatorEnv = "MUSTER_COORDINATOR";

// The address to use: `flag` if non-empty, else $MUSTER_COORDINATOR if set, else the one written
// in the state dir (`state_dir`, "" = DefaultStateDir()), else the default.
std::string ResolveCoordinatorAddress(const std::string& flag, const std::string& state_dir = "");

// The single line printed when the coordinator cannot be reached (without "muster: "); `address`
// may be a list.
std::string UnreachableMessage(const std::string& address);

// Maps a gRPC status to a muster Status as described in the header comment.
Status FromGrpcStatus(const grpc::Status& status, const std::string& address);

// Adds a job state as a user names it ("running") to a job list's filter. The error names the
// states there are.
Status AddStateFilter(const std::string& name, v1::ListJobsRequest& req);

struct ClientOptions {
  std::string address = kDefaultCoordinatorAddress;  // HOST:PORT, or a list HOST:PORT,HOST:PORT
  // Where a single address is dialled instead, as gRPC names it: "unix:PATH", the same
  // coordinator's local socket (credentials.h FindLocalGrpcSocket); "" = the address itself.
  // Messages still name `address`.
  std::string dial;
  std::chrono::milliseconds deadline{10000};  // per unary call
  // The bearer token each call carries (credentials.h); null = none.
  std::shared_ptr<cluster::TokenSource> credentials;
  // TLS with the cluster's CA, or plaintext (tls.h). The default checks the coordinator against
  // no CA at all, so it fails closed.
  cluster::ClientTransport transport;
  // Non-ok: the client could not be set up (no CA found, ...); every call answers this.
  Status setup_error;
  // Metadata every call carries besides the credential (the REST gateway's delegation headers,
  // cluster/gateway/rest_api.h); keys in lower case.
  std::vector<std::pair<std::string, std::string>> metadata;
};

class CoordinatorClient {
 public:
  explicit CoordinatorClient(ClientOptions options);
  // A client on `base`'s channel whose calls carry `credentials` instead, and `metadata` besides
  // base's (one per HTTP request of the REST gateway, cheap: no new connection).
  CoordinatorClient(CoordinatorClient& base, std::shared_ptr<cluster::TokenSource> credentials,
                    std::vector<std::pair<std::string, std::string>> metadata = {});

  const std::string& address() const { return options_.address; }
  // The address calls go to now (one of a list).
  std::string current_address();

  // Submits one job; the reply's id is durable once returned.
  Result<int64_t> Submit(const v1::JobSpec& spec);
  Result<v1::JobInfo> GetJob(int64_t job_id);
  Result<v1::JobList> ListJobs(const v1::ListJobsRequest& request);
  // Per-id results; an unknown id is reported in its CancelResult, not as a call error.
  Result<v1::CancelReply> Cancel(const std::vector<int64_t>& job_ids);
  Result<v1::CancelReply> Cancel(const v1::CancelRequest& request);
  Result<v1::NodeList> ListNodes();
  Result<v1::ScheduleTable> GetSchedule(bool include_finished);
  Result<v1::BalanceStatus> GetBalance(int trend_points);
  // Users (admin): op add | remove | rotate | list.
  Result<v1::ManageUsersReply> ManageUsers(const v1::ManageUsersRequest& request);
  // A one-time join token for a node (admin).
  Result<v1::JoinTokenReply> CreateJoinToken(const v1::JoinTokenRequest& request);
  // The audit log (admin).
  Result<v1::AuditList> ListAudit(const v1::AuditRequest& request);
  Result<v1::AccountingReply> Accounting(const v1::AccountingRequest& request);
  Result<v1::LimitReply> ManageLimits(const v1::LimitRequest& request);
  // Removes finished jobs (admin).
  Result<v1::GcReply> CollectGarbage(const v1::GcRequest& request);
  Result<v1::DrainReply> DrainNode(const v1::DrainRequest& request);
  Result<v1::CancelReply> HoldJobs(const v1::HoldRequest& request);
  // A backup of the whole state (admin), written to `out` as it arrives; the first chunk's
  // fields say what it holds. No deadline: a big state takes a while.
  Result<v1::BackupChunk> Backup(std::ostream& out);
  // Who the coordinator takes this client for.
  Result<v1::WhoAmIReply> WhoAmI();

  // Streams log chunks to `on_chunk` until the stream ends, `on_chunk` returns false, or
  // `*stop` becomes true (checked every 100 ms; may be null). No deadline when request.follow.
  Status ReadLogs(const v1::LogRequest& request,
                  const std::function<bool(const v1::LogChunk&)>& on_chunk,
                  const std::atomic<bool>* stop = nullptr);

 private:
  template <typename Reply, typename Call>
  // `resend` false: a call that a leader of a list took and then went away with is not sent to
  // the next (it makes something a second call would not give back: a user's token); it fails
  // saying it may or may not have been done.
  Result<Reply> Unary(Call call, bool resend = true);
  // Adds the credential to a call's context; an error when the credential cannot be had.
  Status Authorize(grpc::ClientContext* ctx);

  ClientOptions options_;
  // A new channel and stub (after an unreachable coordinator) to the current address, or to the
  // one after `from` when `next`; the current stub.
  void Connect(bool next = false, size_t from = 0);
  std::shared_ptr<v1::Coordinator::Stub> Stub();
  // With several addresses: until `until`, moves to the first (from the current one on) whose
  // channel connects; false when none did.
  bool Reach(std::chrono::system_clock::time_point until);

  std::vector<std::string> addresses_;  // the list; one entry for a single address
  grpc::ChannelArguments args_;
  std::mutex mu_;
  size_t current_ = 0;                                // GUARDED_BY(mu_): index in addresses_
  std::shared_ptr<grpc::Channel> channel_;            // GUARDED_BY(mu_)
  std::shared_ptr<v1::Coordinator::Stub> stub_;  // GUARDED_BY(mu_); holds its channel
};

}  // namespace muster::client

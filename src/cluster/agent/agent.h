// The node agent: one long-lived AgentLink stream to the coordinator, through which it
// registers, heartbeats, receives Launch/Kill and reports what its tasks do.
//
// Sessions: each connection is a session on a fresh channel. It sends Register (node spec and
// the tasks still running from before), waits for RegisterReply (10 s at most), kills the tasks
// listed in reply.kill, then re-sends the exit events that happened while disconnected and up to
// kResendWindowMs before the previous session ended (they may have been lost in flight; the
// coordinator ignores repeats). A writer thread sends queued messages (task logs, progress,
// events, in that order per pass, so a task's last output precedes its end) and a heartbeat with
// a usage sample every heartbeat interval; the session's own thread reads commands, and hands
// launches to a LaunchPool (launch_pool.h), so that a spawn that hangs blocks no kill or lease.
// Lease: the coordinator answers Register and each Heartbeat (numbered per agent) with a lease of
// RegisterReply.lease_ms from that message's sending; the agent's TaskKeeper (task_keeper.h, a
// process that is its tasks' parent) stops every task when the lease runs out without renewal,
// and a Launch that arrives then is not started (reported lost). Tasks the fence stopped are
// reported lost. An agent that crashed (kill -9) and is started again within the lease finds
// the keeper, adopts the tasks it still holds, and reports them running when it registers.
// When the stream breaks, tasks keep running until the lease runs out; the agent reconnects with capped exponential
// backoff (initial_backoff_ms doubling up to max_backoff_ms, with jitter). While disconnected,
// logs are buffered up to max_buffered_log_bytes (then dropped; the local files keep them all),
// progress keeps only the latest report per task, and exits are all kept.
// The first registration being refused (e.g. the name is taken) is fatal: Run returns the
// error. A refusal after a reconnect is retried, since the coordinator may still hold the old link.
//
// Thread-safety: Run is called once, from one thread; Shutdown and the TaskSink callbacks may be
// called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cluster/agent/discovery.h"
#include "cluster/agent/gpu_driver.h"
#include "cluster/agent/launch_pool.h"
#include "cluster/agent/launcher.h"
#include "cluster/agent/task_keeper.h"
#include "cluster/agent/task_cgroup.h"
#include "cluster/agent/usage.h"
#include "cluster/common/credentials.h"
#include "cluster/common/tls.h"
#include "core/status.h"

namespace grpc {
class ClientContext;
}

namespace muster::agent {

struct AgentOptions {
  // HOST:PORT, or the list of a cluster's coordinators HOST:PORT,HOST:PORT (coordinator_list.h):
  // each session goes to the next of them until one that leads answers.
  std::string coordinator = "127.0.0.1:7070";
  std::string work_dir;
  DiscoveryOptions discovery;
  int64_t heartbeat_ms = 1000;  // replaced by the coordinator's interval when it sends one
  int64_t initial_backoff_ms = 100;
  int64_t max_backoff_ms = 2000;
  int64_t register_timeout_ms = 10000;
  int64_t stop_grace_ms = 5000;  // SIGTERM -> SIGKILL on agent shutdown
  size_t max_buffered_log_bytes = 16 << 20;
  // The credential the link carries (credentials.h); null = none.
  std::shared_ptr<cluster::TokenSource> credentials;
  // TLS with the cluster's CA, or plaintext (tls.h).
  cluster::ClientTransport transport;
  // A node certificate in `transport` is renewed when it expires within this (join.h): checked at
  // every connection, and a session is ended (and the link made again) when it falls due.
  int64_t renew_before_ms = 30LL * 86400 * 1000;
  // Task log files in the work dir are removed this long after they were last written (their
  // content has reached the coordinator by then); 0 keeps them. Checked hourly while connected.
  int64_t log_retention_ms = 14LL * 86400 * 1000;
  // Each task's limit of processes and threads, where the node has the pids controller; 0 = none.
  int64_t task_pids_max = 16384;
};

class Agent final : public TaskSink {
 public:
  static constexpr int64_t kResendWindowMs = 30000;

  // Discovers the node and prepares the work dir. InvalidArgument on bad options.
  static Result<std::unique_ptr<Agent>> Create(AgentOptions options);
  ~Agent() override;

  // Connects, serves and reconnects until Shutdown. Returns Ok after a shutdown, or the error
  // of a refused first registration (its tasks are stopped first).
  Status Run();
  // Stops every task (TERM, then KILL after stop_grace_ms), reports their ends if connected,
  // then makes Run return. Blocking; call it from any thread but the one in Run.
  void Shutdown();

  const NodeSpec& node() const { return node_.spec; }
  std::string Describe() const;

  // TaskSink: called by the launcher.
  void OnEvent(const v1::TaskEvent& e) override;
  void OnLog(const v1::TaskLog& l) override;
  void OnProgress(const v1::TaskProgress& p) override;

 private:
  struct Exit {
    v1::TaskEvent event;
    bool sent = false;
    int64_t sent_ms = 0;
  };
  struct Session;

  explicit Agent(AgentOptions options);
  // One connection; returns when it ends. `fatal` is set for a refused first registration,
  // `registered` once the coordinator accepted this session.
  Status RunSession(bool* fatal, bool* registered);
  void WriterLoop(Session& s);
  void HandleCommand(const v1::CoordinatorMessage& m);
  // Runs on a launch worker: starts the task, or reports why it was not started.
  void StartLaunch(const v1::Launch& l);
  // Stops an attempt wherever it is: queued for launch, being spawned, or running.
  void KillAttempt(int64_t job_id, int32_t task_index, int64_t attempt, int64_t grace_ms,
                   const std::string& reason = "");
  v1::Register BuildRegister();
  bool WaitBackoff(int64_t ms);  // false if shutting down

  AgentOptions options_;
  DiscoveredNode node_;
  std::unique_ptr<GpuDriver> driver_;
  std::unique_ptr<UsageSampler> sampler_;  // used by the writer thread only
  std::unique_ptr<TaskKeeper> keeper_;     // before launcher_: it outlives the launcher
  std::optional<CgroupTree> cgroups_;      // engaged when tasks get their own cgroups
  std::string containment_;                // how tasks are contained, for Describe
  std::unique_ptr<Launcher> launcher_;
  std::unique_ptr<LaunchPool> launches_;  // after launcher_: its workers call it

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::AgentMessage> outbox_;  // GUARDED_BY(mu_): running events and logs
  size_t outbox_log_bytes_ = 0;          // GUARDED_BY(mu_)
  size_t dropped_log_bytes_ = 0;         // GUARDED_BY(mu_)
  std::map<std::tuple<int64_t, int32_t, int64_t>, v1::TaskProgress> progress_;  // GUARDED_BY(mu_)
  std::deque<Exit> exits_;                   // GUARDED_BY(mu_): recent terminal events
  bool connected_ = false;                   // GUARDED_BY(mu_)
  bool shutting_down_ = false;               // GUARDED_BY(mu_)
  int64_t heartbeat_ms_;                     // GUARDED_BY(mu_)
  int64_t last_disconnect_ms_ = 0;           // GUARDED_BY(mu_)
  grpc::ClientContext* live_ctx_ = nullptr;  // GUARDED_BY(mu_): the session to cancel
  bool registered_once_ = false;             // used by Run's thread only
  std::vector<std::string> coordinators_;    // options_.coordinator as a list; set by Create
  size_t coordinator_at_ = 0;                // the next session's; used by Run's thread only
  // The last lease the coordinator granted (its length) and when its reply came (NowMs scale):
  // with several coordinators, one silent for half a lease is left for the next.
  std::atomic<int64_t> lease_ms_seen_{0};
  std::atomic<int64_t> lease_reply_ms_{0};
  int64_t heartbeat_seq_ = 0;                // GUARDED_BY(mu_)
  std::deque<std::pair<int64_t, int64_t>> heartbeats_sent_;  // GUARDED_BY(mu_): seq, mono ms
};

// The local address this host uses to reach `target` ("host:port"), e.g. "10.0.0.5";
// "127.0.0.1" for a loopback target. Empty if it cannot be determined.
std::string LocalAddressFor(const std::string& target);

}  // namespace muster::agent

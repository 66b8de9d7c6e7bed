// `muster coordinator`: runs the coordinator process (gRPC server, state store, scheduling loop)
// until SIGINT/SIGTERM, then shuts down gracefully. Refuses to start when another coordinator
// holds the same state dir (an flock on DIR/coordinator.lock).
//
// On a PostgreSQL store, coordinators elect a leader through the database (store/leadership.h):
// a coordinator waits as a standby (answering every call with who leads: standby_server.h) until
// it takes the lease, then leads with
// its store fenced by its term, while a LeaseKeeper renews the lease every lease/3. When no
// renewal has succeeded for 3/4 of a lease (the database cut off) or the term was taken over, the
// coordinator steps down: it stops serving (so that its agents and clients go to the new leader)
// and becomes a standby again. A clean stop resigns the lease, so that a standby takes over at
// once.
#include <fcntl.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include "balance/balancer.h"
#include "cli/commands.h"
#include "cluster/common/credentials.h"
#include "cluster/common/mutex.h"
#include "cluster/store/leadership.h"
#include "cluster/store/open_store.h"
#include "core/resources.h"
#include "cluster/coordinator/server.h"
#include "cluster/coordinator/standby_server.h"
#include "sched/scheduler.h"

namespace muster::cli {

namespace {

struct CoordinatorFlags {
  std::string listen = "127.0.0.1:7070";
  std::string state_dir;
  std::string store;  // "" = $MUSTER_STORE, else <state dir>/state.db
  std::string heartbeat_timeout = "10s";
  std::string lost_node_timeout = "30s";
  std::string fence_grace = "5s";
  std::string leader_lease = "5s";
  std::string log_limit = "64M", max_log_limit = "1G";
  std::string default_time = "0", max_time = "0";
  std::string retention = "14d";
  std::string fairshare_half_life = "7d";
  std::string preempt;  // "" = as the policy: srtf and las preempt, the others do not
  std::string las_thresholds = "3600,36000";
  std::string preempt_after = "30s";
  std::string policy = "fifo";
  std::string scorer = "binpack";
  bool no_backfill = false;
  std::string http;  // "" = off
  std::string balancer = "dry-run";
  std::string balance_period = "10s";
  double balance_threshold = 0.25;
  std::string balance_window = "60s";
  int balance_k = 3;
  bool allow_local_users = false;
  bool allow_root_jobs = false;
  bool insecure = false;
  std::vector<std::string> tls_sans;
  double submit_rate = 2000;
};

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Keeps the lease of one term: renews it every lease/3 on its own thread. Lost() says why the
// lease can no longer be trusted: the term was taken over, or no renewal has succeeded for 3/4 of
// a lease, counted from when the last good one started (the database counted its expiry from a
// later instant), whether or not a renewal is still hanging on the network.
class LeaseKeeper {
 public:
  // `taken_ms`: SteadyMs() when the call that took the lease began.
  LeaseKeeper(cluster::Leadership& leadership, int64_t term, int64_t lease_ms, int64_t taken_ms)
      : leadership_(leadership), term_(term), lease_ms_(lease_ms), last_ok_ms_(taken_ms) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~LeaseKeeper() {
    Stop();
    thread_.join();  // a renewal in flight ends within the connection's timeouts
  }
  // No renewal from now on (one in flight finishes); does not wait.
  void Stop() EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
  }
  // The term was taken over (a renewal was refused).
  bool Deposed() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return !deposed_.empty();
  }
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // "" while the lease holds.
  std::string Lost() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (!deposed_.empty()) return deposed_;
    const int64_t silent = SteadyMs() - last_ok_ms_;
    if (silent * 4 >= lease_ms_ * 3)
      return "the lease of term " + std::to_string(term_) + " could not be renewed for " +
             std::to_string(silent) + " ms (" + last_error_ + ")";
    return "";
  }

 private:
  void Loop() EXCLUDES(mu_) {
    for (;;) {
      {
        MutexLock lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(lease_ms_ / 3),
                     [&]() REQUIRES(mu_) { return stopping_; });
        if (stopping_ || !deposed_.empty()) return;
      }
      const int64_t start = SteadyMs();
      Status s = leadership_.Renew(term_, lease_ms_);
      MutexLock lock(mu_);
      if (s.ok()) {
        last_ok_ms_ = start;
      } else if (s.code() == StatusCode::kFailedPrecondition) {
        deposed_ = s.message();
      } else {
        last_error_ = s.message();
      }
    }
  }

  cluster::Leadership& leadership_;
  const int64_t term_, lease_ms_;
  Mutex mu_;
  std::condition_variable_any cv_;
  int64_t last_ok_ms_ GUARDED_BY(mu_);
  std::string deposed_ GUARDED_BY(mu_);
  std::string last_error_ GUARDED_BY(mu_) = "no answer yet";
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// Waits for a stop signal in `stop` for up to `ms`: the signal, or 0.
int WaitForSignal(const sigset_t& stop, int64_t ms) {
  timespec ts{.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
  const int sig = sigtimedwait(&stop, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

struct Led {
  int64_t term = 0;      // 0: stopped by a signal instead
  int64_t taken_ms = 0;  // SteadyMs() when the call that took it began
};

// Standby: tries to take the lease every min(1 s, lease/5) until it does or a stop signal
// arrives. Says who leads whenever that changes, in the log and through `standby` (may be null)
// to whoever calls.
Led WaitToLead(cluster::Leadership& leadership, int64_t lease_ms, const sigset_t& stop,
               cluster::StandbyServer* standby) {
  const int64_t poll_ms = std::min<int64_t>(1000, lease_ms / 5);
  std::string said;
  for (;;) {
    const int64_t start = SteadyMs();
    auto led = leadership.TryLead(lease_ms);
    if (led.ok() && led->has_value()) return {.term = **led, .taken_ms = start};
    std::string now;
    if (!led.ok()) {
      now = "standby: " + led.status().message();
    } else if (auto who = leadership.Current(); who.ok()) {
      now = "standby: " + (who->holder.empty() ? std::string("nobody") : who->holder) +
            " leads (term " + std::to_string(who->term) + ", clients at " + who->address + ")";
      if (standby && !who->holder.empty())
        standby->SetLeader(who->holder + " (term " + std::to_string(who->term) + ") at " +
                           who->address);
    }
    if (now != said && !now.empty()) spdlog::info("{}", now);
    said = now;
    if (int sig = WaitForSignal(stop, poll_ms); sig != 0) {
      spdlog::info("stopping on signal {}", sig);
      return {};
    }
  }
}

// Runs `steps`, or ends the process when they take longer than `limit_ms` (a store whose
// database went silent may hold the last batch, or a renewal, for the connection's timeouts): a
// coordinator that steps down must stop serving for sure.
void WithinOrExit(const std::function<void()>& steps, int64_t limit_ms) {
  std::atomic<bool> done{false};
  std::thread watchdog([&] {
    const int64_t until = SteadyMs() + limit_ms;
    while (!done.load() && SteadyMs() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!done.load()) {
      spdlog::error("could not stop serving within {} ms: exiting", limit_ms);
      spdlog::default_logger()->flush();
      ::_exit(kExitFailed);
    }
  });
  steps();
  done.store(true);
  watchdog.join();
}

int RunCoordinator(const CoordinatorFlags& f) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("coordinator"));
  cluster::ServerOptions opts;
  opts.listen = f.listen;
  opts.insecure = f.insecure;
  if (!std::isfinite(f.submit_rate) || f.submit_rate < 0) {
    std::cerr << "muster: --submit-rate must be a number of jobs per second >= 0\n";
    return kExitUsage;
  }
  opts.submit_rate = f.submit_rate;
  opts.submit_burst = std::max(1.0, f.submit_rate * 10);
  opts.tls_sans = f.tls_sans;
  opts.coordinator.state_dir = f.state_dir.empty() ? cluster::DefaultStateDir() : f.state_dir;
  opts.coordinator.store_url = f.store;
  if (const char* env = std::getenv("MUSTER_STORE"); opts.coordinator.store_url.empty() && env)
    opts.coordinator.store_url = env;
  opts.coordinator.auth.owner_uid = ::geteuid();
  opts.coordinator.auth.allow_local_users = f.allow_local_users;
  opts.coordinator.allow_root_jobs = f.allow_root_jobs;
  opts.coordinator.heartbeat_timeout_ms = ParseDurationMs(f.heartbeat_timeout);
  opts.coordinator.lost_node_timeout_ms = ParseDurationMs(f.lost_node_timeout);
  opts.coordinator.fence_grace_ms = ParseDurationMs(f.fence_grace);
  opts.coordinator.default_log_limit_mib = ParseMemoryMiB(f.log_limit);
  opts.coordinator.max_log_limit_mib = ParseMemoryMiB(f.max_log_limit);
  if (opts.coordinator.default_log_limit_mib < 1 || opts.coordinator.max_log_limit_mib < 1 ||
      opts.coordinator.default_log_limit_mib > opts.coordinator.max_log_limit_mib) {
    std::cerr << "muster: --log-limit and --max-log-limit are sizes like 64M or 1G, the default "
                 "no larger than the maximum\n";
    return kExitUsage;
  }
  opts.coordinator.default_time_limit_ms =
      f.default_time == "0" ? 0 : ParseTimeLimitMs(f.default_time);
  opts.coordinator.max_time_limit_ms = f.max_time == "0" ? 0 : ParseTimeLimitMs(f.max_time);
  if (opts.coordinator.default_time_limit_ms < 0 || opts.coordinator.max_time_limit_ms < 0 ||
      (opts.coordinator.max_time_limit_ms > 0 &&
       opts.coordinator.default_time_limit_ms > opts.coordinator.max_time_limit_ms)) {
    std::cerr << "muster: --default-time and --max-time are time limits like 2h or 1-00:00:00 "
                 "(0: none), the default no longer than the maximum\n";
    return kExitUsage;
  }
  opts.coordinator.retention_ms = f.retention == "0" ? 0 : ParseDurationMs(f.retention);
  if (opts.coordinator.retention_ms < 0 ||
      (f.retention != "0" && opts.coordinator.retention_ms == 0)) {
    std::cerr << "muster: --retention is a duration like 14d or 12h, or 0 to keep finished jobs\n";
    return kExitUsage;
  }
  // srtf and las are sjf and las that preempt, as in `muster sim`.
  opts.coordinator.scheduler.queue_policy = f.policy == "srtf" ? "sjf" : f.policy;
  opts.coordinator.preemption =
      !f.preempt.empty() ? f.preempt : f.policy == "srtf" || f.policy == "las" ? f.policy : "off";
  std::string bad;
  if (auto t = ParseNumberList(f.las_thresholds, &bad)) {
    opts.coordinator.las_thresholds_gpu_s = std::move(*t);
  } else {
    std::cerr << "muster: --las-thresholds: '" << bad << "' is not a number\n";
    return kExitUsage;
  }
  if (Status s = cluster::CheckPreemptionOptions(opts.coordinator); !s.ok()) {
    std::cerr << "muster: " << s.message()
              << " (so that the job that preempts, not its victims, is first for the room they "
                 "free)\n";
    return kExitUsage;
  }
  if ((opts.coordinator.preempt_after_ms = ParseDurationMs(f.preempt_after)) < 0) {
    std::cerr << "muster: --preempt-after is a duration like 30s or 5m\n";
    return kExitUsage;
  }
  opts.coordinator.fairshare_half_life_ms =
      f.fairshare_half_life == "0" ? 0 : ParseDurationMs(f.fairshare_half_life);
  if (opts.coordinator.fairshare_half_life_ms < 0 ||
      (f.fairshare_half_life != "0" && opts.coordinator.fairshare_half_life_ms == 0)) {
    std::cerr << "muster: --fairshare-half-life is a duration like 7d or 12h, or 0 to count only "
                 "what users hold now\n";
    return kExitUsage;
  }
  if (opts.coordinator.heartbeat_timeout_ms <= 0 || opts.coordinator.lost_node_timeout_ms <= 0 ||
      opts.coordinator.fence_grace_ms <= 0) {
    std::cerr << "muster: timeouts look like 10s, 500ms or 2m\n";
    return kExitUsage;
  }
  const int64_t lease_ms = ParseDurationMs(f.leader_lease);
  if (lease_ms < 1000) {
    std::cerr << "muster: --leader-lease is a duration of at least 1s, like 5s or 2m\n";
    return kExitUsage;
  }
  opts.coordinator.scheduler.backfill = !f.no_backfill;
  opts.coordinator.scheduler.scorers = {f.scorer};
  opts.http = f.http;
  auto mode = balance::ParseBalancerMode(f.balancer);
  if (!mode.ok()) {
    std::cerr << "muster: --balancer: " << mode.status().message() << "\n";
    return kExitUsage;
  }
  auto& bc = opts.coordinator.balancer;
  bc.mode = *mode;
  bc.period_ms = ParseDurationMs(f.balance_period);
  bc.threshold = f.balance_threshold;
  bc.consecutive_periods = f.balance_k;
  bc.scheduler = opts.coordinator.scheduler;
  // The balancer plans by itself only for an empty queue, where the order does not matter; its
  // registry has no "las" (the coordinator's does, with the thresholds).
  if (bc.scheduler.queue_policy == "las") bc.scheduler.queue_policy = "fifo";
  opts.coordinator.usage_window_ms = ParseDurationMs(f.balance_window);
  if (bc.period_ms <= 0 || opts.coordinator.usage_window_ms <= 0) {
    std::cerr << "muster: balance durations look like 10s, 500ms or 2m\n";
    return kExitUsage;
  }

  std::error_code ec;
  std::filesystem::create_directories(opts.coordinator.state_dir, ec);
  std::string lock_path = opts.coordinator.state_dir + "/coordinator.lock";
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    std::cerr << "muster: another coordinator is using the state dir " << opts.coordinator.state_dir
              << "\n";
    return kExitFailed;
  }

  // Block the stop signals in every thread; this one waits for them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  // A client that goes away mid-reply (a browser closing a followed log) makes a write fail; it
  // must not end the coordinator. Tasks get default dispositions back (agent/spawn.cc).
  signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<cluster::Leadership> leadership;
  if (cluster::IsPostgresStoreUrl(opts.coordinator.store_url)) {
    auto l = cluster::Leadership::Open(opts.coordinator.store_url, cluster::MakeHolderName(),
                                       f.listen);
    if (!l.ok()) {
      std::cerr << "muster: " << l.status().message() << "\n";
      ::close(lock_fd);
      return l.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailed;
    }
    leadership = std::move(l).value();
    spdlog::info("electing a leader through {} as {} (lease {} ms)",
                 cluster::RedactStoreUrl(opts.coordinator.store_url), leadership->holder(),
                 lease_ms);
  }
  int code = kExitOk;
  for (;;) {
    int64_t term = 0;
    // Renewing from the moment it is taken: loading a large state may take longer than a lease.
    std::optional<LeaseKeeper> keeper;
    if (leadership) {
      // While standing by, calls to this port are told who leads (and list clients move on).
      auto standby = cluster::StandbyServer::Start(opts.listen, opts.coordinator.state_dir,
                                                   opts.insecure,
                                                   cluster::CoordinatorServer::ServedNames(opts));
      if (!standby.ok()) spdlog::warn("standing by without serving: {}", standby.status().message());
      const Led led =
          WaitToLead(*leadership, lease_ms, stop, standby.ok() ? standby->get() : nullptr);
      if (standby.ok()) standby->reset();  // the port is the leader's now
      if (led.term == 0) break;
      term = led.term;
      keeper.emplace(*leadership, term, lease_ms, led.taken_ms);
      opts.coordinator.store.leader_term = term;
      opts.coordinator.store.leader_lease_ms = lease_ms;
      spdlog::info("leading as term {}", term);
    }
    auto server = cluster::CoordinatorServer::Start(opts);
    if (!server.ok() && keeper && !keeper->Lost().empty()) {  // lost while loading
      spdlog::error("stepping down: {} ({})", keeper->Lost(), server.status().message());
      keeper->Stop();
      WithinOrExit([&] { keeper.reset(); }, 30000);  // a renewal may hang on a silent database
      continue;
    }
    if (!server.ok()) {
      std::cerr << "muster: " << server.status().message() << "\n";
      keeper.reset();
      if (leadership) (void)leadership->Resign(term);
      code = server.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailed;
      break;
    }
    int sig = 0;
    std::string lost;
    while (sig == 0 && lost.empty()) {
      sig = WaitForSignal(stop, keeper ? 100 : 1000);
      if (keeper) lost = keeper->Lost();
    }
    if (sig == 0) {
      // Stop acting before a standby can take over: no more renewals (a lease that was not
      // taken over is given back below, so that a standby need not wait it out), no more calls
      // or agent links (agents and clients go to the new leader), then the rest.
      spdlog::error("stepping down: {}", lost);
      keeper->Stop();
      std::error_code ec;
      std::filesystem::remove(opts.coordinator.state_dir + "/coordinator.addr", ec);
      WithinOrExit(
          [&] {
            (*server)->StopServingNow();
            (*server)->Shutdown();
            server->reset();
            const bool deposed = keeper->Deposed();
            keeper.reset();
            if (!deposed) (void)leadership->Resign(term);
          },
          30000);
      spdlog::info("standing by to lead again");
      continue;
    }
    spdlog::info("stopping on signal {}", sig);
    (*server)->Shutdown();
    server->reset();
    keeper.reset();
    if (leadership)  // a standby takes over at once
      if (Status r = leadership->Resign(term); !r.ok())
        spdlog::warn("could not resign the lease ({}): a standby leads once it runs out",
                     r.message());
    break;
  }
  ::close(lock_fd);
  return code;
}

}  // namespace

void AddCoordinatorCommand(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<CoordinatorFlags>();
  auto* cmd =
      app.add_subcommand("coordinator", "Run the coordinator (state store, scheduler, gRPC API)");
  cmd->add_option("--listen", f->listen, "HOST:PORT to serve on; port 0 picks a free one")
      ->capture_default_str();
  cmd->add_option("--state-dir", f->state_dir,
                  "State directory (default $MUSTER_STATE_DIR or ~/.local/state/muster)");
  cmd->add_option("--store", f->store,
                  "Where the durable state lives: sqlite://PATH, or postgres://USER@HOST:PORT/DB "
                  "(the password from ~/.pgpass or PGPASSWORD, not the command line; default "
                  "$MUSTER_STORE, else STATE_DIR/state.db)");
  cmd->add_flag("--allow-local-users", f->allow_local_users,
                "Let every Unix user of this machine call through the local socket, each as "
                "itself with the user role (default: only the coordinator's own user and root)");
  cmd->add_flag("--insecure", f->insecure,
                "Serve plaintext instead of TLS (loopback addresses only; clients need "
                "--insecure too)");
  cmd->add_option("--submit-rate", f->submit_rate,
                  "Jobs per second each user (not admin) may submit, with a burst of 10 s worth; "
                  "0 = no limit")
      ->capture_default_str();
  cmd->add_option("--tls-san", f->tls_sans,
                  "Extra name of the coordinator's certificate, e.g. IP:10.0.0.5 or "
                  "DNS:coord.example (loopback, the host name and its addresses are included)");
  cmd->add_flag("--allow-root-jobs", f->allow_root_jobs,
                "Accept jobs owned by root (they run as root on agents running as root)");
  cmd->add_option("--heartbeat-timeout", f->heartbeat_timeout,
                  "A node's lease: its tasks are stopped on the node when it has been out of "
                  "contact this long")
      ->capture_default_str();
  cmd->add_option("--log-limit", f->log_limit,
                  "Task output kept per stream of an attempt when the job sets none (head and tail)")
      ->capture_default_str();
  cmd->add_option("--preempt", f->preempt,
                  "off, priority, srtf or las: a job that waits --preempt-after stops running "
                  "tasks that come after it in the policy's order (lower priority; more time "
                  "left; a higher LAS level), which resume from their checkpoint or are "
                  "cancelled as their job says; priority needs --policy priority, and only admins "
                  "submit jobs of priority above 0 then (default: srtf and las preempt, the other "
                  "policies do not)")
      ->check(CLI::IsMember({"off", "priority", "srtf", "las"}));
  cmd->add_option("--las-thresholds", f->las_thresholds,
                  "las: attained GPU-seconds at which a job drops a level, ascending")
      ->capture_default_str();
  cmd->add_option("--preempt-after", f->preempt_after,
                  "How long a job waits (and is not predicted to start) before it preempts")
      ->capture_default_str();
  cmd->add_option("--fairshare-half-life", f->fairshare_half_life,
                  "Fair share: how fast users' past usage fades (the fairshare policy runs first "
                  "who held less, now and lately); 0 counts only what they hold now")
      ->capture_default_str();
  cmd->add_option("--retention", f->retention,
                  "How long finished jobs (records, logs, checkpoints) are kept after they end; "
                  "0 keeps them forever (muster admin gc removes them on demand)")
      ->capture_default_str();
  cmd->add_option("--max-log-limit", f->max_log_limit, "The most a job's --log-limit may ask for")
      ->capture_default_str();
  cmd->add_option("--default-time", f->default_time,
                  "Time limit of a job that sets no --time (0: none)")
      ->capture_default_str();
  cmd->add_option("--max-time", f->max_time,
                  "The most a job's --time may ask for, and the limit of one that sets none when "
                  "there is no --default-time (0: none)")
      ->capture_default_str();
  cmd->add_option("--fence-grace", f->fence_grace,
                  "SIGTERM to SIGKILL when a lease runs out; the node counts as lost, and its "
                  "tasks are requeued, after lease + grace + 1 s")
      ->capture_default_str();
  cmd->add_option("--leader-lease", f->leader_lease,
                  "With a PostgreSQL store: how long a leader's lease lasts without renewal; a "
                  "standby takes over within it (and 1 s) of the leader's death, and a leader cut "
                  "off from the database steps down after 3/4 of it")
      ->capture_default_str();
  cmd->add_option("--lost-node-timeout", f->lost_node_timeout,
                  "After a restart, nodes that do not re-register within this are lost")
      ->capture_default_str();
  std::vector<std::string> policies = sched::QueuePolicyNames();
  policies.insert(policies.end(), {"srtf", "las"});
  cmd->add_option("--policy", f->policy,
                  "Queue policy; srtf (sjf on the time left) and las (least attained GPU "
                  "service, as Tiresias) preempt, as in muster sim")
      ->check(CLI::IsMember(policies))
      ->capture_default_str();
  cmd->add_flag("--no-backfill", f->no_backfill, "Disable EASY backfill");
  cmd->add_option("--scorer", f->scorer, "Node placement scorer")
      ->check(CLI::IsMember(sched::ScorerNames()))
      ->capture_default_str();
  cmd->add_option("--http", f->http,
                  "HOST:PORT for the REST API /api/v1 and Prometheus /metrics, over HTTPS with the "
                  "coordinator's certificate unless --insecure (default off; port 0 = any; the "
                  "URL is "
                  "written to STATE_DIR/coordinator.http)");
  cmd->add_option("--balancer", f->balancer, "Load balancer mode: off, dry-run or on")
      ->capture_default_str();
  cmd->add_option("--balance-period", f->balance_period, "Time between balancer evaluations")
      ->capture_default_str();
  cmd->add_option("--balance-threshold", f->balance_threshold,
                  "Imbalance factor lambda above which a period counts toward rebalancing")
      ->capture_default_str();
  cmd->add_option("--balance-window", f->balance_window,
                  "Window of heartbeat usage averaged into the measured load")
      ->capture_default_str();
  cmd->add_option("--balance-k", f->balance_k,
                  "Consecutive periods over the threshold before rebalancing")
      ->capture_default_str();
  cmd->callback([f, &ctx] { ctx.exit_code = RunCoordinator(*f); });
}

}  // namespace muster::cli

// submit_bench: durable submissions per second and submit->start latency against a real
// coordinator (plus 2 agents with virtual GPUs), all started from the `muster` binary on
// 127.0.0.1 with state in a fresh temporary directory.
//
// Phases (one run, same cluster):
//   1. baseline  - one client thread submits sequentially (each Submit waits for its durable
//                  acknowledgement before the next).
//   2. concurrent - --threads client threads share one channel and submit --jobs jobs.
//      The submitted jobs depend on a "gate" job that never finishes during the measurement, so
//      they stay queued: the rate measures the durable submit path (validation, store, reply)
//      while the scheduler keeps running over a growing queue. Everything is cancelled after.
//   3. latency   - on the idle cluster, --latency-jobs one-task jobs (1 CPU each: a smaller CPU
//                  quota would hold the task back before it writes its time) are submitted one
//                  at a time; for each, submit->start is the task's start time as reported by
//                  GetJob minus the client's clock just before Submit (same machine, same
//                  clock), and submit->exec is the time the task's own process wrote minus the
//                  same origin. Run twice: with `stamp` (bench/stamp.cc, a static program that
//                  writes its time first: the target's figure) and with sh -c 'date +%s%N >
//                  file' (a shell's start and a second exec more).
// Targets: >= 20,000 durable submissions/s with 32 clients; submit -> start p99 <= 3 ms by the
// task's own timestamp.
// Usage: submit_bench [--threads 32] [--jobs 5000] [--baseline-jobs 1000] [--latency-jobs 200]
//                     [--muster PATH] [--keep]
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_process.h"
#include "cluster/client/coordinator_client.h"
#include "cluster/common/convert.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using muster::client::CoordinatorClient;
namespace v1 = muster::v1;

namespace {

struct Options {
  int threads = 32;
  int jobs = 5000;
  int baseline_jobs = 1000;
  int latency_jobs = 200;
  std::string muster;
  std::string stamp;  // the latency task (bench/stamp.cc), beside this program
  bool keep = false;
};

using muster::bench::Spawn;
using muster::bench::Stop;

int64_t WallUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::ceil(p * v.size())) - 1;
  return v[std::min(i, v.size() - 1)];
}

v1::JobSpec Spec(const std::string& workdir, std::vector<std::string> command) {
  v1::JobSpec s;
  s.set_name("bench");
  for (auto& c : command) s.add_command(c);
  s.set_workdir(workdir);
  s.set_tasks(1);
  s.mutable_resources()->set_milli_cpus(100);
  s.mutable_resources()->set_memory_mib(16);
  s.set_est_time_s(1);
  return s;
}

// Submits `n` copies of `spec` from `threads` threads; returns (seconds, acknowledged ids).
std::pair<double, std::vector<int64_t>> SubmitMany(CoordinatorClient& client,
                                                   const v1::JobSpec& spec, int n, int threads,
                                                   int* errors) {
  std::atomic<int> next{0};
  std::atomic<int> err{0};
  std::vector<std::vector<int64_t>> ids(threads);
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      while (next.fetch_add(1) < n) {
        auto id = client.Submit(spec);
        if (id.ok())
          ids[t].push_back(*id);
        else
          ++err;
      }
    });
  for (auto& th : pool) th.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<int64_t> all;
  for (auto& v : ids) all.insert(all.end(), v.begin(), v.end());
  *errors = err;
  return {secs, all};
}

bool CancelAll(CoordinatorClient& client, const std::vector<int64_t>& ids) {
  for (size_t i = 0; i < ids.size(); i += 500) {
    std::vector<int64_t> batch(ids.begin() + i, ids.begin() + std::min(ids.size(), i + 500));
    if (!client.Cancel(batch).ok()) return false;
  }
  return true;
}

int Run(const Options& o) {
  std::string templ = (fs::temp_directory_path() / "muster-bench-XXXXXX").string();
  fs::path dir = mkdtemp(templ.data());
  fs::create_directories(dir / "state");
  fs::create_directories(dir / "work");
  std::vector<std::string> cargs = {o.muster, "coordinator", "--listen", "127.0.0.1:0",
                                    "--state-dir", (dir / "state").string()};
  if (geteuid() == 0) cargs.push_back("--allow-root-jobs");  // the jobs are this user's
  pid_t coord = Spawn(cargs, dir / "coordinator.log");
  std::string address;
  for (int i = 0; i < 1000 && address.empty(); ++i) {
    std::ifstream in(dir / "state" / "coordinator.addr");
    std::getline(in, address);
    if (address.empty()) std::this_thread::sleep_for(10ms);
  }
  if (address.empty()) {
    std::fprintf(stderr, "coordinator did not start; see %s\n", (dir / "coordinator.log").c_str());
    Stop(coord);
    return 1;
  }
  std::vector<pid_t> agents;
  for (int i = 0; i < 2; ++i) {
    std::string name = "node-" + std::to_string(i);
    fs::create_directories(dir / name);
    agents.push_back(
        Spawn({o.muster, "agent", "--coordinator", address, "--coordinator-dir",
               (dir / "state").string(), "--name", name, "--work-dir",
               (dir / name).string(), "--gpus", "2", "--cpus", "8", "--memory", "16G"},
              dir / (name + ".log")));
  }
  CoordinatorClient client(
      {.address = address,
       .deadline = 10000ms,
       .credentials = muster::cluster::TokenSource::Local(
           (dir / "state" / muster::cluster::kLocalAuthSocketName).string()),
       .transport = muster::cluster::ResolveClientTransport((dir / "state").string()).value()});
  for (int i = 0; i < 500; ++i) {
    auto nodes = client.ListNodes();
    if (nodes.ok() && nodes->nodes_size() == 2) break;
    std::this_thread::sleep_for(10ms);
  }
  int rc = 0;
  std::printf("coordinator %s, 2 agents x 2 virtual GPUs, state in %s\n", address.c_str(),
              dir.c_str());
  const std::string work = (dir / "work").string();

  // A gate job that holds the queue: everything submitted in phases 1-2 waits for it.
  auto gate = client.Submit(Spec(work, {"/bin/sleep", "3600"}));
  if (!gate.ok()) {
    std::fprintf(stderr, "gate submit failed: %s\n", gate.status().message().c_str());
    rc = 1;
  } else {
    v1::JobSpec queued = Spec(work, {"/bin/true"});
    queued.add_after(*gate);
    int err1 = 0, err2 = 0;
    auto [base_s, base_ids] = SubmitMany(client, queued, o.baseline_jobs, 1, &err1);
    auto [conc_s, conc_ids] = SubmitMany(client, queued, o.jobs, o.threads, &err2);
    double base_rate = base_ids.size() / base_s;
    double conc_rate = conc_ids.size() / conc_s;
    std::printf("\nDurable submissions over gRPC (jobs wait on a gate job, so they stay queued)\n");
    std::printf("  %-30s %8s %10s %8s %12s\n", "", "jobs", "seconds", "errors", "jobs/s");
    std::printf("  %-30s %8zu %10.3f %8d %12.0f\n", "baseline: 1 thread, sequential",
                base_ids.size(), base_s, err1, base_rate);
    char label[64];
    std::snprintf(label, sizeof label, "%d threads, one channel", o.threads);
    std::printf("  %-30s %8zu %10.3f %8d %12.0f   (%.1fx baseline; target >= 20000)\n", label,
                conc_ids.size(), conc_s, err2, conc_rate, conc_rate / base_rate);
    std::vector<int64_t> all = base_ids;
    all.insert(all.end(), conc_ids.begin(), conc_ids.end());
    all.push_back(*gate);
    if (!CancelAll(client, all)) std::fprintf(stderr, "cancel failed\n");
  }

  // Wait for the cluster to be idle again.
  for (int i = 0; i < 600; ++i) {
    auto list = client.ListJobs(v1::ListJobsRequest());
    if (list.ok() && list->jobs_size() == 0) break;
    std::this_thread::sleep_for(50ms);
  }

  // One job at a time on the idle cluster: submit -> start (GetJob) and submit -> the task's own
  // first timestamp, for `command`.
  auto latency = [&](const std::vector<std::string>& command, const char* label) {
    std::vector<double> to_start, to_exec;
    int failed = 0;
    for (int i = 0; i < o.latency_jobs; ++i) {
      v1::JobSpec s = Spec(work, command);
      // A whole CPU: at 0.1 its CPU quota (10 ms in each 100 ms) can hold the task back before
      // it writes its time, and the figure would measure the task's limit, not the start.
      s.mutable_resources()->set_milli_cpus(1000);
      int64_t t0_us = WallUs();
      auto id = client.Submit(s);
      if (!id.ok()) {
        ++failed;
        continue;
      }
      int64_t start_ms = 0;
      auto deadline = std::chrono::steady_clock::now() + 10s;
      while (std::chrono::steady_clock::now() < deadline) {
        auto j = client.GetJob(*id);
        const bool ended = j.ok() && (j->state() == v1::JOB_STATE_SUCCEEDED ||
                                      j->state() == v1::JOB_STATE_FAILED ||
                                      j->state() == v1::JOB_STATE_CANCELLED);
        if (j.ok() && j->tasks_size() > 0 && j->tasks(0).start_ms() > 0)
          start_ms = j->tasks(0).start_ms();
        if (ended) {
          if (j->state() != v1::JOB_STATE_SUCCEEDED) {
            std::fprintf(stderr, "latency job %lld: %s\n", static_cast<long long>(*id),
                         j->reason().c_str());
            start_ms = 0;
          }
          break;
        }
        std::this_thread::sleep_for(1ms);
      }
      if (start_ms == 0) {
        ++failed;
        continue;
      }
      to_start.push_back(start_ms - t0_us / 1000.0);
      std::ifstream in(dir / "work" / ("t." + std::to_string(*id)));
      long long ns = 0;
      if (in >> ns) to_exec.push_back((ns / 1000 - t0_us) / 1000.0);
    }
    std::printf("\nSubmit -> start on an idle 2-agent cluster, task %s (%d jobs, one at a time; ms)\n",
                label, o.latency_jobs);
    std::printf("  %-42s %8s %8s %8s %8s\n", "", "p50", "p90", "p99", "max");
    auto row = [](const char* name, const std::vector<double>& v) {
      std::printf("  %-42s %8.1f %8.1f %8.1f %8.1f   (n=%zu)\n", name, Percentile(v, 0.5),
                  Percentile(v, 0.9), Percentile(v, 0.99), Percentile(v, 1.0), v.size());
    };
    row("start time reported by GetJob", to_start);
    row("task process wrote its first timestamp", to_exec);
    std::printf("  %d jobs did not start within 10 s\n", failed);
  };
  // The target's figure: a task whose first act is to write its time (bench/stamp.cc, static).
  latency({o.stamp}, "= stamp (writes its time first)");
  // The same through a shell and date(1): two execs and a shell's start more.
  latency({"/bin/sh", "-c", "date +%s%N > t.$MUSTER_JOB_ID"}, "= sh -c 'date > file'");
  std::printf("  target: p99 <= 3 ms by the task's own timestamp (stamp)\n");

  for (pid_t a : agents) Stop(a);
  Stop(coord);
  if (!o.keep) fs::remove_all(dir);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::error_code ec;
  fs::path beside = fs::read_symlink("/proc/self/exe", ec).parent_path() / "muster";
  o.muster = fs::exists(beside) ? beside.string() : MUSTER_BINARY;
  o.stamp = (fs::read_symlink("/proc/self/exe", ec).parent_path() / "stamp").string();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--threads")
      o.threads = std::stoi(next());
    else if (a == "--jobs")
      o.jobs = std::stoi(next());
    else if (a == "--baseline-jobs")
      o.baseline_jobs = std::stoi(next());
    else if (a == "--latency-jobs")
      o.latency_jobs = std::stoi(next());
    else if (a == "--muster")
      o.muster = next();
    else if (a == "--keep")
      o.keep = true;
    else {
      std::fprintf(stderr,
                   "usage: submit_bench [--threads N] [--jobs N] [--baseline-jobs N] "
                   "[--latency-jobs N] [--muster PATH] [--keep]\n");
      return 2;
    }
  }
  return Run(o);
}

// Chaos soak: a cluster of 4 agents, each on a network host of its own with the coordinator on
// another (network namespaces, tests/helpers/netns.h; on loopback where they cannot be made),
// runs a stream of jobs (single tasks, arrays, 2-rank gangs, checkpointable jobs, cancels) while
// a seeded random schedule of faults hits it, one at a time: kill -9 of the coordinator (restarted
// after a second), kill -9 of an agent (restarted), an agent frozen with SIGSTOP for longer than
// its lease, an agent's host or the coordinator's cut off the network for longer than the lease,
// 300 ms of latency each way on an agent's link, and the coordinator's disk full (its state dir on
// a small tmpfs). Every task appends its attempt, its start and a tick every 100 ms to a record
// file of its own; after the run an invariant checker reads them:
//   - every acknowledged job reached a terminal state;
//   - no two attempts of one task overlapped in time;
//   - no task ran again after the coordinator recorded it succeeded (an attempt that completed
//     while its agent was killed, frozen or cut off, before it reported, may run again: counted
//     and printed);
//   - every acknowledged cancel stayed cancelled;
//   - the coordinator's succeeded tasks completed in their records, with the same attempt;
//   - every checkpoint of the checkpointable jobs (shell loops that publish "<attempt>.<step>"
//     files atomically and resume from the newest) loads.
// It prints the faults injected, jobs, violations and the longest time from a fault to every
// node being ready again. CI runs 2 minutes; `chaos_soak_test --minutes N` runs longer by hand,
// `--seed S` replays a schedule.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "tests/helpers/cluster_harness.h"

namespace muster::testing {

double g_minutes = 2.0;
uint64_t g_seed = 20261201;

namespace {

constexpr int kAgents = 4;

struct Attempt {
  int64_t start_ns = 0;
  int64_t last_ns = 0;  // the last tick: the attempt ran until at least here
  bool completed = false;
};

// record file lines: "start <attempt> <ns>", "tick <attempt> <ns>", "done <attempt> <ns>"
std::map<int64_t, Attempt> ReadRecord(const fs::path& p) {
  std::map<int64_t, Attempt> out;
  std::ifstream in(p);
  std::string kind;
  int64_t attempt = 0, ns = 0;
  while (in >> kind >> attempt >> ns) {
    Attempt& a = out[attempt];
    if (kind == "start") a.start_ns = ns;
    a.last_ns = std::max(a.last_ns, ns);
    if (kind == "done") a.completed = true;
  }
  return out;
}

v1::JobSpec TaskJob(const fs::path& rec, const std::string& name, double seconds, int tasks,
                    bool gang) {
  v1::JobSpec spec;
  spec.set_name(name);
  spec.add_command("/bin/sh");
  spec.add_command("-c");
  const std::string f = rec.string() + "/$MUSTER_JOB_ID.$MUSTER_TASK_INDEX";
  const int ticks = std::max(1, static_cast<int>(seconds * 10));
  spec.add_command("echo start $MUSTER_ATTEMPT $(date +%s%N) >> " + f + "; i=0; while [ $i -lt " +
                   std::to_string(ticks) + " ]; do sleep 0.1; echo tick $MUSTER_ATTEMPT " +
                   "$(date +%s%N) >> " + f + "; i=$((i+1)); done; echo done $MUSTER_ATTEMPT " +
                   "$(date +%s%N) >> " + f);
  spec.set_workdir(rec.string());
  spec.set_tasks(tasks);
  spec.set_gang(gang);
  spec.set_max_retries(20);
  spec.mutable_resources()->set_milli_cpus(250);
  spec.mutable_resources()->set_memory_mib(32);
  return spec;
}

// A checkpointable job: `steps` ticks of 100 ms, a checkpoint every 5 steps, published
// atomically under the attempt's own name ("<attempt>.<step>", written to a temporary file and
// renamed); an attempt resumes from the newest checkpoint of the newest attempt.
v1::JobSpec CheckpointJob(const fs::path& rec, int steps) {
  v1::JobSpec spec;
  spec.set_name("ckpt");
  spec.add_command("/bin/sh");
  spec.add_command("-c");
  const std::string f = rec.string() + "/$MUSTER_JOB_ID.$MUSTER_TASK_INDEX";
  std::string script = "c=$MUSTER_CHECKPOINT_DIR; mkdir -p $c; step=0; ";
  script += "last=$(ls $c | grep -E '^[0-9]+\\.[0-9]+$' | sort -t. -k1,1n -k2,2n | tail -1); ";
  script += "if [ -n \"$last\" ]; then step=$(cat $c/$last); fi; ";
  script += "echo start $MUSTER_ATTEMPT $(date +%s%N) >> " + f + "; ";
  script += "while [ $step -lt " + std::to_string(steps) + " ]; do sleep 0.1; step=$((step+1)); ";
  script += "echo tick $MUSTER_ATTEMPT $(date +%s%N) >> " + f + "; ";
  script += "if [ $((step % 5)) -eq 0 ]; then echo $step > $c/.tmp.$MUSTER_ATTEMPT && ";
  script += "mv $c/.tmp.$MUSTER_ATTEMPT $c/$MUSTER_ATTEMPT.$step; fi; done; ";
  script += "echo done $MUSTER_ATTEMPT $(date +%s%N) >> " + f;
  spec.add_command(script);
  spec.set_workdir(rec.string());
  spec.set_checkpointable(true);
  spec.set_max_retries(20);
  spec.mutable_resources()->set_milli_cpus(250);
  spec.mutable_resources()->set_memory_mib(32);
  return spec;
}

TEST(ChaosSoak, NoAcceptedJobIsLostAndNoTaskRunsTwiceUnderFaults) {
  auto options = [](bool network) {
    return ClusterOptions{.agents = kAgents,
                          .gpus_per_agent = 0,
                          .cpus_per_agent = 4,
                          .heartbeat = "200ms",
                          .heartbeat_timeout = "2s",
                          .lost_node_timeout = "3s",
                          .fence_grace = "1s",
                          .network_hosts = network,
                          .state_tmpfs_mib = network ? 64 : 0};
  };
  auto owned = std::make_unique<TestCluster>(options(true));
  const std::string no_network = owned->network_error();
  if (!no_network.empty()) {
    std::printf("chaos: on loopback, without network faults or a full disk (%s)\n",
                no_network.c_str());
    owned = std::make_unique<TestCluster>(options(false));
  }
  TestCluster& cluster = *owned;
  const int fault_kinds = no_network.empty() ? 7 : 3;
  ASSERT_EQ(cluster.Start(), "");
  const fs::path rec = cluster.dir() / "records";
  fs::create_directories(rec);
  const auto run_for = std::chrono::milliseconds(static_cast<int64_t>(g_minutes * 60000));
  const auto end = std::chrono::steady_clock::now() + run_for;
  std::printf("chaos: %.1f minutes, seed %llu\n", g_minutes,
              static_cast<unsigned long long>(g_seed));

  std::mutex mu;
  std::vector<int64_t> acked;
  std::set<int64_t> cancelled;  // acknowledged cancels
  std::atomic<bool> stop{false};
  std::atomic<int> read_only_refusals{0};
  std::thread submitter([&] {
    std::mt19937_64 rng(g_seed * 31 + 7);
    client::CoordinatorClient c(cluster.OwnerClientOptions(3000ms));
    int n = 0;
    while (!stop) {
      const int kind = static_cast<int>(rng() % 10);
      const double secs = 0.3 + static_cast<double>(rng() % 25) / 10.0;
      v1::JobSpec spec = kind < 5   ? TaskJob(rec, "single", secs, 1, false)
                         : kind < 7 ? TaskJob(rec, "array", secs, 4, false)
                         : kind < 9 ? TaskJob(rec, "gang", secs, 2, true)
                                    : CheckpointJob(rec, 30 + static_cast<int>(rng() % 30));
      auto id = c.Submit(spec);
      if (id.ok()) {
        std::lock_guard lock(mu);
        acked.push_back(*id);
        ++n;
      } else if (id.status().message().find("read-only") != std::string::npos) {
        ++read_only_refusals;
      }
      if (n % 9 == 4) {  // cancel a recent job now and then
        int64_t victim = 0;
        {
          std::lock_guard lock(mu);
          if (acked.size() > 3) victim = acked[acked.size() - 1 - rng() % 3];
        }
        if (victim > 0) {
          auto r = c.Cancel({victim});
          if (r.ok() && r->results_size() == 1 && r->results(0).ok()) {
            std::lock_guard lock(mu);
            cancelled.insert(victim);
          }
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 200));
    }
  });

  // Faults, one at a time, each followed by its recovery.
  std::mt19937_64 rng(g_seed);
  std::map<std::string, int> faults;
  double longest_recovery_s = 0;
  int unnoticed = 0;  // an agent frozen or cut off past its lease that the coordinator still trusted
  auto agent_ready = [&](int i) {
    auto nodes = cluster.client().ListNodes();
    if (!nodes.ok()) return false;
    for (const auto& node : nodes->nodes())
      if (node.spec().name() == "node-" + std::to_string(i)) return node.state() == "ready";
    return false;
  };
  while (std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(3000 + rng() % 4000));
    if (std::chrono::steady_clock::now() >= end) break;
    const int kind = static_cast<int>(rng() % fault_kinds);
    const int agent = static_cast<int>(rng() % kAgents);
    const auto beyond_lease = std::chrono::milliseconds(4000 + rng() % 2000);
    const auto t0 = std::chrono::steady_clock::now();
    if (kind == 0) {
      cluster.KillCoordinator(SIGKILL);
      std::this_thread::sleep_for(1s);
      ASSERT_EQ(cluster.StartCoordinator(), "") << cluster.LogTails();
      ++faults["kill -9 coordinator"];
    } else if (kind == 1) {
      cluster.KillAgent(agent, SIGKILL);
      std::this_thread::sleep_for(500ms);
      ASSERT_EQ(cluster.StartAgent(agent), "") << cluster.LogTails();
      ++faults["kill -9 agent"];
    } else if (kind == 2) {
      cluster.SignalAgent(agent, SIGSTOP);
      std::this_thread::sleep_for(beyond_lease);
      unnoticed += agent_ready(agent);
      cluster.SignalAgent(agent, SIGCONT);
      ++faults["SIGSTOP agent 4-6 s"];
    } else if (kind == 3) {
      ASSERT_TRUE(cluster.CutAgent(agent));
      std::this_thread::sleep_for(beyond_lease);
      unnoticed += agent_ready(agent);
      ASSERT_TRUE(cluster.HealAgent(agent));
      ++faults["agent cut off 4-6 s"];
    } else if (kind == 4) {
      ASSERT_TRUE(cluster.CutCoordinator());
      std::this_thread::sleep_for(beyond_lease);
      ASSERT_TRUE(cluster.HealCoordinator());
      ++faults["coordinator cut off 4-6 s"];
    } else if (kind == 5) {
      cluster.SetAgentLatency(agent, 300);
      std::this_thread::sleep_for(5s);
      cluster.SetAgentLatency(agent, 0);
      ++faults["300 ms latency on an agent 5 s"];
    } else {
      // Full for 3-5 s after the coordinator noticed: SQLite writes into pages its files already
      // hold (a WAL reused after a checkpoint) need no new space, so how long a full disk takes
      // to bite depends on how much room the files had (at most 30 s here).
      const int refused_before = read_only_refusals.load();
      ASSERT_TRUE(cluster.FillStateDisk());
      const auto give_up = std::chrono::steady_clock::now() + 30s;
      while (read_only_refusals.load() == refused_before && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(100ms);
      std::this_thread::sleep_for(std::chrono::milliseconds(3000 + rng() % 2000));
      cluster.FreeStateDisk();
      ++faults["coordinator disk full 3-5 s"];
    }
    ASSERT_TRUE(cluster.WaitForReadyNodes(kAgents, 30s)) << cluster.LogTails();
    longest_recovery_s =
        std::max(longest_recovery_s,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  stop = true;
  submitter.join();

  // Everything acknowledged ends.
  std::vector<int64_t> jobs;
  std::set<int64_t> cancels;
  {
    std::lock_guard lock(mu);
    jobs = acked;
    cancels = cancelled;
  }
  int violations = 0;
  int redone = 0;  // completed attempts run again after their report was lost
  auto violation = [&](const std::string& what) {
    ++violations;
    ADD_FAILURE() << what;
  };
  client::CoordinatorClient c(cluster.OwnerClientOptions(5000ms));
  std::map<int64_t, v1::JobInfo> final_state;
  for (int64_t id : jobs) {
    v1::JobInfo j = cluster.WaitForJob(id, 120s);
    final_state[id] = j;
    if (j.state() != v1::JOB_STATE_SUCCEEDED && j.state() != v1::JOB_STATE_FAILED && j.state() != v1::JOB_STATE_CANCELLED)
      violation("job " + std::to_string(id) + " never ended: " + StateName(j.state()) + " " + j.reason());
  }
  for (int64_t id : cancels)
    if (final_state[id].state() != v1::JOB_STATE_CANCELLED)
      violation("job " + std::to_string(id) + " was cancelled but ended " +
                StateName(final_state[id].state()));
  // The tasks' own records.
  for (const auto& [id, j] : final_state) {
    auto info = c.GetJob(id);
    if (!info.ok()) {
      violation("job " + std::to_string(id) + " is gone: " + info.status().message());
      continue;
    }
    for (const auto& t : info->tasks()) {
      const auto attempts =
          ReadRecord(rec / (std::to_string(id) + "." + std::to_string(t.index())));
      std::vector<std::pair<int64_t, const Attempt*>> by_start;
      for (const auto& [a, rec_a] : attempts) by_start.push_back({rec_a.start_ns, &rec_a});
      std::sort(by_start.begin(), by_start.end());
      for (size_t k = 1; k < by_start.size(); ++k) {
        const Attempt& prev = *by_start[k - 1].second;
        if (by_start[k].first <= prev.last_ns)
          violation("job " + std::to_string(id) + " task " + std::to_string(t.index()) +
                    ": two attempts overlapped");
        // An attempt that completed but whose agent was killed or frozen before it reported is
        // run again (at least once); counted, not a violation. A succeeded task running again
        // is one.
        if (prev.completed) ++redone;
      }
      if (t.state() == v1::TASK_STATE_SUCCEEDED) {
        auto it = attempts.find(t.attempt());
        if (it == attempts.end() || !it->second.completed)
          violation("job " + std::to_string(id) + " task " + std::to_string(t.index()) +
                    " succeeded as attempt " + std::to_string(t.attempt()) +
                    ", which its record does not show completed");
        else
          for (const auto& [a, other] : attempts)
            if (other.start_ns > it->second.last_ns)
              violation("job " + std::to_string(id) + " task " + std::to_string(t.index()) +
                        " ran again (attempt " + std::to_string(a) + ") after it succeeded");
      }
    }
  }
  // Every checkpoint loads: its content is the step its name says.
  int checkpoints = 0, resumed = 0, unreadable = 0;
  for (const auto& [id, j] : final_state) {
    if (j.spec().name() != "ckpt") continue;
    std::error_code ec;
    for (const auto& e :
         fs::directory_iterator(cluster.state_dir() / "checkpoints" / std::to_string(id), ec)) {
      const std::string name = e.path().filename().string();
      // Only the job's own "<attempt>.<step>" files: not an unpublished write of a killed
      // attempt (.tmp.*), nor the stop reasons muster writes there (.stop-reason.*).
      const size_t dot = name.find('.');
      if (dot == 0 || dot == std::string::npos ||
          name.find_first_not_of("0123456789.") != std::string::npos)
        continue;
      ++checkpoints;
      const std::string step = name.substr(name.find('.') + 1);
      std::ifstream in(e.path());
      std::string content;
      in >> content;
      if (content != step) ++unreadable;
      if (content != step)
        violation("job " + std::to_string(id) + ": checkpoint " + name + " holds '" + content +
                  "'");
      if (name.rfind("1.", 0) != 0) ++resumed;  // written by a later attempt
    }
  }
  std::printf(
      "chaos: %d checkpoints, %d that do not load; %d written by attempts after the first\n",
      checkpoints, unreadable, resumed);
  std::printf("chaos: faults:");
  int total = 0;
  for (const auto& [k, v] : faults) {
    std::printf(" %s x%d;", k.c_str(), v);
    total += v;
  }
  std::map<std::string, int> states;
  for (const auto& [id, j] : final_state) ++states[StateName(j.state())];
  std::printf(" %d in all\nchaos: %zu jobs acknowledged (", total, jobs.size());
  for (const auto& [k, v] : states) std::printf(" %s %d", k.c_str(), v);
  std::printf(
      " ), %zu cancels; %d completed attempts run again (their agent killed, frozen or cut off "
      "before it reported them); %d submissions refused while the disk was full; %d violations; "
      "longest recovery %.1f s\n",
      cancels.size(), redone, read_only_refusals.load(), violations, longest_recovery_s);
  EXPECT_GT(total, 0);
  // The faults took effect: a full disk turned the coordinator read-only, and an agent frozen or
  // cut off past its lease was no longer counted on.
  if (faults.contains("coordinator disk full 3-5 s")) EXPECT_GT(read_only_refusals.load(), 0);
  EXPECT_EQ(unnoticed, 0);
  EXPECT_GT(jobs.size(), 50u);
  EXPECT_EQ(violations, 0) << cluster.LogTails();
}

}  // namespace
}  // namespace muster::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--minutes") muster::testing::g_minutes = std::atof(argv[i + 1]);
    if (std::string(argv[i]) == "--seed")
      muster::testing::g_seed = std::strtoull(argv[i + 1], nullptr, 10);
  }
  if (const char* m = std::getenv("MUSTER_CHAOS_MINUTES"))
    muster::testing::g_minutes = std::atof(m);
  return RUN_ALL_TESTS();
}

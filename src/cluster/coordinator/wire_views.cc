#include "cluster/coordinator/wire_views.h"

#include "cluster/common/convert.h"

namespace muster::cluster {

void ToProto(const TaskView& in, v1::TaskInfo* out) {
  out->set_index(in.index);
  out->set_state(ToProto(in.state));
  out->set_node(in.node);
  for (int g : in.gpus) out->add_gpus(g);
  out->set_attempt(in.attempt);
  out->set_exit_code(in.exit_code);
  out->set_message(in.message);
  out->set_start_ms(in.start_ms);
  out->set_end_ms(in.end_ms);
  out->set_predicted_start_ms(in.predicted_start_ms);
  out->set_predicted_finish_ms(in.predicted_finish_ms);
  if (!in.progress.empty()) out->mutable_progress()->ParseFromString(in.progress);
  out->set_retries(in.retries);
  out->set_peak_memory_mib(in.peak_memory_mib);
  out->set_cpu_seconds(in.cpu_seconds);
}

void ToProto(const JobView& in, v1::JobInfo* out) {
  out->set_job_id(in.id);
  if (in.spec) ToProto(*in.spec, out->mutable_spec());
  out->set_state(ToProto(in.state));
  out->set_submit_ms(in.submit_ms);
  out->set_start_ms(in.start_ms);
  out->set_end_ms(in.end_ms);
  out->set_predicted_start_ms(in.predicted_start_ms);
  out->set_predicted_finish_ms(in.predicted_finish_ms);
  const JobRecord::SubmitPrediction& sp = in.submit_prediction;
  if (sp.made_ms > 0) {
    out->set_submit_prediction_made_ms(sp.made_ms);
    out->set_submit_predicted_start_ms(sp.start_ms);
    out->set_submit_predicted_finish_ms(sp.finish_ms);
    out->set_submit_predicted_low_s(sp.low_s);
    out->set_submit_predicted_high_s(sp.high_s);
  }
  out->set_reason(in.reason);
  for (const auto& h : in.history) out->add_history(h);
  for (const auto& n : in.nodes) out->add_nodes(n);
  for (size_t s = 0; s < in.task_state_counts.size(); ++s)
    if (in.task_state_counts[s] > 0)
      (*out->mutable_task_state_counts())[TaskStateName(static_cast<TaskState>(s))] =
          in.task_state_counts[s];
  for (const auto& t : in.tasks) ToProto(t, out->add_tasks());
}

void ToProto(const JobListView& in, v1::JobList* out) {
  for (const auto& j : in.jobs) ToProto(j, out->add_jobs());
  out->set_now_ms(in.now_ms);
  out->set_store_condition(in.store_condition);
  out->set_fairshare_half_life_ms(in.fairshare_half_life_ms);
}

void ToProto(const NodeView& in, v1::NodeInfo* out) {
  v1::NodeSpec* spec = out->mutable_spec();
  ToProto(in.spec, spec, in.address);
  for (int i = 0; i < spec->gpus_size() && i < static_cast<int>(in.gpu_readings.size()); ++i) {
    const GpuReadings& r = in.gpu_readings[static_cast<size_t>(i)];
    v1::GpuDevice* g = spec->mutable_gpus(i);
    g->set_utilization(r.utilization);
    g->set_power_w(r.power_w);
    g->set_memory_used_mib(r.memory_used_mib);
  }
  out->set_state(in.state);
  out->set_free_milli_cpus(in.free.milli_cpus);
  out->set_free_memory_mib(in.free.memory_mib);
  for (bool b : in.free.gpu_free) out->add_gpu_free(b);
  out->set_running_tasks(in.running_tasks);
  out->set_last_heartbeat_ms(in.last_heartbeat_ms);
  out->set_load(in.load);
  out->set_containment(in.containment);
  out->set_only_user(in.only_user);
  out->set_drain_reason(in.drain_reason);
  out->set_drained_by(in.drained_by);
  out->set_drained_ms(in.drained_ms);
}

void ToProto(const NodeListView& in, v1::NodeList* out) {
  for (const auto& n : in.nodes) ToProto(n, out->add_nodes());
  out->set_now_ms(in.now_ms);
  out->set_store_condition(in.store_condition);
}

void ToProto(const DrainView& in, v1::DrainReply* out) {
  out->set_node(in.node);
  out->set_state(in.state);
  out->set_running_tasks(in.running_tasks);
  out->set_migrating_jobs(in.migrating_jobs);
}

void ToProto(const ScheduleView& in, v1::ScheduleTable* out) {
  out->set_now_ms(in.now_ms);
  for (const auto& r : in.rows) {
    v1::ScheduleRow* row = out->add_rows();
    row->set_job_id(r.job_id);
    row->set_task_index(r.task_index);
    row->set_job_name(r.job_name);
    row->set_state(ToProto(r.state));
    row->set_node(r.node);
    for (int g : r.gpus) row->add_gpus(g);
    row->set_predicted_start_ms(r.predicted_start_ms);
    row->set_predicted_finish_ms(r.predicted_finish_ms);
    row->set_actual_start_ms(r.actual_start_ms);
    row->set_actual_finish_ms(r.actual_finish_ms);
    row->set_submit_predicted_start_ms(r.submit_predicted_start_ms);
    row->set_submit_predicted_finish_ms(r.submit_predicted_finish_ms);
  }
}

void ToProto(const ChangeResult& in, v1::CancelResult* out) {
  out->set_job_id(in.job_id);
  out->set_ok(in.ok);
  out->set_error(in.error);
  out->set_is_task(in.is_task);
  out->set_task_index(in.task_index);
}

namespace {

void ToProto(const model::BalanceReport& in, v1::BalanceMetrics* out) {
  out->set_n(in.n);
  out->set_jain(in.jain);
  out->set_cov(in.cov);
  out->set_imbalance_factor(in.imbalance_factor);
  out->set_relative_imbalance(in.relative_imbalance);
  out->set_mean(in.mean);
  out->set_min(in.min);
  out->set_max(in.max);
}

void ToProto(const LoadRow& in, v1::LoadRow* out) {
  out->set_node(in.node);
  out->set_gpu(in.gpu);
  out->set_predicted(in.predicted);
  out->set_measured(in.measured);
  out->set_load(in.load);
}

void ToProto(const BalanceMoveView& in, v1::BalanceMove* out) {
  out->set_job_id(in.job_id);
  for (int t : in.tasks) out->add_tasks(t);
  out->set_from_node(in.from_node);
  out->set_to_node(in.to_node);
  out->set_kind(in.kind);
  out->set_gain_s(in.gain_s);
  out->set_cost_s(in.cost_s);
  out->set_reason(in.reason);
  out->set_apply(in.apply);
  out->set_outcome(in.outcome);
  out->set_time_ms(in.time_ms);
  out->set_text(in.text);
}

}  // namespace

void ToProto(const BalanceView& in, v1::BalanceStatus* out) {
  out->set_mode(in.mode);
  out->set_now_ms(in.now_ms);
  out->set_evaluated_ms(in.evaluated_ms);
  out->set_period_ms(in.period_ms);
  out->set_threshold(in.threshold);
  out->set_k(in.k);
  out->set_streak(in.streak);
  out->set_armed(in.armed);
  for (const auto& r : in.node_loads) ToProto(r, out->add_node_loads());
  for (const auto& r : in.gpu_loads) ToProto(r, out->add_gpu_loads());
  ToProto(in.nodes, out->mutable_nodes());
  ToProto(in.gpus, out->mutable_gpus());
  for (const auto& p : in.trend) {
    v1::BalancePoint* point = out->add_trend();
    point->set_time_ms(p.time_ms);
    ToProto(p.nodes, point->mutable_nodes());
    ToProto(p.gpus, point->mutable_gpus());
  }
  for (const auto& m : in.moves) ToProto(m, out->add_moves());
  for (const auto& n : in.notes) out->add_notes(n);
  for (const auto& m : in.recent_moves) ToProto(m, out->add_recent_moves());
  out->set_queue_length(in.queue_length);
  out->set_running_tasks(in.running_tasks);
  out->set_running_jobs(in.running_jobs);
}

JobQuery FromProto(const v1::ListJobsRequest& in) {
  JobQuery q{.include_finished = in.include_finished(),
             .limit = in.limit() > 0 ? static_cast<size_t>(in.limit()) : 0,
             .with_tasks = in.with_tasks(),
             .user = in.user(),
             .name = in.name(),
             .since_ms = in.since_ms()};
  for (int s : in.states())
    if (auto st = FromProto(static_cast<v1::JobState>(s)); st.ok()) q.states.push_back(*st);
  return q;
}

}  // namespace muster::cluster

// The gRPC edge of the Coordinator's user API: its core views (views.h) as wire messages, and
// wire queries as core ones. Used by server.cc only; the Coordinator itself never sees a
// message of the user API.
#pragma once

#include <vector>

#include "cluster/coordinator/views.h"
#include "cluster/proto/muster.pb.h"

namespace muster::cluster {

namespace v1 = ::muster::v1;

void ToProto(const TaskView& in, v1::TaskInfo* out);
void ToProto(const JobView& in, v1::JobInfo* out);
void ToProto(const JobListView& in, v1::JobList* out);
void ToProto(const NodeView& in, v1::NodeInfo* out);
void ToProto(const NodeListView& in, v1::NodeList* out);
void ToProto(const DrainView& in, v1::DrainReply* out);
void ToProto(const ScheduleView& in, v1::ScheduleTable* out);
void ToProto(const ChangeResult& in, v1::CancelResult* out);
void ToProto(const BalanceView& in, v1::BalanceStatus* out);

// A wire query; states this build does not know (or UNSPECIFIED) are left out, as if not given.
JobQuery FromProto(const v1::ListJobsRequest& in);

}  // namespace muster::cluster

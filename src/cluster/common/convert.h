// Conversions between core types (core/job.h, core/node.h, core/status.h, progress lines) and
// the wire messages of src/cluster/proto/muster.proto, plus the Status <-> grpc::Status mapping
// shared by the coordinator, the agent and the CLI client.
//
// Wire defaults: proto3 sends 0 for unset fields, so FromProto reads `tasks == 0` as 1, a
// missing `resources` message as the core default request, and `speed <= 0` as 1.0. The array
// range travels as numbers (v1::ArrayRange), checked with core CheckArrayRange; job and task
// states as the wire enums, mapped one to one onto the core ones (UNSPECIFIED and numbers this
// build does not know are refused).
//
// Status codes on the wire: the gRPC code below, and muster's own code in the status details
// ("muster-status:<number>"), so that a muster peer reads back exactly the code that was sent
// (kInfeasible and kFailedPrecondition share FAILED_PRECONDITION; a RESOURCE_EXHAUSTED without
// muster's code, e.g. from gRPC itself, means "overloaded", not "unschedulable"):
//   kInvalidArgument -> INVALID_ARGUMENT      kNotFound -> NOT_FOUND
//   kAlreadyExists   -> ALREADY_EXISTS        kInfeasible -> FAILED_PRECONDITION
//   kFailedPrecondition -> FAILED_PRECONDITION
//   kUnschedulable   -> RESOURCE_EXHAUSTED    kUnavailable -> UNAVAILABLE
//   kInternal        -> INTERNAL
// Without muster's code (a status made by gRPC or another server): UNAVAILABLE,
// DEADLINE_EXCEEDED, CANCELLED and RESOURCE_EXHAUSTED -> kUnavailable; INVALID_ARGUMENT and
// OUT_OF_RANGE -> kInvalidArgument; NOT_FOUND, ALREADY_EXISTS as named; FAILED_PRECONDITION ->
// kFailedPrecondition; anything else -> kInternal.
#pragma once

#include <grpcpp/support/status.h>

#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "cluster/common/launch.h"
#include "cluster/common/progress.h"
#include "cluster/proto/muster.pb.h"
#include "core/clock.h"
#include "core/job.h"
#include "core/node.h"
#include "core/status.h"

namespace muster::cluster {

namespace v1 = ::muster::v1;

// The agent link's protocol, sent in Register: an agent and a coordinator of different
// protocols cannot read each other's task events. 2: states as enums, array ranges as numbers.
inline constexpr int kWireProtocol = 2;

// Copies a core resource request into its wire form.
void ToProto(const ResourceRequest& in, v1::ResourceRequest* out);
// Reads a wire resource request (no validation).
ResourceRequest FromProto(const v1::ResourceRequest& in);

// "" for a non-array, else "first-last" or "first-last%throttle".
std::string FormatArrayRange(const ArrayRange& r);
// The same for a wire spec's range ("" when it has none), as received: for display only.
std::string FormatArrayRange(const v1::JobSpec& spec);

// Copies a job spec into its wire form.
void ToProto(const JobSpec& in, v1::JobSpec* out);
// Reads a wire job spec; fails only on an array range CheckArrayRange refuses, or one sent as
// text (legacy_array, an older client). Call JobSpec::Validate after.
Result<JobSpec> FromProto(const v1::JobSpec& in);

// Job and task states. FromProto refuses UNSPECIFIED and numbers this build does not know.
v1::JobState ToProto(JobState s);
v1::TaskState ToProto(TaskState s);
Result<JobState> FromProto(v1::JobState s);
Result<TaskState> FromProto(v1::TaskState s);
// The name users see (core JobStateName / TaskStateName) of a wire state; "unknown" for
// UNSPECIFIED or a number this build does not know.
const char* StateName(v1::JobState s);
const char* StateName(v1::TaskState s);
// A user's state name ("running") as the wire enum; nullopt if it names no such state.
std::optional<v1::JobState> ParseWireJobState(const std::string& name);
std::optional<v1::TaskState> ParseWireTaskState(const std::string& name);

void ToProto(const GpuDevice& in, v1::GpuDevice* out);
GpuDevice FromProto(const v1::GpuDevice& in);

// Copies a node spec; `address` fills NodeSpec.address on the wire (the core type has none).
void ToProto(const NodeSpec& in, v1::NodeSpec* out, const std::string& address = "");
// Reads a wire node spec (address is dropped; read it from the message directly).
NodeSpec FromProto(const v1::NodeSpec& in);

void ToProto(const LaunchSpec& in, v1::Launch* out);
LaunchSpec FromProto(const v1::Launch& in);

// Fills a wire Progress from a parsed progress line observed at `time_ms`.
void ToProto(const ProgressLine& in, TimeMs time_ms, v1::Progress* out);

// Maps a muster Status to the gRPC status sent to clients (ok stays ok).
grpc::Status ToGrpcStatus(const Status& s);
// Maps a gRPC status back to a muster Status (see the table above). The only mapping in muster:
// the CLI client rewrites messages (an unreachable address), never codes.
Status FromGrpcStatus(const grpc::Status& s);
// The status details prefix of ToGrpcStatus, and whether `s` carries it (was made by muster).
inline constexpr std::string_view kStatusDetail = "muster-status:";
bool CarriesMusterCode(const grpc::Status& s);

}  // namespace muster::cluster

namespace muster::v1 {
// Wire states print by name (test failures, logs).
std::ostream& operator<<(std::ostream& os, JobState s);
std::ostream& operator<<(std::ostream& os, TaskState s);
// A job state is never a task state: comparing the two is an error, also inside templates
// (gtest's EXPECT_EQ) where -Werror=enum-compare does not reach.
bool operator==(JobState, TaskState) = delete;
}  // namespace muster::v1

// Conversions between core types (core/job.h, core/node.h, core/status.h, progress lines) and
// the wire messages of src/cluster/proto/muster.proto, plus the Status <-> grpc::Status mapping
// shared by the coordinator, the agent and the CLI client.
//
// Wire defaults: proto3 sends 0 for unset fields, so FromProto reads `tasks == 0` as 1, a
// missing `resources` message as the core default request, and `speed <= 0` as 1.0. The array
// range travels as text ("first-last%throttle") and is parsed with core ParseArrayRange.
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

// Copies a core resource request into its wire form.
void ToProto(const ResourceRequest& in, v1::ResourceRequest* out);
// Reads a wire resource request (no validation).
ResourceRequest FromProto(const v1::ResourceRequest& in);

// "" for a non-array, else "first-last" or "first-last%throttle".
std::string FormatArrayRange(const ArrayRange& r);

// Copies a job spec into its wire form.
void ToProto(const JobSpec& in, v1::JobSpec* out);
// Reads a wire job spec; fails only on a malformed array range (call JobSpec::Validate after).
Result<JobSpec> FromProto(const v1::JobSpec& in);

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

// Conversions between core types (core/job.h, core/node.h, core/status.h, progress lines) and
// the wire messages of src/cluster/proto/muster.proto, plus the Status <-> grpc::Status mapping
// shared by the coordinator, the agent and the CLI client.
//
// Wire defaults: proto3 sends 0 for unset fields, so FromProto reads `tasks == 0` as 1, a
// missing `resources` message as the core default request, and `speed <= 0` as 1.0. The array
// range travels as text ("first-last%throttle") and is parsed with core ParseArrayRange.
//
// Status codes on the wire (the CLI maps them to exit codes, see src/cli/commands.h):
//   kInvalidArgument -> INVALID_ARGUMENT      kNotFound -> NOT_FOUND
//   kAlreadyExists   -> ALREADY_EXISTS        kInfeasible -> FAILED_PRECONDITION
//   kFailedPrecondition -> FAILED_PRECONDITION (message says which)
//   kUnschedulable   -> RESOURCE_EXHAUSTED    kUnavailable -> UNAVAILABLE
//   kInternal        -> INTERNAL
#pragma once

#include <grpcpp/support/status.h>

#include <string>

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

// Fills a wire Progress from a parsed progress line observed at `time_ms`.
void ToProto(const ProgressLine& in, TimeMs time_ms, v1::Progress* out);

// Maps a muster Status to the gRPC status sent to clients (ok stays ok).
grpc::Status ToGrpcStatus(const Status& s);
// Maps a gRPC status back to a muster Status (UNAVAILABLE / DEADLINE_EXCEEDED -> kUnavailable).
Status FromGrpcStatus(const grpc::Status& s);

}  // namespace muster::cluster

// A job spec as both stores keep it: the wire JobSpec's bytes (src/cluster/proto/muster.proto).
//
// Specs written at schema version 5 and older hold an array range as text (JobSpec.legacy_array);
// DecodeStoredSpec reads them as well as newer ones, so a store upgraded in place keeps its queued
// arrays. Pure: no I/O, no locks.
#pragma once

#include <string>
#include <string_view>

#include "core/job.h"
#include "core/status.h"

namespace muster::cluster {

std::string EncodeStoredSpec(const JobSpec& spec);
// kInternal naming what is wrong (unreadable bytes, a range out of bounds); the caller adds
// which job.
Result<JobSpec> DecodeStoredSpec(std::string_view bytes);

}  // namespace muster::cluster

// What the coordinator does with a JobSpec from the wire: parse, convert, validate. A spec that
// converts and validates must survive a round trip through the wire form unchanged.
#include <cstddef>
#include <cstdint>

#include "cluster/common/convert.h"
#include "cluster/proto/muster.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  muster::v1::JobSpec proto;
  if (!proto.ParseFromArray(data, static_cast<int>(size))) return 0;
  auto spec = muster::cluster::FromProto(proto);
  if (!spec.ok() || !spec->Validate().ok()) return 0;
  muster::v1::JobSpec again;
  muster::cluster::ToProto(*spec, &again);
  auto back = muster::cluster::FromProto(again);
  if (!back.ok() || !back->Validate().ok()) __builtin_trap();
  return 0;
}

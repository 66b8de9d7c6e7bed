#include "cluster/store/stored_spec.h"

#include "cluster/common/convert.h"

namespace muster::cluster {

std::string EncodeStoredSpec(const JobSpec& spec) {
  v1::JobSpec proto;
  ToProto(spec, &proto);
  return proto.SerializeAsString();
}

Result<JobSpec> DecodeStoredSpec(std::string_view bytes) {
  v1::JobSpec proto;
  if (!proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return Status::Internal("unreadable spec");
  if (!proto.legacy_array().empty()) {  // written by schema version 5 or older
    auto range = ParseArrayRange(proto.legacy_array());
    if (!range.ok()) return Status::Internal(range.status().message());
    proto.clear_legacy_array();
    v1::ArrayRange* a = proto.mutable_array();
    a->set_first(range->first);
    a->set_last(range->last);
    a->set_throttle(range->throttle);
  }
  auto spec = FromProto(proto);
  if (!spec.ok()) return Status::Internal(spec.status().message());
  return spec;
}

}  // namespace muster::cluster

#include "cluster/common/histogram.h"

#include <algorithm>
#include <sstream>

namespace muster::cluster {

Histogram::Histogram(std::vector<double> bounds_s)
    : bounds_(std::move(bounds_s)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double seconds) {
  const size_t b = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), seconds) - bounds_.begin());
  MutexLock lock(mu_);
  ++counts_[b];
  sum_ += seconds;
  ++n_;
}

std::string Histogram::Text(const std::string& name, const std::string& help) const {
  std::ostringstream o;
  o.precision(9);
  o << "# HELP " << name << " " << help << "\n# TYPE " << name << " histogram\n";
  MutexLock lock(mu_);
  int64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    o << name << "_bucket{le=\"" << bounds_[i] << "\"} " << cumulative << "\n";
  }
  o << name << "_bucket{le=\"+Inf\"} " << n_ << "\n"
    << name << "_sum " << sum_ << "\n"
    << name << "_count " << n_ << "\n";
  return o.str();
}

std::vector<double> Histogram::LatencyBounds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
          5, 10};
}

}  // namespace muster::cluster

// Student's t distribution: CDF via the regularized incomplete beta function (continued fraction,
// modified Lentz) and quantiles by bisection on the CDF. Used for prediction intervals.
// Pure; accurate to about 1e-10 for df >= 1.
#pragma once

namespace muster::model {

// P(T <= t) for T ~ Student t with `df` > 0 degrees of freedom.
double StudentTCdf(double t, double df);

// The p-quantile (0 < p < 1) of Student's t with `df` > 0 degrees of freedom.
double StudentTQuantile(double p, double df);

}  // namespace muster::model

// The REST/JSON face of the coordinator, under /api/v1 on its HTTP listener.
//
// Each route is one call of the Coordinator gRPC service on the coordinator's own port, carrying
// the HTTP request's bearer token (Authorization: Bearer TOKEN; never a token in the URL) or,
// without one, the client certificate the HTTPS handshake verified, and the request's address
// (cluster/common/gateway_delegation.h), so the HTTP API checks exactly what the gRPC API checks
// (identity, role, owner, submission rate), refuses in the same words, and is audited the same
// way, as called from the HTTP client.
// Replies are the CLI's JSON (-o json): snake_case keys, numbers as numbers, times in Unix epoch
// milliseconds. Errors are {"error": {"code": "not_found", "message": "..."}} with the HTTP
// status of HttpStatusFor (401 also carries WWW-Authenticate: Bearer).
//
//   GET    /api/v1/jobs              ?user= (or @me) &state= (comma list) &name= &since= (7d, or
//                                    epoch ms) &limit= &offset=  -> {"jobs", "total", ...}
//   POST   /api/v1/jobs              body: a JSON object with the YAML job file's keys -> 201
//   GET    /api/v1/jobs/{id}         the job with its tasks and history (muster show -o json)
//   DELETE /api/v1/jobs/{id}         cancels it; ?task=N cancels one array task
//   GET    /api/v1/jobs/{id}/logs    ?task=N &stream=stdout|stderr; &follow=1: Server-Sent Events
//                                    ("log" events with the text, one "eof" at the end)
//   GET    /api/v1/nodes             GET /api/v1/balance   GET /api/v1/schedule (?all=1)
//   GET    /api/v1/acct              ?user= &since= &job=  (per job, as muster acct -o json)
//   GET    /api/v1/whoami            who the token is: {"name", "role", ...}
//   GET    /api/v1/openapi.json      the OpenAPI 3 document of all of these (openapi.cc)
//   GET    /, /app.js, /app.css      the dashboard (web/), a page over these routes, and its
//          /uplot.js, /uplot.css     charting library (uPlot, from npm at build time); served
//                                    with a Content-Security-Policy that allows only these files
//
// Thread-safety: routes run on the HTTP server's worker threads; each request gets its own view
// of the shared client (CoordinatorClient is thread-safe).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "cluster/client/coordinator_client.h"
#include "core/status.h"

namespace httplib {
class Server;
}

namespace muster::gateway {

// Worker threads the HTTP listener should have (http_server.cc): followed logs hold one each
// while they last, and at most kMaxFollows of them run at once, so that other calls still answer.
inline constexpr int kHttpThreads = 32;
inline constexpr int kMaxFollows = 24;

// 400, 401, 403, 404, 409, 422, 503, 500 (see rest_api.cc).
int HttpStatusFor(StatusCode code);
// "invalid_argument", "unauthenticated", "not_found", ...
std::string ErrorCodeName(StatusCode code);

// The OpenAPI 3.1 document of the routes (openapi.cc).
const std::string& OpenApiDocument();
// A file of the dashboard (web/: index.html, app.js, app.css; uPlot.iife.min.js, uPlot.min.css),
// compiled in; empty if unknown.
std::string_view WebAsset(std::string_view name);

// Adds the routes to `server`. `coordinator` reaches the coordinator's own port and has no
// credential of its own: every call carries the one of the request it serves.
void AddRestRoutes(httplib::Server& server, std::shared_ptr<client::CoordinatorClient> coordinator);

}  // namespace muster::gateway

#include "cluster/gateway/rest_api.h"

#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <optional>
#include <sstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "cluster/client/accounting.h"
#include "cluster/client/display.h"
#include "cluster/client/job_spec_input.h"
#include "cluster/common/convert.h"
#include "cluster/common/credentials.h"
#include "cluster/common/gateway_delegation.h"
#include "cluster/common/pki.h"

namespace muster::gateway {

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kUnschedulable: return 409;  // not now
    case StatusCode::kInfeasible: return 422;       // never
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kInternal: return 500;
  }
  return 500;
}

std::string ErrorCodeName(StatusCode code) {
  std::string name = StatusCodeName(code);  // "not found", "unschedulable now", ...
  if (code == StatusCode::kUnschedulable) name = "unschedulable";
  if (code == StatusCode::kInternal) name = "internal";
  std::replace(name.begin(), name.end(), ' ', '_');
  return name;
}

namespace {

constexpr const char* kJson = "application/json";

template <typename Json>
void Reply(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(body.dump(2) + "\n", kJson);
}

void Fail(httplib::Response& res, const Status& s) {
  const StatusCode code = s.ok() ? StatusCode::kInternal : s.code();
  if (code == StatusCode::kUnauthenticated) res.set_header("WWW-Authenticate", "Bearer");
  Reply(res, HttpStatusFor(code),
        nlohmann::ordered_json{
            {"error", {{"code", ErrorCodeName(code)}, {"message", s.message()}}}});
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The CN and SHA-256 of the client certificate of an HTTPS request, if it presented one that
// verified against the cluster CA in the handshake (http_server.h).
std::optional<std::pair<std::string, std::string>> ClientCertificate(const httplib::Request& req) {
  if (req.ssl == nullptr || SSL_get_verify_result(req.ssl) != X509_V_OK) return std::nullopt;
  X509* cert = SSL_get0_peer_certificate(req.ssl);
  if (cert == nullptr) return std::nullopt;
  BIO* bio = BIO_new(BIO_s_mem());
  std::string pem;
  if (bio != nullptr && PEM_write_bio_X509(bio, cert) == 1) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    if (n > 0) pem.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  auto info = cluster::ReadCert(pem);
  auto sha = cluster::CertFingerprint(pem);
  if (!info.ok() || !sha.ok()) return std::nullopt;
  return std::pair{info->common_name, *sha};
}

// Whether a browser says the request comes from a page of another site: Sec-Fetch-Site
// cross-site or same-site (not same-origin), or an Origin that is not this listener's.
bool CrossSite(const httplib::Request& req) {
  const std::string site = req.get_header_value("Sec-Fetch-Site");
  if (site == "cross-site" || site == "same-site") return true;
  const std::string origin = req.get_header_value("Origin");
  if (origin.empty() || origin == "null") return origin == "null";
  const std::string host = req.get_header_value("Host");
  return origin != "https://" + host && origin != "http://" + host;
}

// A user or node name as the cluster CA issues them (1-64 of [A-Za-z0-9._-]); anything else is
// not passed on.
bool PlainName(std::string_view name) {
  return !name.empty() && name.size() <= 64 &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
         });
}

// A request's view of the coordinator: calls carry its bearer token or, without one, the client
// certificate it presented, and where it came from (gateway_delegation.h). Without either, or
// with a token in the URL, the request is refused here with a line for HTTP callers.
class Call {
 public:
  Call(client::CoordinatorClient& base, const httplib::Request& req) {
    if (req.has_param("token") || req.has_param("access_token")) {
      refused_ = Status::InvalidArgument(
          "a token in the URL is refused (URLs end up in logs and histories): send the header "
          "Authorization: Bearer TOKEN");
      return;
    }
    const bool v6 = req.remote_addr.find(':') != std::string::npos;
    std::vector<std::pair<std::string, std::string>> metadata = {
        {cluster::gateway_delegation::kClientAddress,
         (v6 ? "[" + req.remote_addr + "]" : req.remote_addr) + ":" +
             std::to_string(req.remote_port)}};
    const std::string header = req.get_header_value("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (header.empty()) {
      auto cert = ClientCertificate(req);
      // A browser presents its certificate to any page's request: a request another site made
      // (a form, a script elsewhere) must not act with it.
      if (cert && CrossSite(req)) {
        refused_ = Status::PermissionDenied(
            "a request from another site is refused with a client certificate: send the header "
            "Authorization: Bearer TOKEN");
        return;
      }
      if (!cert || !PlainName(cert->first)) {
        refused_ = Status::Unauthenticated(
            "authentication required: send the header Authorization: Bearer TOKEN (an admin "
            "makes one with muster admin user add NAME), or a client certificate (muster admin "
            "user cert NAME); docs/security.md");
        return;
      }
      metadata.emplace_back(cluster::gateway_delegation::kCertName, cert->first);
      metadata.emplace_back(cluster::gateway_delegation::kCertSha256, cert->second);
      client_.emplace(base, nullptr, std::move(metadata));
      return;
    }
    if (!std::string_view(header).starts_with(kBearer) || header.size() == kBearer.size()) {
      refused_ = Status::Unauthenticated("malformed Authorization header (expected Bearer TOKEN)");
      return;
    }
    client_.emplace(base, cluster::TokenSource::Fixed(header.substr(kBearer.size())),
                    std::move(metadata));
  }
  // Ok when the call may go on.
  const Status& refused() const { return refused_; }
  client::CoordinatorClient& operator*() { return *client_; }
  client::CoordinatorClient* operator->() { return &*client_; }

 private:
  Status refused_;
  std::optional<client::CoordinatorClient> client_;
};

std::optional<int64_t> ParseInt(const std::string& text, int64_t min, int64_t max) {
  if (text.empty() || text.size() > 18) return std::nullopt;  // no overflow below 10^18
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v < min || v > max) return std::nullopt;
  return v;
}

// ?name= as an integer in [min, max], `fallback` when absent; an error names the parameter.
Result<int64_t> IntParam(const httplib::Request& req, const std::string& name, int64_t fallback,
                         int64_t min, int64_t max) {
  if (!req.has_param(name)) return fallback;
  auto v = ParseInt(req.get_param_value(name), min, max);
  if (!v)
    return Status::InvalidArgument("?" + name + "= must be a whole number from " +
                                   std::to_string(min) + " to " + std::to_string(max));
  return *v;
}

// ?since= as epoch ms: a duration back from now ("7d", "12h") or epoch ms itself.
Result<int64_t> SinceParam(const httplib::Request& req) {
  if (!req.has_param("since")) return int64_t{0};
  const std::string v = req.get_param_value("since");
  if (v == "0") return int64_t{0};  // everything
  if (auto ms = ParseInt(v, 0, int64_t{1} << 50); ms && v.size() >= 10) return *ms;
  constexpr double kCenturyS = 100.0 * 365 * 86400;
  if (auto s = client::ParseDurationSeconds(v); s && *s >= 0)
    return std::max<int64_t>(0, NowMs() - static_cast<int64_t>(std::min(*s, kCenturyS) * 1000));
  return Status::InvalidArgument("?since= is a duration back from now (7d, 12h) or epoch ms");
}

Result<int64_t> JobIdOf(const httplib::Request& req) {
  auto id = ParseInt(req.matches[1], 1, int64_t{1} << 62);
  if (!id) return Status::InvalidArgument("'" + std::string(req.matches[1]) + "' is not a job id");
  return *id;
}

// GET /api/v1/jobs
void ListJobs(client::CoordinatorClient& base, const httplib::Request& req,
              httplib::Response& res) {
  Call call(base, req);
  if (!call.refused().ok()) return Fail(res, call.refused());
  v1::ListJobsRequest r;
  r.set_user(req.get_param_value("user"));
  r.set_name(req.get_param_value("name"));
  if (req.has_param("state")) {
    std::stringstream states(req.get_param_value("state"));
    for (std::string s; std::getline(states, s, ',');)
      if (!s.empty())
        if (Status e = client::AddStateFilter(s, r); !e.ok()) return Fail(res, e);
  }
  auto since = SinceParam(req);
  auto limit = IntParam(req, "limit", 100, 1, 10000);
  auto offset = IntParam(req, "offset", 0, 0, int64_t{1} << 40);
  for (const Status& s : {since.status(), limit.status(), offset.status()})
    if (!s.ok()) return Fail(res, s);
  r.set_since_ms(*since);
  r.set_include_finished(req.get_param_value("all") == "1" || r.states_size() > 0 ||
                         *since > 0);
  auto list = call->ListJobs(r);
  if (!list.ok()) return Fail(res, list.status());
  nlohmann::json jobs = nlohmann::json::array();
  const int total = list->jobs_size();
  for (int64_t i = *offset; i < total && i < *offset + *limit; ++i)
    jobs.push_back(client::ToJson(list->jobs(static_cast<int>(i))));
  nlohmann::json out = {{"jobs", jobs},
                        {"total", total},
                        {"offset", *offset},
                        {"limit", *limit},
                        {"now_ms", list->now_ms()}};
  if (*offset + *limit < total) out["next_offset"] = *offset + *limit;
  if (!list->store_condition().empty()) out["store_condition"] = list->store_condition();
  out["user_shares"] = std::map<std::string, double>(list->user_shares().begin(),
                                                     list->user_shares().end());
  Reply(res, 200, out);
}

// POST /api/v1/jobs: the body is a JSON object with the YAML job file's keys.
void SubmitJob(client::CoordinatorClient& base, const httplib::Request& req,
               httplib::Response& res) {
  Call call(base, req);
  if (!call.refused().ok()) return Fail(res, call.refused());
  // Only a JSON body: a plain HTML form elsewhere cannot send one (that needs a script, which
  // the browser then asks this listener about first).
  const std::string type = req.get_header_value("Content-Type");
  if (type.rfind("application/json", 0) != 0)
    return Fail(res, Status::InvalidArgument("the body must be sent as Content-Type: "
                                             "application/json"));
  nlohmann::json body = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object())
    return Fail(res, Status::InvalidArgument(
                         "the body must be a JSON object with the job file's keys (command, "
                         "gpus, ...; docs/user-guide.md)"));
  if (!body.contains("workdir"))
    return Fail(res, Status::InvalidArgument(
                         "workdir: give the directory the tasks run in (an absolute path on "
                         "the nodes)"));
  // JSON is YAML: the job file's parser reads it, with the same checks and error lines.
  auto in = client::ParseJobSpecYaml(body.dump());
  if (!in.ok()) return Fail(res, in.status());
  if (in->workdir && (in->workdir->empty() || in->workdir->front() != '/'))
    return Fail(res, Status::InvalidArgument("workdir must be an absolute path, not '" +
                                             in->workdir.value_or("") + "'"));
  auto spec = client::BuildJobSpec(*in, {.user = "", .workdir = ""});
  if (!spec.ok()) return Fail(res, spec.status());
  v1::JobSpec wire;
  cluster::ToProto(*spec, &wire);
  auto id = call->Submit(wire);
  if (!id.ok()) return Fail(res, id.status());
  res.set_header("Location", "/api/v1/jobs/" + std::to_string(*id));
  Reply(res, 201, nlohmann::json{{"job_id", *id}});
}

// GET /api/v1/jobs/{id}
void GetJob(client::CoordinatorClient& base, const httplib::Request& req,
            httplib::Response& res) {
  Call call(base, req);
  if (!call.refused().ok()) return Fail(res, call.refused());
  auto id = JobIdOf(req);
  if (!id.ok()) return Fail(res, id.status());
  auto job = call->GetJob(*id);
  if (!job.ok()) return Fail(res, job.status());
  Reply(res, 200, client::ToJson(*job));
}

// DELETE /api/v1/jobs/{id}[?task=N]
void CancelJob(client::CoordinatorClient& base, const httplib::Request& req,
               httplib::Response& res) {
  Call call(base, req);
  if (!call.refused().ok()) return Fail(res, call.refused());
  auto id = JobIdOf(req);
  auto task = IntParam(req, "task", -1, 0, int64_t{1} << 30);
  for (const Status& s : {id.status(), task.status()})
    if (!s.ok()) return Fail(res, s);
  v1::CancelRequest r;
  if (*task >= 0) {
    auto* t = r.add_tasks();
    t->set_job_id(*id);
    t->set_task_index(static_cast<int>(*task));
  } else {
    r.add_job_ids(*id);
  }
  auto reply = call->Cancel(r);
  if (!reply.ok()) return Fail(res, reply.status());
  if (reply->results_size() != 1)
    return Fail(res, Status::Internal("the coordinator answered the cancel with " +
                                      std::to_string(reply->results_size()) + " results"));
  const v1::CancelResult& result = reply->results(0);
  if (!result.ok()) {
    const std::string& e = result.error();
    // The coordinator's per-job answers (server.cc Cancel): "job N not found", "permission
    // denied: ..." (not the caller's job), or "job N already succeeded" and the like.
    const StatusCode code =
        e.rfind("permission denied", 0) == 0 ? StatusCode::kPermissionDenied
        : e.find(" not found") != std::string::npos || e.find(" has no task ") != std::string::npos
            ? StatusCode::kNotFound
            : StatusCode::kFailedPrecondition;
    return Fail(res, Status(code, e));
  }
  nlohmann::json out = {{"job_id", *id}, {"cancelled", true}};
  if (*task >= 0) out["task_index"] = *task;
  Reply(res, 200, out);
}

// GET /api/v1/jobs/{id}/logs
void JobLogs(client::CoordinatorClient& base, const httplib::Request& req,
             httplib::Response& res) {
  auto call = std::make_shared<Call>(base, req);
  if (!call->refused().ok()) return Fail(res, call->refused());
  auto id = JobIdOf(req);
  auto task = IntParam(req, "task", -1, 0, int64_t{1} << 30);
  for (const Status& s : {id.status(), task.status()})
    if (!s.ok()) return Fail(res, s);
  const std::string stream = req.has_param("stream") ? req.get_param_value("stream") : "stdout";
  if (stream != "stdout" && stream != "stderr")
    return Fail(res, Status::InvalidArgument("?stream= is stdout or stderr"));
  v1::LogRequest r;
  r.set_job_id(*id);
  r.set_task_index(static_cast<int>(*task));
  r.set_stderr(stream == "stderr");
  r.set_follow(req.get_param_value("follow") == "1");
  if (!r.follow()) {
    std::string text;
    Status s = (*call)->ReadLogs(r, [&](const v1::LogChunk& c) {
      text += c.data();
      return true;
    });
    if (!s.ok()) return Fail(res, s);
    res.status = 200;
    res.set_content(text, "text/plain; charset=utf-8");
    return;
  }
  // Followed: first make sure the job is there and readable, so that a refusal is an HTTP
  // error rather than an event in a stream that has begun. Each stream holds a worker of the
  // listener while it lasts: at most kMaxFollows at once, so that the others still answer.
  if (auto job = (*call)->GetJob(*id); !job.ok()) return Fail(res, job.status());
  static std::atomic<int> follows{0};
  if (follows.fetch_add(1) >= kMaxFollows) {
    follows.fetch_sub(1);
    return Fail(res, Status::Unavailable("too many followed logs at once (" +
                                         std::to_string(kMaxFollows) +
                                         "); try again, or read without follow=1"));
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [call, r](size_t, httplib::DataSink& sink) {
        std::atomic<bool> gone{false};
        std::string partial;  // text after the last newline, sent with the next chunk
        auto send = [&](const std::string& event, const std::string& text) {
          std::string out = "event: " + event + "\n";
          // One data line per line of output, whatever ends it (\n, \r\n or \r): output cannot
          // add fields or events of its own.
          std::string flat;
          for (size_t k = 0; k < text.size(); ++k) {
            if (text[k] != '\r') flat += text[k];
            else if (k + 1 >= text.size() || text[k + 1] != '\n') flat += '\n';  // a lone \r
          }
          std::stringstream lines(flat);
          for (std::string line; std::getline(lines, line);) out += "data: " + line + "\n";
          if (text.empty()) out += "data:\n";
          out += "\n";
          if (!sink.is_writable() || !sink.write(out.data(), out.size())) gone = true;
          return !gone.load();
        };
        Status s = (*call)->ReadLogs(
            r,
            [&](const v1::LogChunk& c) {
              if (c.data().empty() && !c.eof()) {  // the coordinator's keepalive: is anyone there?
                static constexpr char kBeat[] = ": keepalive\n\n";
                if (!sink.is_writable() || !sink.write(kBeat, sizeof kBeat - 1)) gone = true;
                return !gone.load();
              }
              partial += c.data();
              const size_t cut = partial.rfind('\n');
              if (cut == std::string::npos) return !gone.load();
              const std::string lines = partial.substr(0, cut + 1);
              partial.erase(0, cut + 1);
              return send("log", lines);
            },
            &gone);
        if (!gone) {
          if (!partial.empty()) send("log", partial);
          send(s.ok() ? "eof" : "error", s.ok() ? "" : s.message());
          sink.done();
        }
        return false;  // all was written in this one call
      },
      [](bool) { follows.fetch_sub(1); });
}

template <typename Get>
void Simple(client::CoordinatorClient& base, const httplib::Request& req, httplib::Response& res,
            Get get) {
  Call call(base, req);
  if (!call.refused().ok()) return Fail(res, call.refused());
  auto out = get(*call);
  if (!out.ok()) return Fail(res, out.status());
  Reply(res, 200, *out);
}

}  // namespace

void AddRestRoutes(httplib::Server& server, std::shared_ptr<client::CoordinatorClient> c) {
  // The routes hold the client for as long as the server lives.
  auto keep = [c](auto handler) {
    return [c, handler](const httplib::Request& req, httplib::Response& res) {
      handler(*c, req, res);
    };
  };
  server.Get("/api/v1/openapi.json", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(OpenApiDocument(), kJson);
  });
  // The dashboard: its own files only (no inline script, nothing from elsewhere; inline styles
  // are allowed, for the bars' widths).
  for (const auto& [path, file, type] :
       {std::tuple{"/", "index.html", "text/html; charset=utf-8"},
        std::tuple{"/app.js", "app.js", "text/javascript; charset=utf-8"},
        std::tuple{"/app.css", "app.css", "text/css; charset=utf-8"},
        std::tuple{"/uplot.js", "uPlot.iife.min.js", "text/javascript; charset=utf-8"},
        std::tuple{"/uplot.css", "uPlot.min.css", "text/css; charset=utf-8"}}) {
    server.Get(path, [file = std::string(file), type = std::string(type)](
                         const httplib::Request&, httplib::Response& res) {
      const std::string_view body = WebAsset(file);
      res.set_header("Content-Security-Policy",
                     "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                     "frame-ancestors 'none'");
      res.set_header("X-Content-Type-Options", "nosniff");
      res.set_content(std::string(body), type.c_str());
    });
  }
  server.Get("/api/v1/whoami", keep([](client::CoordinatorClient& b, const httplib::Request& req,
                                       httplib::Response& res) {
               Simple(b, req, res, [](client::CoordinatorClient& cc) -> Result<nlohmann::json> {
                 auto who = cc.WhoAmI();
                 if (!who.ok()) return who.status();
                 return client::ProtoToJson(*who);
               });
             }));
  server.Get("/api/v1/jobs", keep(ListJobs));
  server.Post("/api/v1/jobs", keep(SubmitJob));
  server.Get(R"(/api/v1/jobs/([^/]+))", keep(GetJob));
  server.Delete(R"(/api/v1/jobs/([^/]+))", keep(CancelJob));
  server.Get(R"(/api/v1/jobs/([^/]+)/logs)", keep(JobLogs));
  server.Get("/api/v1/nodes", keep([](client::CoordinatorClient& b, const httplib::Request& req,
                                      httplib::Response& res) {
               Simple(b, req, res, [](client::CoordinatorClient& cc) -> Result<nlohmann::json> {
                 auto list = cc.ListNodes();
                 if (!list.ok()) return list.status();
                 nlohmann::json nodes = nlohmann::json::array();
                 for (const auto& n : list->nodes()) nodes.push_back(client::ToJson(n));
                 return nlohmann::json{{"nodes", nodes}};
               });
             }));
  server.Get("/api/v1/balance", keep([](client::CoordinatorClient& b, const httplib::Request& req,
                                        httplib::Response& res) {
               auto points = IntParam(req, "trend_points", 120, 0, 100000);
               if (!points.ok()) return Fail(res, points.status());
               Simple(b, req, res,
                      [&](client::CoordinatorClient& cc) -> Result<nlohmann::json> {
                        auto bal = cc.GetBalance(static_cast<int>(*points));
                        if (!bal.ok()) return bal.status();
                        return client::ProtoToJson(*bal);
                      });
             }));
  server.Get("/api/v1/schedule", keep([](client::CoordinatorClient& b,
                                         const httplib::Request& req, httplib::Response& res) {
               const bool all = req.get_param_value("all") == "1";
               Simple(b, req, res,
                      [&](client::CoordinatorClient& cc) -> Result<nlohmann::json> {
                        auto table = cc.GetSchedule(all);
                        if (!table.ok()) return table.status();
                        nlohmann::json rows = nlohmann::json::array();
                        for (const auto& row : table->rows()) rows.push_back(client::ToJson(row));
                        return nlohmann::json{{"rows", rows}, {"now_ms", table->now_ms()}};
                      });
             }));
  server.Get("/api/v1/acct", keep([](client::CoordinatorClient& b, const httplib::Request& req,
                                     httplib::Response& res) {
               auto since = SinceParam(req);
               auto job = IntParam(req, "job", 0, 0, int64_t{1} << 62);
               for (const Status& s : {since.status(), job.status()})
                 if (!s.ok()) return Fail(res, s);
               v1::AccountingRequest r;
               r.set_user(req.get_param_value("user"));
               r.set_since_ms(*since);
               r.set_job_id(*job);
               Simple(b, req, res,
                      [&](client::CoordinatorClient& cc) -> Result<nlohmann::ordered_json> {
                        auto reply = cc.Accounting(r);
                        if (!reply.ok()) return reply.status();
                        nlohmann::ordered_json jobs = nlohmann::ordered_json::array();
                        for (const auto& j : client::AggregateAccounting(*reply))
                          jobs.push_back(client::ToJson(j, reply->now_ms()));
                        return nlohmann::ordered_json{{"jobs", jobs}, {"now_ms", reply->now_ms()}};
                      });
             }));
  // Anything else under /api/ is a JSON 404, not the listener's default page.
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (req.path.rfind("/api/", 0) != 0 || !res.body.empty()) return;
    const int status = res.status;  // as the router decided: 404, or 405 for a known path
    Fail(res, Status(StatusCode::kNotFound, "no such route: " + req.method + " " + req.path +
                                                " (GET /api/v1/openapi.json lists them)"));
    res.status = status;
  });
}

}  // namespace muster::gateway

// The REST API (/api/v1) on a real coordinator's HTTPS listener: credentials and roles as the
// gRPC API checks them, the CLI's JSON, errors as JSON, logs followed as Server-Sent Events, and
// every reply checked against the served OpenAPI document by a stock JSON Schema validator
// (python3-jsonschema).
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <thread>

#include "cluster/common/gateway_delegation.h"
#include "cluster/common/pki.h"
#include "tests/helpers/cluster_harness.h"

namespace muster::testing {
namespace {

class Rest {
 public:
  explicit Rest(TestCluster& cluster) : cluster_(cluster), url_(cluster.HttpUrl()) {}
  const std::string& url() const { return url_; }
  // A token of a new user of `role`.
  std::string Token(const std::string& name, const std::string& role) {
    CommandResult add = cluster_.Muster({"admin", "user", "add", name, "--role", role, "-q"});
    EXPECT_EQ(add.exit_code, 0) << add.err;
    return add.out.substr(0, add.out.find('\n'));
  }
  httplib::Client Client() const {
    httplib::Client c(url_);
    c.set_ca_cert_path((cluster_.state_dir() / "tls" / "ca.crt").c_str());
    c.enable_server_certificate_verification(true);
    c.set_read_timeout(30, 0);
    return c;
  }
  static httplib::Headers Auth(const std::string& token) {
    return {{"Authorization", "Bearer " + token}};
  }
  // The reply's JSON; records it for the schema check under `schema`.
  nlohmann::json Json(const httplib::Result& r, int status, const std::string& schema) {
    EXPECT_TRUE(r) << "no reply";
    if (!r) return nullptr;
    EXPECT_EQ(r->status, status) << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << r->body;
    nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r->body;
    checked_.push_back({{"schema", schema}, {"body", j}});
    return j;
  }
  const nlohmann::json& checked() const { return checked_; }

 private:
  TestCluster& cluster_;
  std::string url_;
  nlohmann::json checked_ = nlohmann::json::array();
};

TEST(ClusterRest, TheApiChecksWhatTheGrpcApiChecksAndAnswersAsTheDocumentSays) {
  TestCluster cluster({.agents = 1, .gpus_per_agent = 1,
                       .coordinator_args = {"--http", "127.0.0.1:0"}});
  ASSERT_EQ(cluster.Start(), "");
  Rest rest(cluster);
  ASSERT_EQ(rest.url().rfind("https://127.0.0.1:", 0), 0u) << rest.url();
  httplib::Client http = rest.Client();
  // Jobs run as their owner's Unix user: the cluster owner's (this process's) local session owns
  // the ones that run; a user of role user with no Unix account only sends refused requests.
  auto session = cluster::RequestLocalSession(cluster.LocalSocket());
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  const std::string user = session->token;
  const std::string other = rest.Token("otto", "user");
  const std::string viewer = rest.Token("vera", "viewer");
  const fs::path work = cluster.dir() / "work";
  fs::create_directories(work);
  fs::permissions(work, fs::perms::all);

  // No credential, a token in the URL, a malformed header, an unknown token.
  nlohmann::json e = rest.Json(http.Get("/api/v1/jobs"), 401, "Error");
  EXPECT_EQ(e["error"]["code"], "unauthenticated");
  EXPECT_NE(e["error"]["message"].get<std::string>().find("Authorization: Bearer"),
            std::string::npos);
  EXPECT_EQ(http.Get("/api/v1/jobs")->get_header_value("WWW-Authenticate"), "Bearer");
  e = rest.Json(http.Get("/api/v1/jobs?token=" + user), 400, "Error");
  EXPECT_NE(e["error"]["message"].get<std::string>().find("URL"), std::string::npos);
  rest.Json(http.Get("/api/v1/jobs", {{"Authorization", "Basic eDp5"}}), 401, "Error");
  e = rest.Json(http.Get("/api/v1/nodes", Rest::Auth("not-a-token")), 401, "Error");
  EXPECT_EQ(e["error"]["code"], "unauthenticated");
  // The document itself needs none.
  auto doc_reply = http.Get("/api/v1/openapi.json");
  ASSERT_TRUE(doc_reply);
  ASSERT_EQ(doc_reply->status, 200);
  const nlohmann::json doc = nlohmann::json::parse(doc_reply->body);
  EXPECT_EQ(doc["openapi"], "3.1.0");

  // Submit: the job file's keys as JSON; bad input is one clear error and changes nothing.
  const std::string body = nlohmann::json{{"name", "hello"},
                                          {"command", "echo hello-rest; echo line2"},
                                          {"workdir", work.string()}}
                               .dump();
  nlohmann::json s = rest.Json(http.Post("/api/v1/jobs", Rest::Auth(user), body,
                                         "application/json"),
                               201, "Submitted");
  const int64_t id = s["job_id"].get<int64_t>();
  ASSERT_GT(id, 0);
  e = rest.Json(http.Post("/api/v1/jobs", Rest::Auth(user), "{not json", "application/json"), 400,
                "Error");
  EXPECT_EQ(e["error"]["code"], "invalid_argument");
  e = rest.Json(http.Post("/api/v1/jobs", Rest::Auth(user), R"({"command": "true"})",
                          "application/json"),
                400, "Error");
  EXPECT_NE(e["error"]["message"].get<std::string>().find("workdir"), std::string::npos);
  e = rest.Json(http.Post("/api/v1/jobs", Rest::Auth(user),
                          nlohmann::json{{"command", "true"}, {"workdir", "/tmp"}, {"gpuz", 1}}
                              .dump(),
                          "application/json"),
                400, "Error");
  EXPECT_NE(e["error"]["message"].get<std::string>().find("unknown key 'gpuz'"),
            std::string::npos);
  e = rest.Json(http.Post("/api/v1/jobs", Rest::Auth(viewer), body, "application/json"), 403,
                "Error");
  EXPECT_EQ(e["error"]["code"], "permission_denied");
  e = rest.Json(http.Post("/api/v1/jobs", Rest::Auth(other),
                          nlohmann::json{{"command", "true"}, {"workdir", "/tmp"}, {"user", "root"}}
                              .dump(),
                          "application/json"),
                403, "Error");  // a user submits only as itself
  EXPECT_EQ(cluster.WaitForJob(id).state(), v1::JOB_STATE_SUCCEEDED);
  auto all = cluster.client().ListJobs([] {
    v1::ListJobsRequest r;
    r.set_include_finished(true);
    return r;
  }());
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->jobs_size(), 1);  // the refused submissions left nothing behind

  // Read it back as the CLI's JSON; its output; lists with filters and pages.
  nlohmann::json job = rest.Json(http.Get("/api/v1/jobs/" + std::to_string(id), Rest::Auth(viewer)),
                                 200, "Job");
  EXPECT_EQ(job["state"], "succeeded");
  EXPECT_EQ(job["user"], session->name);
  EXPECT_TRUE(job["spec"]["env"].empty()) << "a viewer does not see the job's environment";
  auto logs = http.Get("/api/v1/jobs/" + std::to_string(id) + "/logs", Rest::Auth(user));
  ASSERT_TRUE(logs);
  EXPECT_EQ(logs->status, 200);
  EXPECT_EQ(logs->body, "hello-rest\nline2\n");
  rest.Json(http.Get("/api/v1/jobs/" + std::to_string(id) + "/logs?stream=both",
                     Rest::Auth(user)),
            400, "Error");
  e = rest.Json(http.Get("/api/v1/jobs/999999", Rest::Auth(user)), 404, "Error");
  EXPECT_EQ(e["error"]["code"], "not_found");
  rest.Json(http.Get("/api/v1/jobs/abc", Rest::Auth(user)), 400, "Error");
  const int64_t second = rest.Json(http.Post("/api/v1/jobs", Rest::Auth(user),
                                             nlohmann::json{{"command", "true"},
                                                            {"workdir", work.string()}}
                                                 .dump(),
                                             "application/json"),
                                   201, "Submitted")["job_id"];
  EXPECT_EQ(cluster.WaitForJob(second).state(), v1::JOB_STATE_SUCCEEDED);
  nlohmann::json page = rest.Json(
      http.Get("/api/v1/jobs?state=succeeded&limit=1", Rest::Auth(viewer)), 200, "JobList");
  EXPECT_EQ(page["total"], 2);
  ASSERT_EQ(page["jobs"].size(), 1u);
  EXPECT_EQ(page["next_offset"], 1);
  page = rest.Json(http.Get("/api/v1/jobs?state=succeeded&limit=1&offset=1", Rest::Auth(viewer)),
                   200, "JobList");
  ASSERT_EQ(page["jobs"].size(), 1u);
  EXPECT_FALSE(page.contains("next_offset"));
  nlohmann::json named = rest.Json(
      http.Get("/api/v1/jobs?all=1&name=hello&user=" + session->name, Rest::Auth(viewer)), 200,
      "JobList");
  ASSERT_EQ(named["jobs"].size(), 1u);
  EXPECT_EQ(named["jobs"][0]["job_id"], id);
  rest.Json(http.Get("/api/v1/jobs?state=finished", Rest::Auth(viewer)), 400, "Error");
  rest.Json(http.Get("/api/v1/jobs?limit=0", Rest::Auth(viewer)), 400, "Error");

  // Cancel: refused to a viewer and to another user, done for the owner.
  const int64_t sleeper = rest.Json(http.Post("/api/v1/jobs", Rest::Auth(user),
                                              nlohmann::json{{"command", "sleep 300"},
                                                             {"workdir", work.string()}}
                                                  .dump(),
                                              "application/json"),
                                    201, "Submitted")["job_id"];
  const std::string path = "/api/v1/jobs/" + std::to_string(sleeper);
  e = rest.Json(http.Delete(path, Rest::Auth(viewer)), 403, "Error");
  EXPECT_EQ(e["error"]["code"], "permission_denied");
  e = rest.Json(http.Delete(path, Rest::Auth(other)), 403, "Error");
  EXPECT_NE(e["error"]["message"].get<std::string>().find("permission denied"), std::string::npos);
  EXPECT_NE(cluster.client().GetJob(sleeper)->state(), v1::JOB_STATE_CANCELLED) << "refused cancels change nothing";
  nlohmann::json c = rest.Json(http.Delete(path, Rest::Auth(user)), 200, "Cancelled");
  EXPECT_EQ(c["job_id"], sleeper);
  EXPECT_EQ(cluster.WaitForJob(sleeper).state(), v1::JOB_STATE_CANCELLED);
  e = rest.Json(http.Delete(path, Rest::Auth(user)), 409, "Error");
  EXPECT_NE(e["error"]["message"].get<std::string>().find("already cancelled"),
            std::string::npos);
  rest.Json(http.Delete("/api/v1/jobs/999999", Rest::Auth(user)), 404, "Error");

  // Logs followed: Server-Sent Events as the lines come, then eof.
  const int64_t ticker = rest.Json(
      http.Post("/api/v1/jobs", Rest::Auth(user),
                nlohmann::json{{"command", "for i in 1 2 3; do echo tick $i; sleep 0.3; done"},
                               {"workdir", work.string()}}
                    .dump(),
                "application/json"),
      201, "Submitted")["job_id"];
  std::string events;
  auto followed = http.Get("/api/v1/jobs/" + std::to_string(ticker) + "/logs?follow=1&task=0",
                           Rest::Auth(user), [&](const char* data, size_t n) {
                             events.append(data, n);
                             return true;
                           });
  ASSERT_TRUE(followed);
  EXPECT_EQ(followed->status, 200);
  EXPECT_EQ(followed->get_header_value("Content-Type"), "text/event-stream");
  EXPECT_NE(events.find("event: log\ndata: tick 1\n"), std::string::npos) << events;
  EXPECT_NE(events.find("data: tick 3\n"), std::string::npos) << events;
  EXPECT_EQ(events.rfind("event: eof\n"), events.find("event: eof\n")) << events;
  EXPECT_NE(events.find("event: eof\n"), std::string::npos) << events;

  // A quiet task's stream says it is alive every few seconds (a comment), so a reader that went
  // away is noticed without waiting for output; this reader leaves after the first.
  const int64_t quiet = rest.Json(http.Post("/api/v1/jobs", Rest::Auth(user),
                                            nlohmann::json{{"command", "sleep 300"},
                                                           {"workdir", work.string()}}
                                                .dump(),
                                            "application/json"),
                                  201, "Submitted")["job_id"];
  std::string beat;
  const auto asked = std::chrono::steady_clock::now();
  http.Get("/api/v1/jobs/" + std::to_string(quiet) + "/logs?follow=1&task=0", Rest::Auth(user),
           [&](const char* data, size_t n) {
             beat.append(data, n);
             return beat.find(": keepalive\n\n") == std::string::npos;  // then hang up
           });
  EXPECT_EQ(beat, ": keepalive\n\n");
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 20s);
  rest.Json(http.Delete("/api/v1/jobs/" + std::to_string(quiet), Rest::Auth(user)), 200,
            "Cancelled");

  // Who a token is; the dashboard's page, with a policy that allows only its own scripts.
  nlohmann::json who = rest.Json(http.Get("/api/v1/whoami", Rest::Auth(viewer)), 200, "WhoAmI");
  EXPECT_EQ(who["name"], "vera");
  EXPECT_EQ(who["role"], "viewer");
  auto index = http.Get("/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(index->get_header_value("Content-Security-Policy").find("default-src 'self'"),
            std::string::npos);
  EXPECT_NE(index->body.find("<script src=\"/app.js\""), std::string::npos);
  auto js = http.Get("/app.js");
  ASSERT_TRUE(js);
  EXPECT_NE(js->body.find("sessionStorage"), std::string::npos);

  // The other views, and an unknown route.
  nlohmann::json nodes = rest.Json(http.Get("/api/v1/nodes", Rest::Auth(viewer)), 200, "NodeList");
  ASSERT_EQ(nodes["nodes"].size(), 1u);
  EXPECT_EQ(nodes["nodes"][0]["name"], "node-0");
  rest.Json(http.Get("/api/v1/schedule?all=1", Rest::Auth(viewer)), 200, "Schedule");
  rest.Json(http.Get("/api/v1/balance", Rest::Auth(viewer)), 200, "Balance");
  nlohmann::json acct = rest.Json(http.Get("/api/v1/acct?since=1d", Rest::Auth(user)), 200,
                                  "Accounting");
  EXPECT_GE(acct["jobs"].size(), 3u);
  e = rest.Json(http.Get("/api/v1/nope", Rest::Auth(user)), 404, "Error");
  EXPECT_NE(e["error"]["message"].get<std::string>().find("openapi.json"), std::string::npos);

  // Every JSON reply above against its schema in the served document.
  const fs::path check = cluster.dir() / "replies.json";
  {
    std::ofstream out(check);
    out << nlohmann::json{{"doc", doc}, {"replies", rest.checked()}}.dump();
  }
  const std::string script =
      "import json, sys, jsonschema\n"
      "d = json.load(open(sys.argv[1]))\n"
      "bad = 0\n"
      "for r in d['replies']:\n"
      "    schema = {'$ref': '#/components/schemas/' + r['schema'],\n"
      "              'components': d['doc']['components']}\n"
      "    v = jsonschema.Draft202012Validator(schema)\n"
      "    for err in v.iter_errors(r['body']):\n"
      "        bad += 1\n"
      "        print(r['schema'], list(err.absolute_path), err.message)\n"
      "print('checked', len(d['replies']), 'replies,', bad, 'errors')\n"
      "sys.exit(1 if bad else 0)\n";
  CommandResult validated = RunCommand({"/usr/bin/python3", "-c", script, check.string()}, 60s);
  EXPECT_EQ(validated.exit_code, 0) << validated.out << validated.err;
  EXPECT_NE(validated.out.find("0 errors"), std::string::npos) << validated.out;
}


TEST(ClusterRest, AClientCertificateIsACredentialAndCallsAreAuditedAsFromTheHttpClient) {
  TestCluster cluster({.agents = 1, .coordinator_args = {"--http", "127.0.0.1:0"}});
  ASSERT_EQ(cluster.Start(), "");
  Rest rest(cluster);
  const std::string url = rest.url();
  const std::string host_port = url.substr(url.find("//") + 2);
  const std::string host = host_port.substr(0, host_port.rfind(':'));
  const int port = std::stoi(host_port.substr(host_port.rfind(':') + 1));
  const std::string ca = (cluster.state_dir() / "tls" / "ca.crt").string();
  rest.Token("carl", "user");
  const fs::path out = cluster.dir() / "carl-cert";
  ASSERT_EQ(cluster.Muster({"admin", "user", "cert", "carl", "--out", out.string()}).exit_code, 0);
  // An HTTPS client that presents `crt` (and `key`).
  auto with_cert = [&](const std::string& crt, const std::string& key) {
    auto c = std::make_unique<httplib::SSLClient>(host, port, crt, key);
    c->set_ca_cert_path(ca.c_str());
    c->enable_server_certificate_verification(true);
    c->set_read_timeout(30, 0);
    return c;
  };
  auto carl = with_cert((out / "carl.crt").string(), (out / "carl.key").string());
  nlohmann::json who = rest.Json(carl->Get("/api/v1/whoami"), 200, "WhoAmI");
  EXPECT_EQ(who["name"], "carl");
  EXPECT_EQ(who["role"], "user");
  EXPECT_EQ(who["via"], "certificate");
  EXPECT_EQ(who["peer"].get<std::string>().rfind("rest:127.0.0.1:", 0), 0u) << who.dump();
  // A bearer token, when sent too, is the credential.
  const std::string viewer = rest.Token("vera", "viewer");
  who = rest.Json(carl->Get("/api/v1/whoami", Rest::Auth(viewer)), 200, "WhoAmI");
  EXPECT_EQ(who["name"], "vera");
  // The certificate keeps the user's role: carl may not cancel the admin's job, and the refusal
  // is audited as from the HTTP client, not from the coordinator's own host.
  auto session = cluster::RequestLocalSession(cluster.LocalSocket());
  ASSERT_TRUE(session.ok());
  const int64_t job = rest.Json(rest.Client().Post("/api/v1/jobs", Rest::Auth(session->token),
                                                   nlohmann::json{{"command", "sleep 300"},
                                                                  {"workdir", "/tmp"}}
                                                       .dump(),
                                                   "application/json"),
                                201, "Submitted")["job_id"];
  rest.Json(carl->Delete("/api/v1/jobs/" + std::to_string(job)), 403, "Error");
  // Another site's page cannot act with the browser's certificate: neither a form posting
  // text/plain nor a request whose Origin is not this listener.
  nlohmann::json csrf = rest.Json(
      carl->Post("/api/v1/jobs", {{"Origin", "https://evil.example"}},
                 R"({"command": "true", "workdir": "/tmp"})", "application/json"),
      403, "Error");
  EXPECT_NE(csrf["error"]["message"].get<std::string>().find("another site"), std::string::npos);
  rest.Json(carl->Get("/api/v1/whoami", {{"Sec-Fetch-Site", "cross-site"}}), 403, "Error");
  EXPECT_EQ(rest.Json(carl->Get("/api/v1/whoami", {{"Sec-Fetch-Site", "same-origin"}}), 200,
                      "WhoAmI")["name"],
            "carl");
  nlohmann::json form = rest.Json(
      rest.Client().Post("/api/v1/jobs", Rest::Auth(session->token),
                         R"({"command": "true", "workdir": "/tmp"})", "text/plain"),
      400, "Error");
  EXPECT_NE(form["error"]["message"].get<std::string>().find("application/json"),
            std::string::npos);
  CommandResult audit = cluster.Muster({"admin", "audit", "-o", "json"});
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  bool refused_row = false, submit_row = false;
  for (const auto& row : nlohmann::json::parse(audit.out)) {
    const std::string peer = row.value("peer", "");
    if (row.value("identity", "") == "carl" && row.value("action", "") == "cancel")
      refused_row = peer.rfind("rest:127.0.0.1:", 0) == 0;
    if (row.value("action", "") == "submit") submit_row = peer.rfind("rest:127.0.0.1:", 0) == 0;
  }
  EXPECT_TRUE(refused_row) << audit.out;
  EXPECT_TRUE(submit_row) << audit.out;
  rest.Json(rest.Client().Delete("/api/v1/jobs/" + std::to_string(job), Rest::Auth(session->token)),
            200, "Cancelled");

  // A replaced certificate stops working at once; one from another CA fails the handshake.
  ASSERT_EQ(cluster.Muster({"admin", "user", "cert", "carl", "--out", (out / "new").string()})
                .exit_code,
            0);
  nlohmann::json e = rest.Json(carl->Get("/api/v1/whoami"), 401, "Error");
  EXPECT_EQ(e["error"]["code"], "unauthenticated");
  auto carl2 = with_cert((out / "new" / "carl.crt").string(), (out / "new" / "carl.key").string());
  EXPECT_EQ(rest.Json(carl2->Get("/api/v1/whoami"), 200, "WhoAmI")["name"], "carl");
  auto other_ca = cluster::MakeCa("another CA", 30);
  ASSERT_TRUE(other_ca.ok());
  auto forged = cluster::IssueCert(*other_ca, "carl", 30, {}, /*server=*/false);
  ASSERT_TRUE(forged.ok());
  std::ofstream(out / "forged.crt") << forged->cert_pem;
  std::ofstream(out / "forged.key") << forged->key_pem;
  auto forger = with_cert((out / "forged.crt").string(), (out / "forged.key").string());
  ASSERT_TRUE(forger->is_valid()) << "the client loaded the certificate and key";
  EXPECT_FALSE(forger->Get("/api/v1/whoami")) << "a certificate of another CA is refused";

  // Only the coordinator's own gateway may name a certificate or a client address on gRPC.
  for (const auto& md : std::vector<std::vector<std::pair<std::string, std::string>>>{
           {{cluster::gateway_delegation::kCertName, "carl"},
            {cluster::gateway_delegation::kCertSha256,
             cluster::CertFingerprint(ReadFile(out / "new" / "carl.crt")).value()}},
           {{cluster::gateway_delegation::kGatewayKey, "mst_guess"},
            {cluster::gateway_delegation::kCertName, "carl"}}}) {
    client::CoordinatorClient base(client::ClientOptions{
        .address = cluster.address(),
        .transport = cluster::ResolveClientTransport(cluster.state_dir().string()).value()});
    client::CoordinatorClient forger_grpc(base, nullptr, md);
    auto who_grpc = forger_grpc.WhoAmI();
    EXPECT_EQ(who_grpc.status().code(), StatusCode::kUnauthenticated)
        << who_grpc.status().ToString();
  }
}

}  // namespace
}  // namespace muster::testing

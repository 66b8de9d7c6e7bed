// `muster admin user add|list|remove|rotate` and `muster whoami`: the cluster's users and their
// tokens, through the coordinator (admins only), and who the coordinator takes the caller for.
//
//   admin user add NAME --role viewer|user|admin|agent [-q]   prints the new token once
//   admin user rotate NAME [-q]                               a new token; the old one stops
//   admin user remove NAME
//   admin user list [-o json]
//   admin user cert NAME [--out DIR] [--days 90]              a client certificate: the key is
//                                                             made here and never sent
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/cmd_client.h"
#include "cluster/client/display.h"
#include "cluster/common/pki.h"
#include "cluster/common/tls.h"
#include "core/resources.h"

namespace muster::cli {

namespace {

struct UserFlags {
  ClientFlags client;
  std::string name;
  std::string role = "user";
  bool quiet = false;
};

int RunUserOp(const UserFlags& f, const std::string& op) {
  auto c = MakeClient(f.client);
  v1::ManageUsersRequest req;
  req.set_op(op);
  req.set_name(f.name);
  req.set_role(f.role);
  auto reply = c.ManageUsers(req);
  if (!reply.ok()) return ReportError(reply.status());
  if (op == "list") {
    if (f.client.json()) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& u : reply->users())
        out.push_back({{"name", u.name()},
                       {"role", u.role()},
                       {"created_ms", u.created_ms()},
                       {"certificate", u.has_cert()}});
      std::cout << out.dump(2) << std::endl;
      return kExitOk;
    }
    client::TextTable t({"USER", "ROLE", "CERT", "CREATED"});
    for (const auto& u : reply->users())
      t.AddRow({u.name(), u.role(), u.has_cert() ? "yes" : "-",
                client::FormatRelative(u.created_ms(), WallNowMs())});
    std::cout << t.Render();
    return kExitOk;
  }
  if (op == "remove") {
    std::cout << "removed user " << f.name << "; its token no longer works" << std::endl;
    return kExitOk;
  }
  if (f.quiet) {
    std::cout << reply->token() << std::endl;
  } else {
    std::cout << (op == "add" ? "added user " + f.name + " (" + f.role + ")"
                              : "new token for " + f.name + "; the old one no longer works")
              << "\ntoken (shown once; keep it in ~/.config/muster/token, mode 0600, or "
                 "MUSTER_TOKEN):\n"
              << reply->token() << std::endl;
  }
  return kExitOk;
}

// A key and CSR made here; the coordinator signs the CSR for `name` and records the
// certificate; the files land in `out` (the key 0600).
int RunUserCert(const UserFlags& f, const std::string& out, int days) {
  auto csr = cluster::MakeCsr(f.name);
  if (!csr.ok()) return ReportError(csr.status());
  v1::ManageUsersRequest req;
  req.set_op("cert");
  req.set_name(f.name);
  req.set_csr_pem(csr->cert_pem);
  req.set_days(days);
  auto reply = MakeClient(f.client).ManageUsers(req);
  if (!reply.ok()) return ReportError(reply.status());
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  const std::string dir = std::filesystem::absolute(out, ec).string();
  const std::string key = dir + "/" + f.name + ".key", crt = dir + "/" + f.name + ".crt",
                    ca = dir + "/ca.crt";
  for (const auto& [path, text, mode] : {std::tuple{key, csr->key_pem, 0600},
                                         std::tuple{crt, reply->cert_pem(), 0644},
                                         std::tuple{ca, reply->ca_pem(), 0644}})
    if (Status w = cluster::WriteTlsFile(path, text, mode); !w.ok()) return ReportError(w);
  std::cout << "certificate for " << f.name << " (valid " << days << " days; any earlier one no "
            << "longer works):\n  " << crt << "\n  " << key << " (private: give it only to "
            << f.name << ")\n  " << ca << "\nuse it with " << cluster::kClientCertEnv << "=" << crt
            << " " << cluster::kClientKeyEnv << "=" << key << " " << cluster::kCaCertEnv << "="
            << ca << ",\nor as ~/.config/muster/client.crt, client.key and ca.crt" << std::endl;
  return kExitOk;
}

int RunWhoAmI(const ClientFlags& f) {
  auto c = MakeClient(f);
  auto me = c.WhoAmI();
  if (!me.ok()) return ReportError(me.status());
  if (f.json()) {
    std::cout << nlohmann::json{{"name", me->name()},
                                {"role", me->role()},
                                {"via", me->via()},
                                {"peer", me->peer()}}
                     .dump(2)
              << std::endl;
  } else {
    std::cout << me->name() << " (" << me->role() << ", " << me->via() << ") at "
              << c.address() << std::endl;
  }
  return kExitOk;
}

}  // namespace

void AddNodeCredentialCommands(CLI::App& admin, CommandContext& ctx);

void AddUserCommands(CLI::App& admin, CommandContext& ctx) {
  AddNodeCredentialCommands(admin, ctx);
  CLI::App* user = admin.add_subcommand("user", "Users and their tokens (admins only)");
  user->require_subcommand(1);
  auto add = std::make_shared<UserFlags>();
  CLI::App* a = user->add_subcommand("add", "Add a user and print its token once");
  a->add_option("name", add->name, "user name (or node name, for --role agent)")->required();
  a->add_option("--role", add->role, "viewer, user, admin, or agent (a node's credential)")
      ->check(CLI::IsMember({"viewer", "user", "admin", "agent"}))
      ->capture_default_str();
  a->add_flag("-q,--quiet", add->quiet, "print only the token");
  AddClientFlags(*a, add->client, /*with_output=*/false);
  a->callback([add, &ctx] { ctx.exit_code = RunUserOp(*add, "add"); });

  auto rot = std::make_shared<UserFlags>();
  CLI::App* r = user->add_subcommand("rotate", "Give a user a new token; the old one stops working");
  r->add_option("name", rot->name, "user name")->required();
  r->add_flag("-q,--quiet", rot->quiet, "print only the token");
  AddClientFlags(*r, rot->client, /*with_output=*/false);
  r->callback([rot, &ctx] { ctx.exit_code = RunUserOp(*rot, "rotate"); });

  auto rm = std::make_shared<UserFlags>();
  CLI::App* d = user->add_subcommand("remove", "Remove a user; its token stops working at once");
  d->add_option("name", rm->name, "user name")->required();
  AddClientFlags(*d, rm->client, /*with_output=*/false);
  d->callback([rm, &ctx] { ctx.exit_code = RunUserOp(*rm, "remove"); });

  struct CertFlags {
    UserFlags user;
    std::string out = ".";
    int days = 90;
  };
  auto cf = std::make_shared<CertFlags>();
  CLI::App* ct = user->add_subcommand(
      "cert", "Make a client certificate for a user (an alternative to its token)");
  ct->add_option("name", cf->user.name, "user name (an existing user that is not a node)")
      ->required();
  ct->add_option("--out", cf->out, "directory for NAME.crt, NAME.key and ca.crt")
      ->capture_default_str();
  ct->add_option("--days", cf->days, "validity in days")
      ->check(CLI::Range(1, 365))
      ->capture_default_str();
  AddClientFlags(*ct, cf->user.client, /*with_output=*/false);
  ct->callback([cf, &ctx] { ctx.exit_code = RunUserCert(cf->user, cf->out, cf->days); });

  auto ls = std::make_shared<UserFlags>();
  CLI::App* l = user->add_subcommand("list", "List users (tokens are never shown again)");
  AddClientFlags(*l, ls->client);
  l->callback([ls, &ctx] { ctx.exit_code = RunUserOp(*ls, "list"); });
}

int RunJoinToken(const ClientFlags& f, const std::string& node, const std::string& ttl) {
  const int64_t secs = ParseDurationMs(ttl) / 1000;
  if (secs < 1)
    return ReportError(Status::InvalidArgument("--ttl: a duration like 1h, 30m or 2d"));
  v1::JoinTokenRequest req;
  req.set_node(node);
  req.set_ttl_s(secs);
  auto reply = MakeClient(f).CreateJoinToken(req);
  if (!reply.ok()) return ReportError(reply.status());
  std::cout << reply->token() << std::endl;
  return kExitOk;
}

int RunRevokeNode(const ClientFlags& f, const std::string& node) {
  v1::ManageUsersRequest req;
  req.set_op("remove");
  req.set_name(node);
  auto reply = MakeClient(f).ManageUsers(req);
  if (!reply.ok()) return ReportError(reply.status());
  std::cout << "revoked node " << node << ": its link is closed and its credential refused"
            << std::endl;
  return kExitOk;
}

void AddNodeCredentialCommands(CLI::App& admin, CommandContext& ctx) {
  struct JoinFlags {
    ClientFlags client;
    std::string node;
    std::string ttl = "1h";
  };
  auto j = std::make_shared<JoinFlags>();
  CLI::App* jt = admin.add_subcommand(
      "join-token", "Print a one-time token for a new node: `muster agent --join TOKEN`");
  jt->add_option("--node", j->node, "the node name it is for (default: any one name)");
  jt->add_option("--ttl", j->ttl, "how long it stays usable")->capture_default_str();
  AddClientFlags(*jt, j->client, /*with_output=*/false);
  jt->callback([j, &ctx] { ctx.exit_code = RunJoinToken(j->client, j->node, j->ttl); });

  struct RevokeFlags {
    ClientFlags client;
    std::string node;
  };
  auto r = std::make_shared<RevokeFlags>();
  CLI::App* rv = admin.add_subcommand(
      "revoke-node", "Disconnect a node now and refuse its credential from then on");
  rv->add_option("node", r->node, "node name")->required();
  AddClientFlags(*rv, r->client, /*with_output=*/false);
  rv->callback([r, &ctx] { ctx.exit_code = RunRevokeNode(r->client, r->node); });
}

void AddWhoAmICommand(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<ClientFlags>();
  CLI::App* cmd = app.add_subcommand("whoami", "Show who the coordinator takes you for");
  AddClientFlags(*cmd, *f);
  cmd->callback([f, &ctx] { ctx.exit_code = RunWhoAmI(*f); });
}

}  // namespace muster::cli

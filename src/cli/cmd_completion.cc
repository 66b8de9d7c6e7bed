// `muster completion bash|zsh`: a completion script generated from the command tree itself, so
// it never drifts from the flags; job ids (show, cancel, logs, hold, release, requeue) and node
// names (drain, undrain) come from the running cluster through `muster completion --job-ids` /
// `--nodes`, which print nothing when no coordinator answers.
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cli/cmd_client.h"
#include "cli/commands.h"

namespace muster::cli {
namespace {

struct CompletionFlags {
  ClientFlags client;
  std::string shell;
  bool job_ids = false, nodes = false;
};

// "admin user add" -> what may follow it: its subcommands and its flags.
struct Words {
  std::string subs, flags;
};

void Walk(const CLI::App& app, const std::string& path, std::map<std::string, Words>* words) {
  Words w;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_name().empty()) continue;
    w.subs += (w.subs.empty() ? "" : " ") + sub->get_name();
    Walk(*sub, path + " " + sub->get_name(), words);
  }
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_group().empty()) continue;  // hidden
    for (const auto& l : o->get_lnames()) w.flags += (w.flags.empty() ? "--" : " --") + l;
    for (const auto& n : o->get_snames()) w.flags += (w.flags.empty() ? "-" : " -") + n;
  }
  (*words)[path] = w;
}

std::string BashScript(const CLI::App& root) {
  std::map<std::string, Words> words;
  Walk(root, "", &words);
  std::string paths, cases;
  for (const auto& [path, w] : words) {
    if (!path.empty()) paths += (paths.empty() ? "" : "|") + std::string("\"") + path + "\"";
    cases += "    \"" + path + "\") subs=\"" + w.subs + "\"; flags=\"" + w.flags + "\" ;;\n";
  }
  return "# muster completion for bash: eval \"$(muster completion bash)\" in ~/.bashrc\n"
         "_muster() {\n"
         "  local cur=${COMP_WORDS[COMP_CWORD]} path=\"\" i w subs flags words\n"
         "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
         "    w=${COMP_WORDS[i]}\n"
         "    [[ $w == -* ]] && continue\n"
         "    case \"$path $w\" in\n"
         "      " + paths + ") path=\"$path $w\" ;;\n"
         "    esac\n"
         "  done\n"
         "  case \"$path\" in\n" + cases +
         "  esac\n"
         "  if [[ $cur == -* ]]; then\n"
         "    words=$flags\n"
         "  else\n"
         "    words=$subs\n"
         "    case \"$path\" in\n"
         "      \" show\"|\" cancel\"|\" logs\"|\" hold\"|\" release\"|\" requeue\")\n"
         "        words=\"$words $(muster completion --job-ids 2>/dev/null)\" ;;\n"
         "      \" drain\"|\" undrain\") words=\"$words $(muster completion --nodes 2>/dev/null)\" ;;\n"
         "    esac\n"
         "  fi\n"
         "  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
         "}\n"
         "complete -F _muster muster\n";
}

int RunCompletion(const CLI::App& root, const CompletionFlags& f) {
  if (f.job_ids || f.nodes) {  // for the script: quiet, and nothing when no cluster answers
    auto client = MakeClient(f.client, std::chrono::seconds(2));  // a shell waits for it
    if (f.job_ids) {
      v1::ListJobsRequest req;
      auto list = client.ListJobs(req);
      if (!list.ok()) return kExitUnavailable;
      for (const auto& j : list->jobs()) std::cout << j.job_id() << "\n";
    } else {
      auto list = client.ListNodes();
      if (!list.ok()) return kExitUnavailable;
      for (const auto& n : list->nodes()) std::cout << n.spec().name() << "\n";
    }
    return kExitOk;
  }
  if (f.shell == "bash") {
    std::cout << BashScript(root);
  } else if (f.shell == "zsh") {
    std::cout << "# muster completion for zsh: eval \"$(muster completion zsh)\" in ~/.zshrc\n"
                 "autoload -U +X bashcompinit && bashcompinit\n"
              << BashScript(root);
  } else {
    std::cerr << "muster: completion needs a shell: muster completion bash, or zsh\n";
    return kExitUsage;
  }
  return kExitOk;
}

}  // namespace

void AddCompletionCommand(CLI::App& app, CommandContext& ctx) {
  auto f = std::make_shared<CompletionFlags>();
  CLI::App* cmd = app.add_subcommand(
      "completion", "Print a shell completion script: eval \"$(muster completion bash)\"");
  cmd->add_option("shell", f->shell, "bash or zsh")->check(CLI::IsMember({"bash", "zsh"}));
  cmd->add_flag("--job-ids", f->job_ids, "print the ids of unfinished jobs (for the script)")
      ->group("");
  cmd->add_flag("--nodes", f->nodes, "print the nodes' names (for the script)")->group("");
  AddClientFlags(*cmd, f->client, /*with_output=*/false);
  cmd->callback([&app, &ctx, f] { ctx.exit_code = RunCompletion(app, *f); });
}

}  // namespace muster::cli

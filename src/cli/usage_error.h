// One actionable line for a command-line mistake: an unknown flag or command is named, with the
// closest valid one ("muster: submit has no flag --gpu; did you mean --gpus?"), instead of the
// parser's view of what went wrong ("The following argument was not expected: true").
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace muster::cli {

// The closest of `candidates` to `word` within a small edit distance (at most a third of its
// length, and at least 1 or 2 edits), or "" when none is close.
std::string Closest(const std::string& word, const std::vector<std::string>& candidates);

// The line to print (without "muster: ") for a parse error of `argv` against `app`.
std::string DescribeUsageError(CLI::App& app, const CLI::ParseError& e, int argc,
                               const char* const* argv);

}  // namespace muster::cli

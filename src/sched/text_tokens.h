// Tokenizing helpers shared by the offline input readers (ETC matrices, DAG files).
#pragma once

#include <string_view>
#include <vector>

namespace muster::sched {

// Splits `line` into whitespace-separated tokens, dropping everything from a '#' on.
std::vector<std::string_view> Tokens(std::string_view line);

// Parses the whole of `s` as a double (no leading/trailing garbage). False if it is not one.
bool ParseWholeDouble(std::string_view s, double& out);

}  // namespace muster::sched

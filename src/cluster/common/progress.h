// The progress line: a task reports progress by printing, on its stdout, one line of the form
//
//   MUSTER_PROGRESS done=<number> total=<number> [key=value ...]
//
// Keys are [A-Za-z0-9_]+, values contain no whitespace. `done`/`total` give the fraction shown
// as a progress bar; any other keys (epoch, loss, acc, samples_per_s, ...) are shown beside it.
// Works from any language: `print(f"MUSTER_PROGRESS done={i} total={n} loss={l:.4f}")`.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace muster {

inline constexpr std::string_view kProgressPrefix = "MUSTER_PROGRESS ";

struct ProgressLine {
  double done = 0;
  double total = 0;
  std::map<std::string, std::string> fields;  // all key=value pairs, done/total included
};

// Parses one line (without its newline). nullopt if it is not a well-formed progress line.
std::optional<ProgressLine> ParseProgressLine(std::string_view line);
// Formats the line a task prints (without newline).
std::string FormatProgressLine(const ProgressLine& p);

}  // namespace muster

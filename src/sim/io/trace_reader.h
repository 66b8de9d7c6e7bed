// Trace readers: the Philly trace (timestamp,duration,num_gpus,gpu_time,cluster; timestamps
// "YYYY-MM-DD HH:MM:SS" UTC; rows in any order; the virtual-cluster id is used as the user) and
// muster's generic CSV (submit_time_s,duration_s,gpus[,user][,priority]; times in seconds,
// fractions allowed). Columns are found by their header names, in any order; extra columns are
// ignored. A row is bad when a field is missing or malformed, the duration is not > 0 or the GPU
// count is not a whole number >= 1; bad rows are skipped and listed with their 1-based line
// numbers, and the caller decides whether a file with bad rows is acceptable. Blank lines are
// ignored.
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "core/status.h"
#include "sim/workload.h"

namespace muster::sim::io {

enum class TraceFormat { kPhilly, kCsv };

// "philly" or "csv".
Result<TraceFormat> ParseTraceFormat(const std::string& name);

struct BadRow {
  int64_t line = 0;
  std::string why;
};

struct TraceRead {
  Workload workload;
  int64_t rows = 0;  // data rows seen (good + bad)
  std::vector<BadRow> bad_rows;
};

// Parses a whole trace from `in`. kInvalidArgument if the header lacks a required column.
Result<TraceRead> ParseTrace(std::istream& in, TraceFormat format);

// Opens and parses `path`; kNotFound if it cannot be opened.
Result<TraceRead> ReadTraceFile(const std::string& path, TraceFormat format);

// Reads a whole text file (for --cluster-file); kNotFound if it cannot be opened.
Result<std::string> ReadTextFile(const std::string& path);

}  // namespace muster::sim::io

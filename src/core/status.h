// Typed results for muster: a Status that tells "not now" from "never" from "error", and a
// Result<T> that carries either a value or a Status (std::expected is C++23; GCC 12 ships C++20).
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace muster {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the caller sent something malformed; fix the input
  kNotFound,         // unknown id
  kAlreadyExists,    // a name or id is taken
  kUnschedulable,    // cannot be placed now; may fit later
  kInfeasible,       // can never be placed on this cluster
  kFailedPrecondition,  // illegal state transition or stale attempt
  kUnavailable,      // a peer (coordinator, agent, store) cannot be reached
  kInternal,         // a bug or an unexpected OS error
  kPermissionDenied,  // the caller is known but may not do this
  kUnauthenticated,   // no valid credential came with the call
};
inline constexpr StatusCode kLastStatusCode = StatusCode::kUnauthenticated;

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status Unschedulable(std::string m) { return {StatusCode::kUnschedulable, std::move(m)}; }
  static Status Infeasible(std::string m) { return {StatusCode::kInfeasible, std::move(m)}; }
  static Status FailedPrecondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  static Status PermissionDenied(std::string m) {
    return {StatusCode::kPermissionDenied, std::move(m)};
  }
  static Status Unauthenticated(std::string m) {
    return {StatusCode::kUnauthenticated, std::move(m)};
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid argument: <message>", or "ok".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a T or a non-ok Status. Accessing value() of an error is a programming error.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  const T& value() const& { return std::get<T>(v_); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace muster

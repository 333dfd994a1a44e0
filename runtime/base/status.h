// Status and Result<T>: errors as values at module boundaries (LevelDB style).
//
// A Status is either ok or carries a code and a one-line message meant for a human. Result<T>
// holds either a value or a non-ok Status. Functions that can fail return one of these instead of
// throwing through layers; callers test `ok()` and read `status().message()`.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace mixserve {

class Status {
 public:
  enum class Code { kOk, kInvalidArgument, kNotFound, kIo, kUnavailable, kPermissionDenied, kInternal };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) { return Status(Code::kInvalidArgument, std::move(msg)); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status Io(std::string msg) { return Status(Code::kIo, std::move(msg)); }
  static Status Unavailable(std::string msg) { return Status(Code::kUnavailable, std::move(msg)); }
  static Status PermissionDenied(std::string msg) { return Status(Code::kPermissionDenied, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(Code::kInternal, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "<context>: <message>", for adding where an error happened.
  Status WithContext(const std::string& context) const {
    return ok() ? *this : Status(code_, context + ": " + message_);
  }

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// ValueOr<T, E>: a T, or the error E saying why there is none. The shared body of Result<T> (E = Status)
// and server::ApiResult<T> (E = ApiError), which add how the error is read.
// REQUIRES: value() only when ok(); T and E are different types.
template <typename T, typename E>
class ValueOr {
 public:
  ValueOr(T value) : v_(std::move(value)) {}
  ValueOr(E error) : v_(std::move(error)) {}

  bool ok() const { return std::holds_alternative<T>(v_); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 protected:
  const E& error_value() const { return std::get<E>(v_); }

 private:
  std::variant<T, E> v_;
};

// Result<T>: a T, or the Status saying why there is none.
// REQUIRES: value() only when ok(); constructing from an ok Status is a programming error.
template <typename T>
class Result : public ValueOr<T, Status> {
 public:
  Result(T value) : ValueOr<T, Status>(std::move(value)) {}
  Result(Status status) : ValueOr<T, Status>(std::move(status)) { assert(!this->error_value().ok()); }

  const Status& status() const {
    static const Status kOk;
    return this->ok() ? kOk : this->error_value();
  }
};

}  // namespace mixserve

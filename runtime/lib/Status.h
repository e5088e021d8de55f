// Status: the error-or-success value every fallible runtime function returns
// (the runtime reports errors as values; the C API turns them into an
// sa_status plus the thread's last-error message).
#ifndef SPARSE_ATTN_RUNTIME_STATUS_H
#define SPARSE_ATTN_RUNTIME_STATUS_H

#include "sparse_attn/runtime.h"

#include <string>
#include <utility>

namespace sparse_attn::runtime {

class [[nodiscard]] Status {
public:
  static Status success() { return Status(SA_OK, {}); }
  static Status error(sa_status code, std::string message) {
    return Status(code, std::move(message));
  }

  bool ok() const { return code_ == SA_OK; }
  sa_status code() const { return code_; }
  const std::string &message() const { return message_; }

  // Prefixes the message with context ("kernel 'x': ...").
  Status withContext(const std::string &context) && {
    if (!ok())
      message_ = context + ": " + message_;
    return std::move(*this);
  }

private:
  Status(sa_status code, std::string message) : code_(code), message_(std::move(message)) {}

  sa_status code_;
  std::string message_;
};

} // namespace sparse_attn::runtime

#endif

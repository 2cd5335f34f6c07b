// Exceptions thrown by errand. Every message names what failed and why; connection strings are
// never included with their passwords.
#pragma once

#include <stdexcept>
#include <string>

namespace errand {

// Base of every errand exception.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The store could not do what was asked: the database is unreachable, busy, corrupt, not ours,
// or written by a newer errand. Workers log these, back off and retry.
class StoreError : public Error {
 public:
  using Error::Error;
};

// A database URL or option could not be understood.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// Enqueue failed. `kind()` tells whether the job could not be serialized to JSON (nothing was
// written) or the store failed (the transaction was rolled back: none of the jobs was written).
class EnqueueError : public Error {
 public:
  enum class Kind { serialization, storage };
  EnqueueError(Kind kind, const std::string& message) : Error(message), kind_(kind) {}
  Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

// Raised by the registry when a stored job cannot be turned back into a job: its name is not
// registered or its payload does not deserialize. The worker records it as a failed attempt.
class DispatchError : public Error {
 public:
  using Error::Error;
};

// A lifecycle operation asked for something the job's state does not allow: cancelling a job
// that is finished or unknown, retrying one that is not finished (errand::cancel, errand::retry).
class JobStateError : public Error {
 public:
  enum class Kind { not_found, finished, not_finished };
  JobStateError(Kind kind, const std::string& message) : Error(message), kind_(kind) {}
  Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

// A run used its RunContext wrongly: an output over WorkerOptions::max_output_bytes or not
// JSON, a progress message over kMaxProgressMessageBytes, a progress that is not a finite number.
// Nothing is recorded; a run that lets it escape fails its attempt with this message.
class RunContextError : public Error {
 public:
  using Error::Error;
};

}  // namespace errand

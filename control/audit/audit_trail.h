// AuditTrail: the control plane's audit records, numbered, logged, kept in memory (the newest
// ones) and optionally appended to a file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "control/audit/audit_file.h"
#include "weft/base/sync.h"
#include "weft/control/v1/control.pb.h"

namespace weft::control::audit {

// AuditTrail: thread-safe (gRPC threads record while ListAuditRecords lists).
//
// Refusals (code UNAUTHENTICATED or PERMISSION_DENIED) are kept apart from the other records,
// each kind up to the capacity: anyone who can reach the control plane can be refused, so a
// flood of refused calls must not push the record of an operator's change out of memory.
class AuditTrail {
 public:
  // kCapacity: how many records of each kind are kept in memory by default.
  static constexpr std::size_t kCapacity = 1000;

  // AuditTrail keeps the newest `capacity` (>= 1) refusals and the newest `capacity` other
  // records, and appends every record to `file` when it is not null.
  explicit AuditTrail(std::unique_ptr<AuditFile> file = nullptr, std::size_t capacity = kCapacity);
  AuditTrail(const AuditTrail&) = delete;
  AuditTrail& operator=(const AuditTrail&) = delete;
  ~AuditTrail();

  // Record numbers `record` (sequence: 1, 2, ... in the order of Record calls), makes its
  // strings valid UTF-8 (SanitizeRecord), writes it to the log ("audit: {json}", INFO) and to
  // the file, and keeps it, dropping the oldest record of its kind beyond the capacity. A failed
  // file write is logged with the count so far (write_failures) and otherwise ignored: the
  // record is kept and logged all the same. Records are filed and logged in sequence order.
  void Record(v1::AuditRecord record) ABSL_LOCKS_EXCLUDED(mu_);

  // Page: a slice of the trail, newest first.
  struct Page {
    std::vector<v1::AuditRecord> records;
    // The sequence to pass as `before` for the next (older) page; 0 when there is none.
    std::uint64_t next_before = 0;
  };

  // List returns up to `limit` kept records (of both kinds) with a sequence below `before`
  // (0 = from the newest record), newest first. Records dropped meanwhile are skipped, never
  // repeated.
  Page List(std::uint64_t before, std::size_t limit) const ABSL_LOCKS_EXCLUDED(mu_);

  // write_failures: file writes that failed since construction.
  std::uint64_t write_failures() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const std::unique_ptr<AuditFile> file_;
  const std::size_t capacity_;
  // weft::Mutex, not absl::Mutex: TSan can see it (weft/base/sync.h).
  mutable Mutex mu_;
  // Oldest first, by increasing sequence.
  std::deque<v1::AuditRecord> changes_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::AuditRecord> refusals_ ABSL_GUARDED_BY(mu_);
  std::uint64_t last_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t write_failures_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace weft::control::audit

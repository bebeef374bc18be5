#include "control/audit/audit_trail.h"

#include <algorithm>
#include <iterator>
#include <string>
#include <utility>

#include "control/audit/audit_record.h"
#include "weft/base/log.h"

namespace weft::control::audit {

AuditTrail::AuditTrail(std::unique_ptr<AuditFile> file, std::size_t capacity)
    : file_(std::move(file)), capacity_(capacity) {
  CHECK_GE(capacity_, 1u);
}

AuditTrail::~AuditTrail() = default;

void AuditTrail::Record(v1::AuditRecord record) {
  SanitizeRecord(record);
  MutexLock lock(&mu_);
  record.set_sequence(++last_sequence_);
  const std::string line = AuditRecordToJson(record);
  // Under the lock, so that the log and the file list records in sequence order. Records are
  // rare (mutating and refused calls), so holding the lock for a write(2) costs little.
  LOG(INFO) << "audit: " << line;
  if (file_ != nullptr) {
    if (absl::Status status = file_->Append(line); !status.ok()) {
      ++write_failures_;
      LOG(ERROR) << "audit: record " << record.sequence() << " not filed: " << status.message()
                 << " (" << write_failures_ << " failed writes so far)";
    }
  }
  const bool refused = record.code() == "UNAUTHENTICATED" || record.code() == "PERMISSION_DENIED";
  std::deque<v1::AuditRecord>& kept = refused ? refusals_ : changes_;
  kept.push_back(std::move(record));
  if (kept.size() > capacity_) kept.pop_front();
}

AuditTrail::Page AuditTrail::List(std::uint64_t before, std::size_t limit) const {
  Page page;
  MutexLock lock(&mu_);
  // End: one past the newest record of a kind with a sequence below `before`.
  const auto end = [before](const std::deque<v1::AuditRecord>& records) {
    if (before == 0) return records.end();
    return std::lower_bound(
        records.begin(), records.end(), before,
        [](const v1::AuditRecord& record, std::uint64_t s) { return record.sequence() < s; });
  };
  auto changes = end(changes_);
  auto refusals = end(refusals_);
  // Merge the two kinds, newest first.
  while (page.records.size() < limit &&
         (changes != changes_.begin() || refusals != refusals_.begin())) {
    const bool take_change = refusals == refusals_.begin() ||
                             (changes != changes_.begin() &&
                              std::prev(changes)->sequence() > std::prev(refusals)->sequence());
    auto& next = take_change ? changes : refusals;
    --next;
    page.records.push_back(*next);
  }
  if (!page.records.empty() && (changes != changes_.begin() || refusals != refusals_.begin())) {
    page.next_before = page.records.back().sequence();
  }
  return page;
}

std::uint64_t AuditTrail::write_failures() const {
  MutexLock lock(&mu_);
  return write_failures_;
}

}  // namespace weft::control::audit

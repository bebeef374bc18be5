#include "control/audit/audit_trail.h"

#include <glog/logging.h>

#include <algorithm>
#include <string>
#include <utility>

#include "control/audit/audit_record.h"

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
  records_.push_back(std::move(record));
  if (records_.size() > capacity_) records_.pop_front();
}

AuditTrail::Page AuditTrail::List(std::uint64_t before, std::size_t limit) const {
  Page page;
  MutexLock lock(&mu_);
  if (records_.empty() || limit == 0) return page;
  const std::uint64_t oldest = records_.front().sequence();
  // Sequences are consecutive, so a record's index is its distance from the oldest.
  std::uint64_t end = records_.size();  // One past the newest record to list.
  if (before != 0) end = before <= oldest ? 0 : std::min<std::uint64_t>(before - oldest, end);
  const std::uint64_t begin = end > limit ? end - limit : 0;
  page.records.reserve(end - begin);
  for (std::uint64_t i = end; i > begin; --i) page.records.push_back(records_[i - 1]);
  if (begin > 0) page.next_before = records_[begin].sequence();
  return page;
}

std::uint64_t AuditTrail::write_failures() const {
  MutexLock lock(&mu_);
  return write_failures_;
}

}  // namespace weft::control::audit

#include "control/tasks/cursor_cache.h"

#include <utility>

#include "weft/base/log.h"

namespace weft::control {

CursorCache::CursorCache(std::size_t max_cursors, std::size_t max_ids, absl::Duration lifetime,
                         Clock now)
    : max_cursors_(max_cursors), max_ids_(max_ids), lifetime_(lifetime), now_(std::move(now)) {
  CHECK_GT(max_cursors_, 0u);
}

void CursorCache::MakeRoomLocked(absl::Time now, std::size_t ids) {
  while (!by_age_.empty()) {
    auto it = cursors_.find(by_age_.front());
    CHECK(it != cursors_.end());
    if (it->second.expires > now && cursors_.size() < max_cursors_ && ids_held_ + ids <= max_ids_) {
      return;
    }
    ids_held_ -= it->second.cursor->ids.size();
    cursors_.erase(it);
    by_age_.pop_front();
  }
}

std::uint64_t CursorCache::Add(std::shared_ptr<const TaskCursor> cursor) {
  CHECK(cursor != nullptr);
  const absl::Time now = now_();
  MutexLock lock(&mu_);
  MakeRoomLocked(now, cursor->ids.size());
  ids_held_ += cursor->ids.size();
  std::uint64_t key = 0;
  while (key == 0 || cursors_.contains(key)) key = absl::Uniform<std::uint64_t>(random_);
  cursors_.emplace(key, Stored{std::move(cursor), now + lifetime_});
  by_age_.push_back(key);
  return key;
}

std::shared_ptr<const TaskCursor> CursorCache::Find(std::uint64_t key) {
  const absl::Time now = now_();
  MutexLock lock(&mu_);
  auto it = cursors_.find(key);
  if (it == cursors_.end() || it->second.expires <= now) return nullptr;
  return it->second.cursor;
}

std::size_t CursorCache::size() const {
  MutexLock lock(&mu_);
  return cursors_.size();
}

std::size_t CursorCache::ids_held() const {
  MutexLock lock(&mu_);
  return ids_held_;
}

}  // namespace weft::control

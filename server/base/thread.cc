#include "weft/base/thread.h"

#include <limits.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "weft/base/log.h"

namespace weft::base {
namespace {

using Body = absl::AnyInvocable<void()>;

void* RunBody(void* arg) {
  const std::unique_ptr<Body> body(static_cast<Body*>(arg));
  (*body)();
  return nullptr;
}

// StackBytes rounds `requested` up to whole pages and to at least PTHREAD_STACK_MIN.
std::size_t StackBytes(std::size_t requested) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t bytes = std::max<std::size_t>(requested, PTHREAD_STACK_MIN);
  return (bytes + page - 1) / page * page;
}

}  // namespace

absl::StatusOr<Thread> Thread::Start(std::size_t stack_size, Body body) {
  pthread_attr_t attr;
  CHECK_EQ(::pthread_attr_init(&attr), 0);
  if (stack_size != 0) CHECK_EQ(::pthread_attr_setstacksize(&attr, StackBytes(stack_size)), 0);
  auto owned = std::make_unique<Body>(std::move(body));
  Thread thread;
  const int error = ::pthread_create(&thread.id_, &attr, &RunBody, owned.get());
  ::pthread_attr_destroy(&attr);
  if (error != 0) {
    const std::string message = absl::StrCat("cannot start a thread: ", std::strerror(error));
    if (error == EAGAIN || error == ENOMEM) return absl::ResourceExhaustedError(message);
    return absl::InternalError(message);
  }
  owned.release();  // RunBody owns it now.
  thread.joinable_ = true;
  return thread;
}

Thread::Thread(Thread&& other) noexcept
    : id_(other.id_), joinable_(std::exchange(other.joinable_, false)) {}

Thread& Thread::operator=(Thread&& other) noexcept {
  CHECK(!joinable_) << "a joinable thread was assigned to";
  id_ = other.id_;
  joinable_ = std::exchange(other.joinable_, false);
  return *this;
}

Thread::~Thread() { CHECK(!joinable_) << "a thread was destroyed without being joined"; }

void Thread::Join() {
  CHECK(joinable_);
  CHECK_EQ(::pthread_join(id_, nullptr), 0);
  joinable_ = false;
}

absl::Status UseBatchScheduling() {
  const sched_param param{};  // SCHED_BATCH has no static priority: 0.
  if (::sched_setscheduler(0, SCHED_BATCH, &param) != 0) {
    return absl::ErrnoToStatus(errno, "sched_setscheduler(SCHED_BATCH)");
  }
  return absl::OkStatus();
}

}  // namespace weft::base

#include "server/internal/fiber_poller.h"

#include <sys/eventfd.h>

#include "server/internal/acceptor.h"
#include "weft/base/sync.h"

namespace weft::internal {

FiberPoller::FiberPoller() {
  {
    MutexLock lock(&DescriptorReserveMutex());
    epoll_.Reset(::epoll_create1(EPOLL_CLOEXEC));
    wake_.Reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  }
  PCHECK(epoll_.valid()) << "epoll_create1 for a fiber scheduler";
  PCHECK(wake_.valid()) << "eventfd for a fiber scheduler";
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeToken;
  PCHECK(::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev) == 0);
}

}  // namespace weft::internal

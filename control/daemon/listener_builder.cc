#include "control/daemon/listener_builder.h"

#include <utility>

#include "control/daemon/config_loader.h"
#include "weft/fiber_task_manager.h"
#include "weft/pool_task_manager.h"
#include "weft/single_threaded_task_manager.h"
#include "weft/threaded_task_manager.h"

namespace weft::control {
namespace {

using config::v1::Listener;

std::size_t OrDefault(std::uint32_t value, std::size_t fallback) {
  return value == 0 ? fallback : value;
}

absl::StatusOr<TaskManagerPtr> BuildManager(const Listener& listener) {
  switch (listener.manager_case()) {
    case Listener::kPool:
      return std::make_unique<PoolTaskManager>(
          PoolTaskManagerOptions{.threads = OrDefault(listener.pool().threads(), 4),
                                 .max_queued = OrDefault(listener.pool().max_queued(), 1024)});
    case Listener::kSingle:
      return std::make_unique<SingleThreadedTaskManager>(SingleThreadedTaskManagerOptions{
          .max_queued = OrDefault(listener.single().max_queued(), 64)});
    case Listener::kThreaded: {
      const config::v1::ThreadedManager& threaded = listener.threaded();
      ThreadedTaskManagerOptions options;
      if (threaded.limit() != 0) options.limit = threaded.limit();
      options.max_queued = OrDefault(threaded.max_queued(), 1024);
      if (threaded.has_idle_threads()) options.idle_threads = threaded.idle_threads();
      absl::StatusOr<absl::Duration> idle_timeout =
          ParseConfigDuration(threaded.idle_thread_timeout(), options.idle_thread_timeout);
      if (!idle_timeout.ok()) return idle_timeout.status();
      options.idle_thread_timeout = *idle_timeout;
      return std::make_unique<ThreadedTaskManager>(options);
    }
    case Listener::kFiber: {
      const config::v1::FiberManager& fiber = listener.fiber();
      FiberTaskManagerOptions options;
      options.threads = fiber.threads();  // 0 = one per core, as in the options.
      if (fiber.stack_size() != 0) options.stack_size = fiber.stack_size();
      if (fiber.limit() != 0) options.limit = fiber.limit();
      options.max_queued = OrDefault(fiber.max_queued(), 1024);
      return std::make_unique<FiberTaskManager>(options);
    }
    case Listener::MANAGER_NOT_SET:
      break;
  }
  return std::make_unique<ThreadedTaskManager>();
}

}  // namespace

absl::StatusOr<ManagedServer> BuildListener(const Listener& listener,
                                            const HandlerRegistry& registry,
                                            std::shared_ptr<ServerObserver> observer,
                                            std::shared_ptr<DescriptorBudget> budget,
                                            InheritedSocket listen_socket) {
  HandlerArgs args(listener.handler().args().begin(), listener.handler().args().end());
  absl::StatusOr<Handler> handler = registry.Create(listener.handler().name(), args);
  if (!handler.ok()) return handler.status();
  absl::StatusOr<absl::Duration> idle =
      ParseConfigDuration(listener.idle_timeout(), absl::InfiniteDuration());
  absl::StatusOr<absl::Duration> lifetime =
      ParseConfigDuration(listener.max_lifetime(), absl::InfiniteDuration());
  absl::StatusOr<absl::Duration> drain =
      ParseConfigDuration(listener.drain_timeout(), kDefaultDrainTimeout);
  absl::StatusOr<absl::Duration> close_spread =
      ParseConfigDuration(listener.close_spread(), absl::ZeroDuration());
  for (const auto* d : {&idle, &lifetime, &drain, &close_spread}) {
    if (!d->ok()) return d->status();
  }

  ServerOptions options;
  options.address = listener.address().empty() ? "127.0.0.1" : listener.address();
  options.port = static_cast<std::uint16_t>(listener.port());
  options.listen_socket = std::move(listen_socket.fd);
  options.listen_socket_shared = listen_socket.shared;
  options.handler = std::move(*handler);
  absl::StatusOr<TaskManagerPtr> manager = BuildManager(listener);
  if (!manager.ok()) return manager.status();
  options.manager = *std::move(manager);
  if (listener.max_connections() != 0) options.max_connections = listener.max_connections();
  options.args = std::move(args);
  if (listener.backlog() != 0) options.backlog = static_cast<int>(listener.backlog());
  options.reuse_port = listener.reuse_port();
  options.limits.idle_timeout = *idle;
  options.limits.max_lifetime = *lifetime;
  options.stop_grace = *drain;
  options.observer = std::move(observer);
  options.descriptor_budget = std::move(budget);

  ManagedServer managed;
  managed.name = listener.name();
  managed.handler = listener.handler().name();
  managed.drain_timeout = *drain;
  managed.close_spread = *close_spread;
  managed.server = std::make_unique<weft::Server>(std::move(options));
  return managed;
}

}  // namespace weft::control

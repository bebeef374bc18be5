// weftd: the Weft daemon — runs the configured listeners and the gRPC control plane.
//
//   weftd [--config FILE] [--insecure] [--log-format text|json] [--takeover=PATH]
//   weftd --check-config FILE
//   weftd --print-default-config
//
// SIGTERM or SIGINT drains gracefully (health NOT_SERVING, stop accepting after
// control.drain_delay, wait for connections up to the drain timeout, stop, exit 0); a second
// signal stops at once. With --takeover=PATH, weftd takes the listening sockets of the weftd
// whose config has `handoff { path: PATH }` and lets it drain: control/daemon/handoff/. Under
// systemd, listeners take the sockets of socket activation named after them, and weftd reports
// READY=1 and STOPPING=1 (Type=notify): control/daemon/systemd.h.
#include <poll.h>
#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/logger.h>

#include "absl/debugging/symbolize.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "control/daemon/config_loader.h"
#include "control/daemon/daemon.h"
#include "control/daemon/handoff/daemon_handoff.h"
#include "control/daemon/handoff/takeover.h"
#include "control/daemon/json_log_formatter.h"
#include "control/daemon/systemd.h"
#include "weft/base/log.h"
#include "weft/base/signal_fd.h"
#include "weft/base/version.h"
#include "weft/descriptor_limit.h"

namespace {

constexpr char kUsage[] =
    "usage: weftd [--config FILE] [--insecure] [--log-format text|json] [--takeover=PATH]\n"
    "       weftd --check-config FILE\n"
    "       weftd --print-default-config\n"
    "       weftd --version\n"
    "\n"
    "Runs Weft listeners and the gRPC control plane. Without --config, runs the embedded\n"
    "default: an echo listener on 127.0.0.1:7007, the control plane on 127.0.0.1:7070 and the\n"
    "admin endpoint (metrics, status page) on http://127.0.0.1:7071.\n"
    "SIGTERM/SIGINT drain gracefully; a second signal stops at once.\n"
    "--takeover=PATH replaces the weftd whose config has handoff { path: PATH } without\n"
    "refusing a connection: this process takes its listening sockets, then it drains.\n";

struct Flags {
  std::string config;
  std::string check_config;
  bool print_default = false;
  bool version = false;
  bool insecure = false;
  std::string log_format;
  std::string takeover;
};

// ParseFlags returns false (after printing why) on a usage error; on --help or -h it prints
// the usage and exits 0.
bool ParseFlags(int argc, char** argv, Flags* flags) {
  CLI::App app;
  app.set_help_flag("-h,--help");
  app.allow_extras();  // Reported below in weftd's words.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--config", flags->config);
  app.add_option("--check-config", flags->check_config);
  app.add_flag("--print-default-config", flags->print_default);
  app.add_flag("--version", flags->version);
  app.add_flag("--insecure", flags->insecure);
  app.add_option("--takeover", flags->takeover);
  app.add_option("--log-format", flags->log_format)->check(CLI::IsMember({"text", "json"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << kUsage;
    std::exit(0);
  } catch (const CLI::ParseError& e) {
    std::cerr << "weftd: " << e.what() << "\n";
    return false;
  }
  if (const std::vector<std::string> extra = app.remaining(); !extra.empty()) {
    std::cerr << "weftd: unknown argument \"" << extra.front() << "\"\n";
    return false;
  }
  return true;
}

void SetUpLogging(const char* argv0, bool json) {
  absl::InitializeSymbolizer(argv0);  // For the stack a failed CHECK prints.
  if (json) {
    weft::base::WeftLogger().set_formatter(std::make_unique<weft::control::JsonLogFormatter>());
  }
}

// SetUpMutexes: Debian builds Abseil without NDEBUG, so by default every absl::Mutex lock in
// the process (Weft's and gRPC's) runs the lock-order deadlock detector: a process-wide spin
// lock and a graph update per acquisition (43 vs 18 ns uncontended on this machine, serialised
// across cores). A Release weftd turns it off; a Debug weftd (the test suite's) keeps it, so a
// lock-order inversion still aborts there.
void SetUpMutexes() {
#ifdef NDEBUG
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
}

// WaitForSignal blocks until a signal of `signals` arrives (returns its number) or `wake` is
// notified (returns 0). No timeout: nothing here wakes until one of them happens. Returns
// kPollFailed should poll itself fail (weftd can no longer hear signals).
constexpr int kPollFailed = -1;
int WaitForSignal(weft::SignalFd& signals, weft::WakeFd* wake) {
  pollfd fds[2] = {{.fd = signals.fd(), .events = POLLIN, .revents = 0},
                   {.fd = wake != nullptr ? wake->fd() : -1, .events = POLLIN, .revents = 0}};
  while (true) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      PLOG(ERROR) << "poll on the signal descriptor failed";
      return kPollFailed;
    }
    if ((fds[0].revents & POLLIN) != 0) {
      if (const int signal = signals.Read(); signal != 0) return signal;
    }
    if ((fds[1].revents & POLLIN) != 0) return 0;
  }
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) {
    std::cerr << kUsage;
    return 2;
  }
  if (flags.version) {
    std::cout << "weftd " << weft::kVersion << "\n";
    return 0;
  }
  if (flags.print_default) {
    std::cout << weft::control::DefaultConfigText();
    return 0;
  }
  const weft::HandlerRegistry registry = weft::BuiltinHandlers();
  const weft::control::ConfigOverrides overrides{.allow_insecure = flags.insecure};
  if (!flags.check_config.empty()) {
    absl::StatusOr<weft::config::v1::Config> config =
        weft::control::LoadConfigFile(flags.check_config, registry, overrides);
    if (!config.ok()) {
      std::cerr << config.status().message() << "\n";
      return 1;
    }
    std::cout << flags.check_config << ": OK (" << config->listeners_size() << " listeners)\n";
    return 0;
  }
  absl::StatusOr<weft::config::v1::Config> config =
      flags.config.empty()
          ? weft::control::ParseConfig(weft::control::DefaultConfigText(), "<default config>",
                                       registry, overrides)
          : weft::control::LoadConfigFile(flags.config, registry, overrides);
  if (!config.ok()) {
    std::cerr << config.status().message() << "\n";
    return 1;
  }
  const bool json = flags.log_format.empty()
                        ? config->log_format() == weft::config::v1::LOG_FORMAT_JSON
                        : flags.log_format == "json";
  SetUpLogging(argv[0], json);
  SetUpMutexes();

  // Every connection holds descriptors: take all the hard limit allows, and say what it is.
  if (const absl::StatusOr<weft::DescriptorLimit> limit = weft::RaiseDescriptorLimit();
      !limit.ok()) {
    LOG(WARNING) << "could not raise the descriptor limit: " << limit.status();
  } else if (limit->now != limit->before) {
    LOG(INFO) << "descriptor limit raised from " << limit->before << " to " << limit->now
              << " (hard limit " << limit->hard << ")";
  } else {
    LOG(INFO) << "descriptor limit " << limit->now << " (hard limit " << limit->hard << ")";
  }

  // A peer that goes away makes a write fail with EPIPE, never kill the process: the admin
  // endpoint's HTTP library writes without MSG_NOSIGNAL (and OpenSSL's writes cannot pass it).
  // (httplib's Server constructor ignores SIGPIPE process-wide as well; weftd does not rely on
  // that side effect.)
  ::signal(SIGPIPE, SIG_IGN);

  // Signals are read from a descriptor by this thread; every thread started later inherits the
  // blocked mask, so none of them is interrupted.
  weft::SignalFd signals({SIGINT, SIGTERM});
  // The drainer wakes the main thread through `drained`: made now, not when descriptors may be
  // short (a shutdown under load), so that a finished drain can never go unnoticed.
  weft::WakeFd drained;
  if (signals.fd() < 0 || drained.fd() < 0) {
    PLOG(ERROR) << "signalfd/eventfd";
    std::cerr << "weftd: cannot take SIGTERM and SIGINT through a signalfd and an eventfd\n";
    return 1;
  }

  const auto fail = [](const absl::Status& status) {
    LOG(ERROR) << status;
    std::cerr << "weftd: " << status.message() << "\n";
    return 1;
  };
  absl::StatusOr<weft::control::InheritedSockets> inherited =
      weft::control::TakeActivatedSockets(*config);
  if (!inherited.ok()) return fail(inherited.status());
  std::unique_ptr<weft::control::Takeover> takeover;
  if (!flags.takeover.empty()) {
    if (!inherited->listeners.empty()) {
      return fail(absl::FailedPreconditionError(
          "--takeover under socket activation: systemd passes the sockets already"));
    }
    absl::StatusOr<std::unique_ptr<weft::control::Takeover>> begun =
        weft::control::Takeover::Begin(flags.takeover, weft::control::kTakeoverTimeout);
    if (!begun.ok()) return fail(begun.status());
    takeover = std::move(*begun);
    LOG(INFO) << "takeover: pid " << takeover->predecessor() << " (generation "
              << takeover->offer().generation() << ") offers " << takeover->offer().sockets_size()
              << " listening sockets";
    *inherited = takeover->Adopt(*config);
  }
  absl::StatusOr<std::unique_ptr<weft::control::Daemon>> daemon =
      weft::control::Daemon::Create(*config, registry, std::move(*inherited));
  if (!daemon.ok()) return fail(daemon.status());
  if (takeover != nullptr) {
    (*daemon)->process_info().set_generation(takeover->offer().generation() + 1);
  }
  if (absl::Status status = (*daemon)->Start(); !status.ok()) return fail(status);
  weft::WakeFd handed_off;
  absl::StatusOr<std::unique_ptr<weft::control::HandoffServer>> handoff =
      takeover != nullptr
          ? weft::control::FinishTakeover(*takeover, *config, daemon->get(), &handed_off)
          : weft::control::StartHandoffServer(*config, daemon->get(), &handed_off);
  if (!handoff.ok()) return fail(handoff.status());
  std::optional<weft::control::PredecessorWatch> predecessor;
  if (takeover != nullptr) predecessor.emplace(takeover.get(), &(*daemon)->process_info());
  std::vector<std::string> listeners;
  for (const weft::control::ManagedServer* server : (*daemon)->servers().All()) {
    listeners.push_back(absl::StrCat(server->name, "=", server->server->port()));
  }
  // One machine-readable line on stdout once everything listens (tests and scripts wait on it).
  std::cout << "weftd ready control_port=" << (*daemon)->control_port()
            << " admin_port=" << (*daemon)->admin_port()
            << " listeners=" << absl::StrJoin(listeners, ",") << std::endl;
  LOG(INFO) << "weftd ready; listeners: " << absl::StrJoin(listeners, ", ");
  weft::control::NotifyReady(absl::StrCat("serving; listeners ", absl::StrJoin(listeners, ", ")));

  int signal = WaitForSignal(signals, &handed_off);
  // The hand-off server calls into the daemon: no takeover from here on.
  if (*handoff != nullptr) (*handoff)->Stop();
  if (signal == kPollFailed) signal = SIGTERM;  // Deaf to signals: drain and stop now.
  const weft::control::Daemon::DrainCause cause =
      signal == 0 ? weft::control::Daemon::DrainCause::kHandedOff
                  : weft::control::Daemon::DrainCause::kSignal;
  if (signal != 0) {
    LOG(INFO) << "received " << strsignal(signal) << "; draining (send again to stop at once)";
  }
  weft::control::NotifyStopping();
  std::thread drainer([&] {
    (*daemon)->Drain(cause);
    drained.Notify();
  });
  // kPollFailed: no second signal can be heard; the drain runs to its end.
  if (WaitForSignal(signals, &drained) > 0) {
    LOG(WARNING) << "second signal: stopping at once";
    (*daemon)->AbortDrain();
  }
  drainer.join();
  (*daemon)->Stop();
  LOG(INFO) << "weftd stopped";
  return 0;
}

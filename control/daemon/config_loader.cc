#include "control/daemon/config_loader.h"

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "control/unix_socket.h"
#include "weft/base/address.h"

namespace weft::control {
namespace {

using config::v1::Config;
using config::v1::Listener;
using google::protobuf::FieldDescriptor;
using google::protobuf::TextFormat;

constexpr char kDefaultConfig[] = R"pb(# weftd's embedded default configuration (weftd --print-default-config).
# Protobuf text format; schema: proto/weft/config/v1/config.proto.

control {
  # The gRPC control plane; loopback only. Add `tokens` and `tls` before exposing it.
  address: "127.0.0.1:7070"
}

admin {
  # Metrics (/metrics), the status page (/status), the JSON API and probes, over HTTP.
  address: "127.0.0.1:7071"
}

listeners {
  name: "echo"
  address: "127.0.0.1"
  port: 7007
  handler { name: "echo" }
  threaded { limit: 0 }  # A thread per connection, no limit.
  idle_timeout: "5m"
  drain_timeout: "30s"
}
)pb";

constexpr std::size_t kMaxConfigBytes = 1 << 20;
constexpr std::uint32_t kMaxAdminConnections = 1024;
constexpr std::uint32_t kMaxLimit = 1'000'000;
constexpr std::uint32_t kMaxPoolThreads = 4096;
constexpr std::uint32_t kMaxFiberThreads = 1024;
constexpr std::uint64_t kMinFiberStack = 16 * 1024;
constexpr std::uint64_t kMaxFiberStack = 64 * 1024 * 1024;
constexpr std::size_t kMaxCallerName = 64;

// IsValidCallerName: a token's name (Token.name) goes into every audit record of its caller.
bool IsValidCallerName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxCallerName) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '@' || c == '-';
  });
}

// Collects syntax errors with their positions.
class ErrorCollector final : public google::protobuf::io::ErrorCollector {
 public:
  explicit ErrorCollector(std::vector<std::string>* errors, absl::string_view source)
      : errors_(errors), source_(source) {}
  void AddError(int line, int column, const std::string& message) override {
    errors_->push_back(absl::StrCat(source_, ":", line + 1, ":", column + 1, ": ", message));
  }
  void AddWarning(int line, int column, const std::string& message) override {
    AddError(line, column, message);
  }

 private:
  std::vector<std::string>* const errors_;
  const std::string source_;
};

// Validator: semantic checks, each error located through the parser's info tree.
class Validator {
 public:
  Validator(const Config& config, const TextFormat::ParseInfoTree& tree, absl::string_view source,
            const HandlerRegistry& registry)
      : config_(config), tree_(tree), source_(source), registry_(registry) {}

  std::vector<std::string> Run() {
    CheckControl();
    CheckAdmin();
    CheckHandoff();
    CheckAudit();
    std::set<std::string> names;
    std::set<std::string> endpoints;
    for (int i = 0; i < config_.listeners_size(); ++i) CheckListener(i, &names, &endpoints);
    return std::move(errors_);
  }

 private:
  // Error records a problem at `field` of the message that `tree` describes (index for
  // repeated fields; -1 otherwise).
  void Error(const TextFormat::ParseInfoTree* tree, const google::protobuf::Descriptor* type,
             const char* field, int index, const std::string& path, const std::string& message) {
    std::string where = std::string(source_);
    const FieldDescriptor* fd = type->FindFieldByName(field);
    if (tree != nullptr && fd != nullptr) {
      const auto location = tree->GetLocation(fd, index);
      if (location.line >= 0) where = absl::StrCat(where, ":", location.line + 1, ":",
                                                   location.column + 1);
    }
    errors_.push_back(absl::StrCat(where, ": ", path, ": ", message));
  }

  const TextFormat::ParseInfoTree* Nested(const TextFormat::ParseInfoTree* tree,
                                          const google::protobuf::Descriptor* type,
                                          const char* field, int index) {
    if (tree == nullptr) return nullptr;
    const FieldDescriptor* fd = type->FindFieldByName(field);
    return fd == nullptr ? nullptr : tree->GetTreeForNested(fd, index);
  }

  void CheckControl() {
    const auto* type = Config::descriptor();
    const config::v1::Control& control = config_.control();
    const auto* tree = Nested(&tree_, type, "control", -1);
    const auto* ctype = config::v1::Control::descriptor();
    const std::string address = control.address().empty() ? "127.0.0.1:7070" : control.address();
    if (absl::StatusOr<Address> parsed = ParseAddress(address, {.allow_port_zero = true});
        !parsed.ok()) {
      Error(tree, ctype, "address", -1, "control.address",
            absl::StrCat("must be HOST:PORT or unix:/path, e.g. \"127.0.0.1:7070\" (",
                         parsed.status().message(), ")"));
    }
    const bool has_tls = control.has_tls();
    if (has_tls) {
      const auto* tls_tree = Nested(tree, ctype, "tls", -1);
      const auto* ttype = config::v1::Tls::descriptor();
      if (control.tls().cert_file().empty()) {
        Error(tls_tree, ttype, "cert_file", -1, "control.tls.cert_file", "is required with tls");
      }
      if (control.tls().key_file().empty()) {
        Error(tls_tree, ttype, "key_file", -1, "control.tls.key_file", "is required with tls");
      }
    }
    for (int i = 0; i < control.tokens_size(); ++i) {
      const auto* token_tree = Nested(tree, ctype, "tokens", i);
      const auto* ttype = config::v1::Token::descriptor();
      const std::string path = absl::StrCat("control.tokens[", i, "]");
      if (control.tokens(i).role() == config::v1::ROLE_UNSPECIFIED) {
        Error(token_tree, ttype, "role", -1, path + ".role",
              "is required (ROLE_VIEWER or ROLE_OPERATOR)");
      }
      if (control.tokens(i).token_file().empty()) {
        Error(token_tree, ttype, "token_file", -1, path + ".token_file", "is required");
      }
      if (const std::string& name = control.tokens(i).name();
          !name.empty() && !IsValidCallerName(name)) {
        Error(token_tree, ttype, "name", -1, path + ".name",
              "must be 1-64 bytes of letters, digits and \"._@-\"");
      }
    }
    if (absl::StatusOr<absl::Duration> delay =
            ParseConfigDuration(control.drain_delay(), absl::ZeroDuration());
        !delay.ok()) {
      Error(tree, ctype, "drain_delay", -1, "control.drain_delay",
            std::string(delay.status().message()));
    }
    if (config_.descriptors().reserve() > (1u << 24)) {
      Error(&tree_, Config::descriptor(), "descriptors", -1, "descriptors.reserve",
            "must be at most 16777216");
    }
    if (control.max_connections() > 65536) {
      Error(tree, ctype, "max_connections", -1, "control.max_connections",
            "must be at most 65536");
    }
    absl::StatusOr<absl::Duration> handshake =
        ParseConfigDuration(control.handshake_timeout(), absl::Seconds(5));
    if (!handshake.ok()) {
      Error(tree, ctype, "handshake_timeout", -1, "control.handshake_timeout",
            std::string(handshake.status().message()));
    } else if (*handshake < absl::Milliseconds(100) || *handshake > absl::Minutes(5)) {
      Error(tree, ctype, "handshake_timeout", -1, "control.handshake_timeout",
            "must be between 100ms and 5m");
    }
    const bool authenticated =
        control.tokens_size() > 0 || (has_tls && !control.tls().client_ca_file().empty());
    if (!IsLoopbackAddress(address) && !authenticated && !control.allow_insecure()) {
      Error(tree, ctype, "address", -1, "control.address",
            absl::StrCat("\"", address, "\" is not a loopback address and no tokens or client "
                         "certificates are configured: anyone who can reach it could stop "
                         "your servers. Add tokens (and tls), or set allow_insecure: true"));
    }
  }

  void CheckAudit() {
    if (!config_.has_audit()) return;
    const std::string& path = config_.audit().path();
    const auto* tree = Nested(&tree_, Config::descriptor(), "audit", -1);
    const auto* atype = config::v1::Audit::descriptor();
    if (path.empty()) {
      Error(tree, atype, "path", -1, "audit.path",
            "is required in an audit block, e.g. \"/var/log/weft/audit.jsonl\"");
    } else if (path.front() != '/') {
      Error(tree, atype, "path", -1, "audit.path",
            absl::StrCat("\"", absl::CHexEscape(path), "\" is not an absolute path"));
    } else if (path.back() == '/') {
      Error(tree, atype, "path", -1, "audit.path",
            absl::StrCat("\"", absl::CHexEscape(path), "\" names a directory, not a file"));
    }
  }

  void CheckHandoff() {
    if (!config_.has_handoff()) return;
    const std::string& path = config_.handoff().path();
    const auto* tree = Nested(&tree_, Config::descriptor(), "handoff", -1);
    const auto* htype = config::v1::Handoff::descriptor();
    if (path.empty() || path.front() != '/') {
      Error(tree, htype, "path", -1, "handoff.path",
            "must be an absolute path for the hand-off unix socket, e.g. "
            "\"/run/weft/handoff.sock\"");
    } else if (absl::StatusOr<sockaddr_un> fits = UnixSocketAddress(path); !fits.ok()) {
      Error(tree, htype, "path", -1, "handoff.path", std::string(fits.status().message()));
    }
  }

  void CheckAdmin() {
    if (!config_.has_admin()) return;
    const config::v1::Admin& admin = config_.admin();
    const config::v1::Control& control = config_.control();
    const auto* tree = Nested(&tree_, Config::descriptor(), "admin", -1);
    const auto* atype = config::v1::Admin::descriptor();
    if (absl::StatusOr<Address> parsed = ParseAddress(admin.address(), {.allow_port_zero = true});
        !parsed.ok() || parsed->kind != Address::Kind::kTcp) {
      Error(tree, atype, "address", -1, "admin.address",
            absl::StrCat("must be HOST:PORT, e.g. \"127.0.0.1:7071\"",
                         parsed.ok() ? " (not a unix socket)"
                                     : absl::StrCat(" (", parsed.status().message(), ")")));
    } else {
      const bool authenticated = control.tokens_size() > 0 ||
                                 (control.has_tls() && !control.tls().client_ca_file().empty());
      if (!parsed->loopback && !authenticated && !control.allow_insecure()) {
        Error(tree, atype, "address", -1, "admin.address",
              absl::StrCat("\"", admin.address(), "\" is not a loopback address and no tokens or "
                           "client certificates are configured (the admin endpoint shares the "
                           "control plane's auth). Add control tokens (and tls), or set "
                           "control.allow_insecure: true"));
      }
    }
    if (admin.max_connections() > kMaxAdminConnections) {
      Error(tree, atype, "max_connections", -1, "admin.max_connections",
            absl::StrCat("must be at most ", kMaxAdminConnections));
    }
  }

  void CheckListener(int i, std::set<std::string>* names, std::set<std::string>* endpoints) {
    const Listener& listener = config_.listeners(i);
    const auto* tree = Nested(&tree_, Config::descriptor(), "listeners", i);
    const auto* type = Listener::descriptor();
    const std::string path = absl::StrCat("listeners[", i, "]");
    auto error = [&](const char* field, const std::string& message) {
      Error(tree, type, field, -1, absl::StrCat(path, ".", field), message);
    };

    const std::string& name = listener.name();
    if (name.empty() || name.size() > 63 ||
        !std::all_of(name.begin(), name.end(), [](char c) {
          return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-';
        })) {
      error("name", absl::StrCat("\"", absl::CHexEscape(name),
                                 "\" is not a valid name: use 1-63 of [a-z0-9-]"));
    } else if (!names->insert(name).second) {
      error("name", absl::StrCat("duplicate listener name \"", name, "\""));
    }
    if (listener.port() > 65535) {
      error("port", absl::StrCat(listener.port(), " is not a TCP port (0-65535)"));
    } else if (listener.port() != 0) {
      const std::string address = listener.address().empty() ? "127.0.0.1" : listener.address();
      const std::string endpoint = absl::StrCat(address, ":", listener.port());
      if (!endpoints->insert(endpoint).second) {
        error("port", absl::StrCat("another listener already uses ", endpoint));
      }
    }
    if (!listener.has_handler() || listener.handler().name().empty()) {
      error("handler", absl::StrCat("is required; known handlers: ",
                                    absl::StrJoin(registry_.Names(), ", ")));
    } else {
      const HandlerArgs args(listener.handler().args().begin(), listener.handler().args().end());
      if (absl::StatusOr<Handler> handler = registry_.Create(listener.handler().name(), args);
          !handler.ok()) {
        error("handler", std::string(handler.status().message()));
      }
    }
    for (const char* field : {"idle_timeout", "max_lifetime", "drain_timeout", "close_spread"}) {
      const FieldDescriptor* fd = type->FindFieldByName(field);
      const std::string& text = listener.GetReflection()->GetString(listener, fd);
      if (absl::StatusOr<absl::Duration> d = ParseConfigDuration(text, absl::ZeroDuration());
          !d.ok()) {
        error(field, std::string(d.status().message()));
      }
    }
    const absl::StatusOr<absl::Duration> drain =
        ParseConfigDuration(listener.drain_timeout(), kDefaultDrainTimeout);
    const absl::StatusOr<absl::Duration> spread =
        ParseConfigDuration(listener.close_spread(), absl::ZeroDuration());
    if (drain.ok() && spread.ok() && *spread > *drain) {
      error("close_spread",
            absl::StrCat("\"", listener.close_spread(), "\" must not exceed drain_timeout (",
                         absl::FormatDuration(*drain),
                         "): the drain closes whatever is still open when drain_timeout ends; "
                         "shorten close_spread or lengthen drain_timeout"));
    }
    switch (listener.manager_case()) {
      case Listener::kThreaded:
        if (listener.threaded().limit() > kMaxLimit) {
          error("threaded", absl::StrCat("limit must be at most ", kMaxLimit));
        }
        if (listener.threaded().idle_threads() > kMaxPoolThreads) {
          error("threaded", absl::StrCat("idle_threads must be at most ", kMaxPoolThreads));
        }
        if (absl::StatusOr<absl::Duration> d = ParseConfigDuration(
                listener.threaded().idle_thread_timeout(), absl::ZeroDuration());
            !d.ok()) {
          error("threaded.idle_thread_timeout", std::string(d.status().message()));
        }
        break;
      case Listener::kPool:
        if (listener.pool().threads() > kMaxPoolThreads) {
          error("pool", absl::StrCat("threads must be at most ", kMaxPoolThreads));
        }
        break;
      case Listener::kFiber: {
        const config::v1::FiberManager& fiber = listener.fiber();
        if (fiber.threads() > kMaxFiberThreads) {
          error("fiber", absl::StrCat("threads must be at most ", kMaxFiberThreads));
        }
        if (fiber.stack_size() != 0 &&
            (fiber.stack_size() < kMinFiberStack || fiber.stack_size() > kMaxFiberStack)) {
          error("fiber", absl::StrCat("stack_size must be between ", kMinFiberStack, " and ",
                                      kMaxFiberStack, " bytes"));
        }
        if (fiber.limit() > kMaxLimit) {
          error("fiber", absl::StrCat("limit must be at most ", kMaxLimit));
        }
        break;
      }
      default:
        break;
    }
    if (listener.max_connections() > kMaxLimit) {
      error("max_connections", absl::StrCat("must be at most ", kMaxLimit));
    }
    if (listener.backlog() > 65535) error("backlog", "must be at most 65535");
  }

  const Config& config_;
  const TextFormat::ParseInfoTree& tree_;
  const absl::string_view source_;
  const HandlerRegistry& registry_;
  std::vector<std::string> errors_;
};

}  // namespace

absl::string_view DefaultConfigText() { return kDefaultConfig; }

absl::StatusOr<absl::Duration> ParseConfigDuration(absl::string_view text,
                                                   absl::Duration fallback) {
  if (text.empty()) return fallback;
  absl::Duration duration;
  if (!absl::ParseDuration(text, &duration) ||
      duration == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", absl::CHexEscape(text),
        "\" is not a duration (use e.g. \"500ms\", \"30s\", \"5m\")"));
  }
  if (duration < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("a duration must not be negative");
  }
  return duration;
}

absl::StatusOr<Config> ParseConfig(absl::string_view text, absl::string_view source,
                                   const HandlerRegistry& registry,
                                   const ConfigOverrides& overrides) {
  if (text.size() > kMaxConfigBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": configuration larger than ", kMaxConfigBytes, " bytes"));
  }
  std::vector<std::string> errors;
  ErrorCollector collector(&errors, source);
  TextFormat::Parser parser;
  TextFormat::ParseInfoTree tree;
  parser.RecordErrorsTo(&collector);
  parser.WriteLocationsTo(&tree);
  Config config;
  if (!parser.ParseFromString(std::string(text), &config)) {
    if (errors.empty()) errors.push_back(absl::StrCat(source, ": cannot parse configuration"));
    return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  }
  if (overrides.allow_insecure) config.mutable_control()->set_allow_insecure(true);
  errors = Validator(config, tree, source, registry).Run();
  if (!errors.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  return config;
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path, const HandlerRegistry& registry,
                                      const ConfigOverrides& overrides) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return absl::Status(absl::ErrnoToStatusCode(err),
                        absl::StrCat("cannot read config file ", path, ": ", std::strerror(err)));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return ParseConfig(contents.str(), path, registry, overrides);
}

}  // namespace weft::control

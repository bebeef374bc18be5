// Authenticator: bearer-token authentication and role-based authorization for the control
// plane (roles viewer and operator, see control.proto's service comment).
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/string_ref.h"

namespace weft::control {

// Role: what a caller may do. Ordered: an operator may do everything a viewer may.
enum class Role { kViewer = 1, kOperator = 2 };

// RoleName returns "viewer" or "operator".
std::string_view RoleName(Role role);

// TokenSource: one bearer token to load: the file holding it, the role it grants and the name
// its caller goes by in audit records.
struct TokenSource {
  Role role = Role::kViewer;
  std::string token_file{};
  // Empty = the file name of token_file (without its directory).
  std::string name{};
};

// Caller: who a call comes from, as its bearer token says. `name` is empty when no tokens are
// configured (everyone is an operator then). Never holds the token itself.
struct Caller {
  std::string name;
  Role role = Role::kViewer;
};

// Authenticator maps the bearer token of a gRPC call to a Role. Immutable after construction;
// thread-safe: every method may be called concurrently from any thread.
class Authenticator {
 public:
  // kMaxTokenBytes: the longest token Load accepts.
  static constexpr std::size_t kMaxTokenBytes = 4096;
  // kMaxHeaderBytes: a longer "authorization" header is refused without being parsed.
  static constexpr std::size_t kMaxHeaderBytes = 8192;

  // Load reads the token of every source; surrounding whitespace in a file is ignored. With no
  // sources the result is open, like Open(). Errors name the file, never the token:
  //   NOT_FOUND          a file does not exist;
  //   PERMISSION_DENIED  a file cannot be read, or is readable or writable by group or others
  //                      (refused like ssh refuses such keys: chmod 600 it);
  //   INVALID_ARGUMENT   a token is empty, longer than kMaxTokenBytes, or has a byte outside
  //                      printable ASCII without space (0x21-0x7e); a file is not a regular
  //                      file; a source has an empty token_file;
  //   ALREADY_EXISTS     two files hold the same token.
  // Other I/O errors map from errno. Thread-safe; blocks on file I/O.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Authenticator>> Load(
      const std::vector<TokenSource>& sources);

  // Open returns an authenticator without tokens: every caller is an operator.
  static std::unique_ptr<Authenticator> Open();

  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;
  ~Authenticator();

  // enabled is true when tokens are configured, i.e. callers must authenticate.
  bool enabled() const;

  // Authenticate returns the role of the caller whose request metadata is `client_metadata`
  // (grpc::ServerContextBase::client_metadata()). Without tokens configured it returns
  // kOperator whatever the metadata. Otherwise it expects exactly one "authorization" entry of
  // the form "Bearer <token>" (scheme case-insensitive, surrounding whitespace ignored) and
  // returns UNAUTHENTICATED when it is missing, repeated, larger than kMaxHeaderBytes (refused
  // before any copy), of another scheme, or holds no configured token. The token is compared
  // with every configured token in time that depends on neither token's contents nor on the
  // configured tokens' lengths. No message contains the presented token.
  [[nodiscard]] absl::StatusOr<Role> Authenticate(
      const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata) const;

  // Identify is Authenticate that also names the caller: the name of the token it presented
  // (TokenSource::name). Same errors, same timing.
  [[nodiscard]] absl::StatusOr<Caller> Identify(
      const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata) const;

  // Authorize authenticates the caller (see Authenticate) and returns PERMISSION_DENIED, e.g.
  // "role viewer may not call StopServer (requires operator)", when its role is below
  // `required`. `method` names the called method in that message.
  [[nodiscard]] absl::Status Authorize(
      const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata, Role required,
      std::string_view method) const;

  // Authorize for a server call: Authorize(context.client_metadata(), required, method). Works
  // with grpc::ServerContext and grpc::CallbackServerContext.
  [[nodiscard]] absl::Status Authorize(const grpc::ServerContextBase& context, Role required,
                                       std::string_view method) const;

 private:
  struct Token;
  explicit Authenticator(std::vector<Token> tokens);

  // MatchToken returns the configured token equal to `presented`, or nullptr.
  const Token* MatchToken(absl::string_view presented) const;

  const std::vector<Token> tokens_;
};

namespace internal {

// FileAccess: which permission bits ReadSmallFile tolerates.
enum class FileAccess {
  kAny,
  // Refuse a file readable or writable by group or others (PERMISSION_DENIED).
  kOwnerOnly,
};

// ReadSmallFile returns the contents of the regular file `path`. Internal to the control
// plane's credential loading (tokens, PEM files); shared here so there is one file reader.
// Errors name the file: NOT_FOUND, PERMISSION_DENIED (unreadable, or see `access`),
// INVALID_ARGUMENT (not a regular file, or larger than `max_bytes`); others map from errno.
// Thread-safe; blocks on file I/O.
[[nodiscard]] absl::StatusOr<std::string> ReadSmallFile(const std::string& path,
                                                        std::size_t max_bytes, FileAccess access);

}  // namespace internal
}  // namespace weft::control

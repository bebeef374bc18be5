#include "control/auth.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "weft/base/log.h"

namespace weft::control {
namespace {

// The largest token file Load reads: a token and the whitespace around it.
constexpr std::size_t kMaxTokenFileBytes = 64 * 1024;

// AbslView: this Abseil's string_view is its own type, not std::string_view.
absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status FileError(int error_number, absl::string_view what, const std::string& path) {
  // absl maps ENOTDIR (a path component is a file) to FAILED_PRECONDITION; for a configured
  // path it simply means the file is not there.
  absl::StatusCode code =
      error_number == ENOTDIR ? absl::StatusCode::kNotFound : absl::ErrnoToStatusCode(error_number);
  return absl::Status(code,
                      absl::ErrnoToStatus(error_number, absl::StrCat(what, " ", path)).message());
}

// Fd closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// OctalMode formats permission bits the way chmod takes them, e.g. "0644".
std::string OctalMode(mode_t mode) {
  char digits[8];
  char* end = std::to_chars(digits, digits + sizeof digits, mode & 07777, 8).ptr;
  std::string octal(digits, end);
  return std::string(4 - std::min<std::size_t>(octal.size(), 4), '0') + octal;
}

bool IsValidTokenByte(char c) { return c >= 0x21 && c <= 0x7e; }

}  // namespace

namespace internal {

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, std::size_t max_bytes,
                                          FileAccess access) {
  // O_NONBLOCK: opening a FIFO by mistake must not hang the caller; no effect on regular files.
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) return FileError(errno, "cannot open", path);
  // fstat the open file, not the path, so the checks apply to what is read.
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return FileError(errno, "cannot stat", path);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a regular file"));
  }
  constexpr mode_t kGroupOrOthers = S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH;
  if (access == FileAccess::kOwnerOnly && (st.st_mode & kGroupOrOthers) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        path, " is readable or writable by group or others (mode ", OctalMode(st.st_mode),
        "); it holds a secret, so it must be accessible by its owner only: chmod 600 ", path));
  }
  std::string contents;
  char buffer[4096];
  for (;;) {
    ssize_t n = read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return FileError(errno, "cannot read", path);
    }
    if (n == 0) break;
    if (contents.size() + static_cast<std::size_t>(n) > max_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " is larger than ", max_bytes, " bytes"));
    }
    contents.append(buffer, static_cast<std::size_t>(n));
  }
  return contents;
}

}  // namespace internal

std::string_view RoleName(Role role) {
  if (role == Role::kViewer) return "viewer";
  CHECK(role == Role::kOperator) << "invalid Role " << static_cast<int>(role);
  return "operator";
}

// Token: one configured token, zero-padded to kMaxTokenBytes so that comparing it never
// depends on its length.
struct Authenticator::Token {
  std::array<unsigned char, kMaxTokenBytes> bytes{};
  std::size_t size = 0;
  Role role = Role::kViewer;
  std::string name;
};

Authenticator::Authenticator(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

Authenticator::~Authenticator() = default;

bool Authenticator::enabled() const { return !tokens_.empty(); }

std::unique_ptr<Authenticator> Authenticator::Open() {
  return std::unique_ptr<Authenticator>(new Authenticator({}));
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Load(
    const std::vector<TokenSource>& sources) {
  std::vector<Token> tokens;
  tokens.reserve(sources.size());
  for (std::size_t i = 0; i < sources.size(); ++i) {
    const TokenSource& source = sources[i];
    const std::string& path = source.token_file;
    if (path.empty()) return absl::InvalidArgumentError("a token has no token_file");
    if (source.role != Role::kViewer && source.role != Role::kOperator) {
      return absl::InvalidArgumentError(absl::StrCat("the token in ", path, " has no valid role"));
    }
    absl::StatusOr<std::string> contents =
        internal::ReadSmallFile(path, kMaxTokenFileBytes, internal::FileAccess::kOwnerOnly);
    if (!contents.ok()) return contents.status();
    absl::string_view token = absl::StripAsciiWhitespace(*contents);
    if (token.empty()) return absl::InvalidArgumentError(absl::StrCat(path, " holds no token"));
    if (token.size() > kMaxTokenBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("the token in ", path, " is longer than ", kMaxTokenBytes, " bytes"));
    }
    for (char c : token) {
      if (!IsValidTokenByte(c)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the token in ", path, " contains a byte outside printable ASCII (0x21-0x7e)"));
      }
    }
    for (std::size_t j = 0; j < tokens.size(); ++j) {
      // Loading is not exposed to callers, so this comparison need not be constant-time.
      absl::string_view other(reinterpret_cast<const char*>(tokens[j].bytes.data()),
                              tokens[j].size);
      if (other == token) {
        return absl::AlreadyExistsError(absl::StrCat(
            "the token in ", path, " is the same as the token in ", sources[j].token_file));
      }
    }
    Token& added = tokens.emplace_back();
    std::copy(token.begin(), token.end(), added.bytes.begin());
    added.size = token.size();
    added.role = source.role;
    added.name = source.name.empty() ? std::filesystem::path(path).filename().string() : source.name;
  }
  return std::unique_ptr<Authenticator>(new Authenticator(std::move(tokens)));
}

const Authenticator::Token* Authenticator::MatchToken(absl::string_view presented) const {
  // No configured token is longer; the bound is public, so refusing early reveals nothing.
  if (presented.size() > kMaxTokenBytes) return nullptr;
  // Every configured token is compared over all kMaxTokenBytes without an early exit, so the
  // time taken depends only on the number of tokens and on nothing secret. Tokens are unique:
  // at most one matches; `matched` is its index plus one.
  std::size_t matched = 0;
  for (std::size_t t = 0; t < tokens_.size(); ++t) {
    const Token& token = tokens_[t];
    std::uint64_t diff = presented.size() ^ token.size;
    for (std::size_t i = 0; i < kMaxTokenBytes; ++i) {
      // Branches only on the presented length, which the caller knows anyway.
      unsigned char byte = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
      diff |= byte ^ token.bytes[i];
    }
    // diff is small, so diff - 1 wraps to set the top bit exactly when diff == 0.
    const std::size_t equal = static_cast<std::size_t>((diff - 1) >> 63);
    matched |= (std::size_t{0} - equal) & (t + 1);
  }
  if (matched == 0) return nullptr;
  return &tokens_[matched - 1];
}

absl::StatusOr<Role> Authenticator::Authenticate(
    const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata) const {
  absl::StatusOr<Caller> caller = Identify(client_metadata);
  if (!caller.ok()) return caller.status();
  return caller->role;
}

absl::StatusOr<Caller> Authenticator::Identify(
    const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata) const {
  if (!enabled()) return Caller{.name = "", .role = Role::kOperator};
  auto [first, last] = client_metadata.equal_range("authorization");
  if (first == last) {
    return absl::UnauthenticatedError(
        "missing authorization metadata; expected \"Bearer <token>\"");
  }
  if (std::next(first) != last) {
    return absl::UnauthenticatedError("more than one authorization metadata entry");
  }
  if (first->second.size() > kMaxHeaderBytes) {
    return absl::UnauthenticatedError(
        absl::StrCat("authorization metadata is longer than ", kMaxHeaderBytes, " bytes"));
  }
  absl::string_view header =
      absl::StripAsciiWhitespace(absl::string_view(first->second.data(), first->second.size()));
  // The messages below never quote the header: without a scheme, its first word is the token.
  std::size_t scheme_end = std::min(header.find_first_of(" \t"), header.size());
  if (!absl::EqualsIgnoreCase(header.substr(0, scheme_end), "bearer")) {
    return absl::UnauthenticatedError(
        "authorization metadata is not of the form \"Bearer <token>\"");
  }
  absl::string_view token = absl::StripLeadingAsciiWhitespace(header.substr(scheme_end));
  if (token.empty()) return absl::UnauthenticatedError("empty bearer token");
  const Token* matched = MatchToken(token);
  if (matched == nullptr) return absl::UnauthenticatedError("unknown bearer token");
  return Caller{.name = matched->name, .role = matched->role};
}

absl::Status Authenticator::Authorize(
    const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata, Role required,
    std::string_view method) const {
  absl::StatusOr<Role> role = Authenticate(client_metadata);
  if (!role.ok()) return role.status();
  if (static_cast<int>(*role) < static_cast<int>(required)) {
    return absl::PermissionDeniedError(
        absl::StrCat("role ", AbslView(RoleName(*role)), " may not call ", AbslView(method),
                     " (requires ", AbslView(RoleName(required)), ")"));
  }
  return absl::OkStatus();
}

absl::Status Authenticator::Authorize(const grpc::ServerContextBase& context, Role required,
                                      std::string_view method) const {
  return Authorize(context.client_metadata(), required, method);
}

}  // namespace weft::control

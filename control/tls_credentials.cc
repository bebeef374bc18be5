#include "control/tls_credentials.h"

#include <sys/stat.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "control/auth.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "weft/base/log.h"

namespace weft::control {
namespace {

// ReadPemFile returns the contents of `path` if it holds at least one PEM block.
absl::StatusOr<std::string> ReadPemFile(const std::string& path) {
  absl::StatusOr<std::string> contents =
      internal::ReadSmallFile(path, kMaxPemFileBytes, internal::FileAccess::kAny);
  if (!contents.ok()) return contents.status();
  if (!absl::StrContains(*contents, "-----BEGIN")) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " holds no PEM block (no \"-----BEGIN\" line)"));
  }
  return contents;
}

// WarnIfShared warns when the private key at `path` is readable or writable by group or others.
// Token files in that state are refused (see Authenticator::Load); a key is only warned about,
// because certificate tooling and secret mounts (Kubernetes' default mode is 0644) commonly
// produce such files and refusing would take the control plane down on upgrade. The message
// names the file, never its contents.
void WarnIfShared(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return;
  if ((st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) != 0) {
    LOG(WARNING) << "the private key " << path
                 << " is readable or writable by group or others; chmod 600 it";
  }
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const std::optional<TlsFiles>& tls) {
  if (!tls.has_value()) return grpc::InsecureServerCredentials();
  if (tls->cert_file.empty() || tls->key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both a cert_file and a key_file");
  }
  absl::StatusOr<std::string> cert = ReadPemFile(tls->cert_file);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPemFile(tls->key_file);
  if (!key.ok()) return key.status();
  WarnIfShared(tls->key_file);

  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (!tls->client_ca_file.empty()) {
    absl::StatusOr<std::string> client_ca = ReadPemFile(tls->client_ca_file);
    if (!client_ca.ok()) return client_ca.status();
    options.pem_root_certs = *std::move(client_ca);
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  options.pem_key_cert_pairs.push_back(
      {.private_key = *std::move(key), .cert_chain = *std::move(cert)});
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const std::optional<ClientTlsFiles>& tls) {
  if (!tls.has_value()) return grpc::InsecureChannelCredentials();
  if (tls->cert_file.empty() != tls->key_file.empty()) {
    return absl::InvalidArgumentError("a client certificate needs both a cert_file and a key_file");
  }
  grpc::SslCredentialsOptions options;
  if (!tls->ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadPemFile(tls->ca_file);
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *std::move(ca);
  }
  if (!tls->cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadPemFile(tls->cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPemFile(tls->key_file);
    if (!key.ok()) return key.status();
    options.pem_cert_chain = *std::move(cert);
    options.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(options);
}

}  // namespace weft::control

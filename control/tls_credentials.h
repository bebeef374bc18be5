// TLS credentials for the control plane: the server side (weftd) and the client side (weftctl,
// tests), built from PEM files.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"

namespace weft::control {

// TlsFiles: the server's PEM files.
struct TlsFiles {
  // The server certificate chain. Required.
  std::string cert_file{};
  // The server private key. Required.
  std::string key_file{};
  // When set, clients must present a certificate signed by this CA (mutual TLS); empty = no
  // client certificates are requested.
  std::string client_ca_file{};
};

// ClientTlsFiles: a client's PEM files.
struct ClientTlsFiles {
  // The CA that signed the server's certificate; empty = the system's default roots.
  std::string ca_file{};
  // The client certificate chain, for mutual TLS; set together with key_file, or neither.
  std::string cert_file{};
  // The client private key; set together with cert_file, or neither.
  std::string key_file{};
};

// kMaxPemFileBytes: the largest PEM file the functions below read.
inline constexpr std::size_t kMaxPemFileBytes = 1024 * 1024;

// MakeServerCredentials returns grpc::InsecureServerCredentials() when `tls` is nullopt, and
// otherwise TLS credentials serving tls->cert_file with tls->key_file; with a client_ca_file
// the server requires and verifies a client certificate signed by that CA. Files are read
// once, now. Whether the key matches the certificate is only checked when a server starts
// with the credentials (grpc::ServerBuilder::BuildAndStart then fails). A key_file readable or
// writable by group or others is logged as a warning (not refused, unlike token files).
// Errors name the file:
//   NOT_FOUND          a file does not exist;
//   PERMISSION_DENIED  a file cannot be read;
//   INVALID_ARGUMENT   cert_file or key_file is empty, a file is larger than kMaxPemFileBytes
//                      or holds no PEM block ("-----BEGIN").
// Thread-safe; blocks on file I/O.
[[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const std::optional<TlsFiles>& tls);

// MakeChannelCredentials returns grpc::InsecureChannelCredentials() when `tls` is nullopt, and
// otherwise TLS credentials that verify the server against tls->ca_file (its certificate must
// name the host dialled, e.g. 127.0.0.1 or localhost in its subjectAltName) and, when
// cert_file and key_file are set, present that client certificate. Errors as for
// MakeServerCredentials; INVALID_ARGUMENT also if only one of cert_file and key_file is set.
// Thread-safe; blocks on file I/O.
[[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const std::optional<ClientTlsFiles>& tls);

}  // namespace weft::control

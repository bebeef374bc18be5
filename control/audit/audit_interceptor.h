// AuditInterceptorFactory: the gRPC server interceptor that turns control-plane calls into
// audit records.
//
// Why an interceptor rather than a call in each handler: it sees every method — the ones added
// later (StopTasks) included — with its request, its final status and its timing, without a
// line in any handler; a handler cannot forget to record, and a refusal is recorded whichever
// method refused it. The caller's identity comes from the same Authenticator the handlers use.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <functional>
#include <string>

#include "absl/strings/string_view.h"
#include "control/audit/audit_trail.h"
#include "control/auth.h"

namespace weft::control::audit {

// IsAuditedMethod is true for the methods of weft.control.v1.Control that change something:
// RunServer, StopAccepting, StopServer, UpdateServer, StopTask, RemoveTask, StopTasks (short
// names, as in AuditRecord.method).
bool IsAuditedMethod(absl::string_view method);

// PeerNamer maps gRPC's name for a caller's address (ServerContext::peer()) to the one to
// record; identity when empty.
using PeerNamer = std::function<std::string(const std::string& grpc_peer)>;

// AuditInterceptorFactory records, in `trail`, one AuditRecord per call of weft.control.v1.
// Control to an audited method (whatever its outcome, a cancelled call as CANCELLED) and per
// call of any of its methods that ends UNAUTHENTICATED or PERMISSION_DENIED. Calls of other
// services (health, reflection) are not intercepted. The record is made just before the status
// is sent, so a client that has its reply finds the record listed. Borrows `trail` and `auth`,
// which must outlive every server built with the factory. Thread-safe.
class AuditInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  AuditInterceptorFactory(AuditTrail* trail, const Authenticator* auth, PeerNamer peer_namer = {});

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  AuditTrail* const trail_;
  const Authenticator* const auth_;
  const PeerNamer peer_namer_;
};

}  // namespace weft::control::audit

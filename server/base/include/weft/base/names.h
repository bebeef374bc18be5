// The one spelling of each server state, task state, refusal reason, close initiator, task
// manager kind, process state and process role that users read: weftctl's tables, weftd's logs
// and admin pages, and weft::ServerStateName and friends. Lower case, words joined by '-' (as
// documented for weftctl's output); "unknown" for a value a newer peer may send. weftctl's
// -o json prints control.proto messages, whose enums keep their proto names
// (SERVER_STATE_NOT_ACCEPTING); that is the API's spelling, not a display name.
//
// Part of weft::base: any Weft component may include it.
#pragma once

namespace weft::names {

inline constexpr char kUnknown[] = "unknown";

inline constexpr char kServerStopped[] = "stopped";
inline constexpr char kServerRunning[] = "running";
inline constexpr char kServerNotAccepting[] = "not-accepting";

inline constexpr char kTaskQueued[] = "queued";
inline constexpr char kTaskRunning[] = "running";
inline constexpr char kTaskStopping[] = "stopping";

inline constexpr char kRefusalMaxConnections[] = "max-connections";
inline constexpr char kRefusalManagerFull[] = "manager-full";
inline constexpr char kRefusalDescriptorsExhausted[] = "descriptors-exhausted";
inline constexpr char kRefusalStopping[] = "stopping";
inline constexpr char kRefusalDescriptorBudget[] = "descriptor-budget";

inline constexpr char kClosePeer[] = "peer";
inline constexpr char kCloseIdleTimeout[] = "idle-timeout";
inline constexpr char kCloseMaxLifetime[] = "max-lifetime";
inline constexpr char kCloseStop[] = "stop";
inline constexpr char kCloseForced[] = "forced";
inline constexpr char kCloseHandler[] = "handler";

inline constexpr char kProcessServing[] = "serving";
inline constexpr char kProcessDraining[] = "draining";

// The roles of weftctl's `process` table: the process that answered, and its hand-off peer.
inline constexpr char kProcessRoleThis[] = "this";
inline constexpr char kProcessRolePredecessor[] = "predecessor";
inline constexpr char kProcessRoleSuccessor[] = "successor";

inline constexpr char kManagerThreaded[] = "threaded";
inline constexpr char kManagerPool[] = "pool";
inline constexpr char kManagerSingle[] = "single";
inline constexpr char kManagerFiber[] = "fiber";

}  // namespace weft::names

// ServerState: where a Server is in its life.
#pragma once

namespace weft {

// ServerState: kStopped → Run → kRunning → StopAccepting → kNotAccepting → Stop → kStopped.
enum class ServerState { kStopped, kRunning, kNotAccepting };

// ServerStateName returns "stopped", "running" or "not-accepting" (weft/base/names.h).
const char* ServerStateName(ServerState state);

}  // namespace weft

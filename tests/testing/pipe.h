// Pipe: a connected socket pair for task-manager tests — a task wraps task_end in a Connection
// (which then owns and closes it) and blocks on it; the test writes, reads or closes test_end.
#pragma once

#include <sys/socket.h>

#include "weft/base/log.h"
#include "weft/unique_fd.h"

namespace weft::testing {

struct Pipe {
  Pipe() {
    int fds[2];
    CHECK_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    task_end = fds[0];
    test_end.Reset(fds[1]);
  }
  int task_end;  // Owned by the Connection the task creates.
  UniqueFd test_end;
};

}  // namespace weft::testing

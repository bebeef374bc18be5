// WeftdProcess: a real weftd started from a configuration text, with what its ready line said
// (`weftd ready control_port=N admin_port=M listeners=a=1,b=2`). For end-to-end and reliability tests.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/child_process.h"

namespace weft::testing {

class WeftdProcess {
 public:
  // Start writes `config` to a temporary file and runs `weftd_path --config FILE extra_args...`,
  // then waits up to `timeout` for the ready line. On failure the status carries weftd's stderr.
  static absl::StatusOr<std::unique_ptr<WeftdProcess>> Start(
      const std::string& weftd_path, const std::string& config,
      const std::vector<std::string>& extra_args = {}, ChildProcess::Options options = {},
      absl::Duration timeout = absl::Seconds(30));

  ~WeftdProcess();  // Kills the process (SIGKILL) if still running and removes the config file.

  ChildProcess& process() { return *process_; }
  pid_t pid() const { return process_->pid(); }
  int control_port() const { return control_port_; }
  // admin_port: the admin endpoint's port; 0 without an admin block.
  int admin_port() const { return admin_port_; }
  // port returns the port of listener `name`, 0 if it is not listed.
  std::uint16_t port(const std::string& name) const;
  const std::string& config_path() const { return config_path_; }

 private:
  WeftdProcess() = default;

  std::unique_ptr<ChildProcess> process_;
  std::string config_path_;
  int control_port_ = 0;
  int admin_port_ = 0;
  std::map<std::string, std::uint16_t> listeners_;
};

// WriteTempFile writes `contents` to a new file named after `prefix` under /tmp, with `mode`,
// and returns its path.
std::string WriteTempFile(const std::string& prefix, const std::string& contents,
                          int mode = 0600);

}  // namespace weft::testing

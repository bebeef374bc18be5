#include "tests/testing/weftd_process.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace weft::testing {

std::string WriteTempFile(const std::string& prefix, const std::string& contents, int mode) {
  std::string path = absl::StrCat("/tmp/", prefix, "-XXXXXX");
  const int fd = ::mkstemp(path.data());
  if (fd < 0) return "";
  ::close(fd);
  std::ofstream(path) << contents;
  ::chmod(path.c_str(), static_cast<mode_t>(mode));
  return path;
}

absl::StatusOr<std::unique_ptr<WeftdProcess>> WeftdProcess::Start(
    const std::string& weftd_path, const std::string& config,
    const std::vector<std::string>& extra_args, ChildProcess::Options options,
    absl::Duration timeout) {
  std::unique_ptr<WeftdProcess> weftd(new WeftdProcess());
  weftd->config_path_ = WriteTempFile("weftd-config", config);
  if (weftd->config_path_.empty()) return absl::InternalError("cannot write the config file");
  std::vector<std::string> argv = {weftd_path, "--config", weftd->config_path_};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  absl::StatusOr<ChildProcess> process = ChildProcess::Start(argv, options);
  if (!process.ok()) return process.status();
  weftd->process_ = std::make_unique<ChildProcess>(std::move(*process));
  absl::StatusOr<std::string> line = weftd->process_->ReadLine(timeout);
  if (!line.ok()) return line.status();
  for (absl::string_view field : absl::StrSplit(*line, ' ')) {
    if (absl::ConsumePrefix(&field, "control_port=")) {
      if (!absl::SimpleAtoi(field, &weftd->control_port_)) break;
    } else if (absl::ConsumePrefix(&field, "admin_port=")) {
      if (!absl::SimpleAtoi(field, &weftd->admin_port_)) break;
    } else if (absl::ConsumePrefix(&field, "listeners=")) {
      for (absl::string_view pair : absl::StrSplit(field, ',', absl::SkipEmpty())) {
        std::pair<std::string, std::string> kv = absl::StrSplit(pair, '=');
        std::uint32_t port = 0;
        if (absl::SimpleAtoi(kv.second, &port)) {
          weftd->listeners_[kv.first] = static_cast<std::uint16_t>(port);
        }
      }
    }
  }
  // control_port is 0 for a unix control socket.
  if (!absl::StartsWith(*line, "weftd ready")) {
    return absl::InternalError(absl::StrCat("bad ready line: ", *line));
  }
  return weftd;
}

WeftdProcess::~WeftdProcess() {
  process_.reset();
  if (!config_path_.empty()) ::unlink(config_path_.c_str());
}

std::uint16_t WeftdProcess::port(const std::string& name) const {
  auto it = listeners_.find(name);
  return it == listeners_.end() ? 0 : it->second;
}

}  // namespace weft::testing

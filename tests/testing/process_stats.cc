#include "tests/testing/process_stats.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "tests/testing/loopback_client.h"
#include "weft/base/log.h"
#include "weft/descriptor_limit.h"
#include "weft/unique_fd.h"

namespace weft::testing {
namespace {

std::string ReadWhole(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

int CountEntries(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return -1;
  int count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count;
}

}  // namespace

std::optional<long long> CpuTicks(pid_t pid) {
  const std::string stat = ReadWhole(absl::StrCat("/proc/", pid, "/stat"));
  // The command name (field 2) is parenthesised and may contain spaces: split after it.
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 > stat.size()) return std::nullopt;
  const std::vector<std::string> fields =
      absl::StrSplit(stat.substr(close + 2), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  long long utime = 0;
  long long stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return std::nullopt;
  }
  return utime + stime;
}

absl::StatusOr<double> CpuShare(pid_t pid, absl::Duration window) {
  const std::optional<long long> before = CpuTicks(pid);
  const absl::Time start = absl::Now();
  absl::SleepFor(window);  // The measurement window itself; nothing is awaited.
  const std::optional<long long> after = CpuTicks(pid);
  const absl::Duration took = absl::Now() - start;
  if (!before.has_value() || !after.has_value()) {
    return absl::InternalError(absl::StrCat("cannot read /proc/", pid, "/stat"));
  }
  const double seconds =
      static_cast<double>(*after - *before) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  return seconds / absl::ToDoubleSeconds(took);
}

std::optional<std::int64_t> RssKb(pid_t pid) {
  std::istringstream status(ReadWhole(absl::StrCat("/proc/", pid, "/status")));
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, "VmRSS:")) continue;
    rest = absl::StripAsciiWhitespace(rest);
    absl::ConsumeSuffix(&rest, "kB");
    std::int64_t kb = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &kb)) return kb;
  }
  return std::nullopt;
}

int CountFdsOf(pid_t pid) { return CountEntries(absl::StrCat("/proc/", pid, "/fd")); }
int CountThreadsOf(pid_t pid) { return CountEntries(absl::StrCat("/proc/", pid, "/task")); }

int SettledThreadCount() {
  std::thread([] {}).join();
  return CountThreads();
}

std::int64_t EnvInt(const char* name, std::int64_t fallback) {
  const char* text = std::getenv(name);
  std::int64_t value = 0;
  if (text == nullptr || !absl::SimpleAtoi(text, &value) || value <= 0) return fallback;
  return value;
}

std::int64_t RaiseDescriptorLimit() {
  const absl::StatusOr<weft::DescriptorLimit> limit = weft::RaiseDescriptorLimit();
  CHECK(limit.ok()) << limit.status();
  return DescriptorLimit();
}

std::int64_t DescriptorLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
  return limit.rlim_cur == RLIM_INFINITY ? -1 : static_cast<std::int64_t>(limit.rlim_cur);
}

absl::StatusOr<std::uint16_t> PickFreePort() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return absl::ErrnoToStatus(errno, "bind");
  }
  socklen_t len = sizeof addr;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::ErrnoToStatus(errno, "getsockname");
  }
  return ntohs(addr.sin_port);
}

}  // namespace weft::testing

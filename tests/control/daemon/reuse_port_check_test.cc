// weftd's start-up warning about net.ipv4.tcp_migrate_req for reuse_port listeners.
#include "control/daemon/reuse_port_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

namespace weft::control {
namespace {

using ::testing::HasSubstr;

// SysctlFile: a temporary stand-in for /proc/sys/net/ipv4/tcp_migrate_req, removed at the end.
class SysctlFile {
 public:
  explicit SysctlFile(const std::string& contents) {
    char path[] = "/tmp/weft-tcp-migrate-req-XXXXXX";
    const int fd = ::mkstemp(path);
    EXPECT_GE(fd, 0);
    ::close(fd);
    path_ = path;
    std::ofstream(path_) << contents;
  }
  ~SysctlFile() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

config::v1::Config Listeners(bool first_reuses, bool second_reuses) {
  config::v1::Config config;
  config::v1::Listener* first = config.add_listeners();
  first->set_name("web");
  first->set_reuse_port(first_reuses);
  config::v1::Listener* second = config.add_listeners();
  second->set_name("echo");
  second->set_reuse_port(second_reuses);
  return config;
}

TEST(ReusePortMigrationWarningTest, WarnsWhenAListenerSharesItsPortAndTheSysctlIsZero) {
  const SysctlFile sysctl("0\n");
  const std::optional<std::string> warning =
      ReusePortMigrationWarning(Listeners(false, true), sysctl.path());
  ASSERT_TRUE(warning.has_value());
  EXPECT_THAT(*warning, HasSubstr("net.ipv4.tcp_migrate_req is 0"));
  EXPECT_THAT(*warning, HasSubstr("reset"));
  EXPECT_THAT(*warning, HasSubstr("set net.ipv4.tcp_migrate_req=1"));
  EXPECT_THAT(*warning, HasSubstr("\"echo\""));
  EXPECT_THAT(*warning, ::testing::Not(HasSubstr("\"web\"")));
}

TEST(ReusePortMigrationWarningTest, StaysQuietWhenTheSysctlIsOne) {
  const SysctlFile sysctl("1\n");
  EXPECT_EQ(ReusePortMigrationWarning(Listeners(true, true), sysctl.path()), std::nullopt);
}

TEST(ReusePortMigrationWarningTest, StaysQuietWithoutReusePortListeners) {
  const SysctlFile sysctl("0\n");
  EXPECT_EQ(ReusePortMigrationWarning(Listeners(false, false), sysctl.path()), std::nullopt);
}

TEST(ReusePortMigrationWarningTest, StaysQuietWhenTheSysctlCannotBeRead) {
  EXPECT_EQ(ReusePortMigrationWarning(Listeners(true, true), "/nonexistent/tcp_migrate_req"),
            std::nullopt);
  const SysctlFile empty("");
  EXPECT_EQ(ReusePortMigrationWarning(Listeners(true, true), empty.path()), std::nullopt);
}

}  // namespace
}  // namespace weft::control

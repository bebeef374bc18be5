// MakePrivateSocketDirectory sweeps only what a dead weftd left behind, and creates an
// owner-only directory.
#include "control/private_socket_dir.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "weft/unique_fd.h"

namespace weft::control {
namespace {

// BoundSocket binds a unix socket at `path`; listening if `listen`.
UniqueFd BoundSocket(const std::string& path, bool listen) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  if (listen) EXPECT_EQ(::listen(fd.get(), 4), 0);
  return fd;
}

void MakeOld(const std::string& path) {
  const timespec times[2] = {{.tv_sec = 1000, .tv_nsec = 0}, {.tv_sec = 1000, .tv_nsec = 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
}

class PrivateSocketDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/weft-private-dir-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    tmp_ = dir;
    const char* old = std::getenv("TMPDIR");
    if (old != nullptr) old_tmpdir_ = old;
    ::setenv("TMPDIR", tmp_.c_str(), 1);
  }
  void TearDown() override {
    if (old_tmpdir_.empty()) {
      ::unsetenv("TMPDIR");
    } else {
      ::setenv("TMPDIR", old_tmpdir_.c_str(), 1);
    }
    std::filesystem::remove_all(tmp_);
  }

  // Leftover makes TMPDIR/weftd-control-NAME holding a socket file.
  std::string Leftover(const std::string& name) {
    const std::string dir = tmp_ + "/weftd-control-" + name;
    EXPECT_EQ(::mkdir(dir.c_str(), 0700), 0);
    return dir;
  }

  std::string tmp_;
  std::string old_tmpdir_;
};

TEST_F(PrivateSocketDirTest, SweepsDeadLeftoversOnlyAndCreatesAnOwnerOnlyDirectory) {
  const std::string dead = Leftover("dead");
  BoundSocket(PrivateSocketPath(dead), /*listen=*/false);  // Closed at once: nobody listens.
  MakeOld(PrivateSocketPath(dead));
  const std::string live = Leftover("live");
  UniqueFd listening = BoundSocket(PrivateSocketPath(live), /*listen=*/true);
  MakeOld(PrivateSocketPath(live));
  const std::string young = Leftover("young");
  BoundSocket(PrivateSocketPath(young), /*listen=*/false);  // Maybe a weftd still starting.

  absl::StatusOr<std::string> made = MakePrivateSocketDirectory();
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_FALSE(std::filesystem::exists(dead)) << "a dead weftd's directory was kept";
  EXPECT_TRUE(std::filesystem::exists(PrivateSocketPath(live))) << "a live socket was swept";
  EXPECT_TRUE(std::filesystem::exists(PrivateSocketPath(young))) << "a young socket was swept";

  EXPECT_EQ(made->rfind(tmp_ + "/weftd-control-", 0), 0u) << *made;
  struct stat st {};
  ASSERT_EQ(::stat(made->c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  RemovePrivateSocketDirectory(*made);
  EXPECT_FALSE(std::filesystem::exists(*made));
}

TEST_F(PrivateSocketDirTest, AnUnwritableTmpdirIsAnErrorNamingIt) {
  ::setenv("TMPDIR", "/proc/no-such-dir", 1);
  absl::StatusOr<std::string> made = MakePrivateSocketDirectory();
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(made.status().message().find("TMPDIR"), absl::string_view::npos) << made.status();
}

}  // namespace
}  // namespace weft::control

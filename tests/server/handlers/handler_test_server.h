// HandlerServerTest: a fixture serving one built-in handler from a real weft::Server on
// 127.0.0.1, port 0, with loopback clients connecting to it.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "tests/testing/loopback_client.h"
#include "weft/handlers/handler_registry.h"
#include "weft/server.h"

namespace weft::testing {

class HandlerServerTest : public ::testing::Test {
 protected:
  // StartServer serves BuiltinHandlers()'s `name` made with `args`. Use with
  // ASSERT_NO_FATAL_FAILURE.
  void StartServer(const std::string& name, const HandlerArgs& args = {}) {
    absl::StatusOr<Handler> handler = BuiltinHandlers().Create(name, args);
    ASSERT_TRUE(handler.ok()) << handler.status();
    ServerOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    options.handler = *std::move(handler);
    options.args = args;
    server_ = std::make_unique<Server>(std::move(options));
    const absl::Status status = server_->Run();
    ASSERT_TRUE(status.ok()) << status;
  }

  // Connect opens a client to the server.
  absl::StatusOr<LoopbackClient> Connect() { return LoopbackClient::Connect(server_->port()); }

  void TearDown() override {
    if (server_ != nullptr) server_->Stop();
  }

  std::unique_ptr<Server> server_;
};

}  // namespace weft::testing

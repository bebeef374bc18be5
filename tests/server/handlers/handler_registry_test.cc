// HandlerRegistry and the factories of the built-ins (no sockets).
#include "weft/handlers/handler_registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace weft {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

HandlerFactory FactoryOf(Handler handler) {
  return [handler](const HandlerArgs&) -> absl::StatusOr<Handler> { return handler; };
}

Handler NoOp() {
  return [](Connection&, const HandlerArgs&) {};
}

TEST(HandlerRegistryTest, BuiltinHandlersHoldsExactlyTheBuiltinsSorted) {
  EXPECT_THAT(BuiltinHandlers().Names(),
              ElementsAre("chargen", "daytime", "discard", "echo", "http-hello"));
}

TEST(HandlerRegistryTest, NamesAreSorted) {
  HandlerRegistry registry;
  ASSERT_TRUE(registry.Register("zeta", FactoryOf(NoOp())).ok());
  ASSERT_TRUE(registry.Register("alpha", FactoryOf(NoOp())).ok());
  ASSERT_TRUE(registry.Register("mid", FactoryOf(NoOp())).ok());
  EXPECT_THAT(registry.Names(), ElementsAre("alpha", "mid", "zeta"));
}

TEST(HandlerRegistryTest, RegisterRejectsAnEmptyName) {
  HandlerRegistry registry;
  const absl::Status status = registry.Register("", FactoryOf(NoOp()));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(registry.Names().empty());
}

TEST(HandlerRegistryTest, RegisterRejectsAnEmptyFactory) {
  HandlerRegistry registry;
  EXPECT_EQ(registry.Register("x", nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(registry.Contains("x"));
}

TEST(HandlerRegistryTest, RegisterRejectsADuplicateAndKeepsTheFirstFactory) {
  HandlerRegistry registry;
  ASSERT_TRUE(registry.Register("x", FactoryOf(NoOp())).ok());
  const absl::Status status = registry.Register("x", [](const HandlerArgs&) {
    return absl::StatusOr<Handler>(absl::UnknownError("the second factory"));
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(status.message(), HasSubstr("\"x\""));
  EXPECT_TRUE(registry.Create("x", {}).ok());
}

TEST(HandlerRegistryTest, CreateOfAnUnknownNameListsTheKnownNames) {
  const absl::StatusOr<Handler> handler = BuiltinHandlers().Create("x", {});
  EXPECT_EQ(handler.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(handler.status().message(),
            "unknown handler \"x\" (known: chargen, daytime, discard, echo, http-hello)");
}

TEST(HandlerRegistryTest, CreatePassesTheArgumentsAndPrefixesFactoryErrorsWithTheName) {
  HandlerRegistry registry;
  HandlerArgs seen;
  ASSERT_TRUE(registry
                  .Register("custom",
                            [&seen](const HandlerArgs& args) -> absl::StatusOr<Handler> {
                              seen = args;
                              return absl::InvalidArgumentError("bad size");
                            })
                  .ok());
  const absl::StatusOr<Handler> handler = registry.Create("custom", {"size=-1", "x"});
  EXPECT_THAT(seen, ElementsAre("size=-1", "x"));
  EXPECT_EQ(handler.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(handler.status().message(), "handler \"custom\": bad size");
}

TEST(HandlerRegistryTest, CreateReportsAFactoryReturningAnEmptyHandlerAsInternal) {
  HandlerRegistry registry;
  ASSERT_TRUE(registry.Register("broken", FactoryOf(nullptr)).ok());
  EXPECT_EQ(registry.Create("broken", {}).status().code(), absl::StatusCode::kInternal);
}

TEST(HandlerRegistryTest, BuiltinsWithoutParametersRejectAnyArgument) {
  const HandlerRegistry registry = BuiltinHandlers();
  for (const char* name : {"chargen", "daytime", "discard", "echo"}) {
    EXPECT_TRUE(registry.Create(name, {}).ok()) << name;
    const absl::StatusOr<Handler> handler = registry.Create(name, {"verbose"});
    EXPECT_EQ(handler.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(handler.status().message(), HasSubstr("\"verbose\"")) << name;
    EXPECT_THAT(handler.status().message(), HasSubstr(name));
  }
}

TEST(HandlerRegistryTest, HttpHelloAcceptsOneBodyArgumentOnly) {
  const HandlerRegistry registry = BuiltinHandlers();
  EXPECT_TRUE(registry.Create("http-hello", {}).ok());
  EXPECT_TRUE(registry.Create("http-hello", {"body=pong"}).ok());
  EXPECT_TRUE(registry.Create("http-hello", {"body="}).ok()) << "an empty body is a body";

  absl::StatusOr<Handler> handler = registry.Create("http-hello", {"port=80"});
  EXPECT_EQ(handler.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(handler.status().message(), HasSubstr("unknown argument \"port=80\""));
  handler = registry.Create("http-hello", {"body=a", "body=b"});
  EXPECT_EQ(handler.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(handler.status().message(), HasSubstr("more than once"));
}

TEST(HandlerRegistryTest, RegisterBuiltinHandlersChangesNothingWhenANameIsTaken) {
  HandlerRegistry registry;
  ASSERT_TRUE(registry.Register("echo", FactoryOf(NoOp())).ok());
  const absl::Status status = RegisterBuiltinHandlers(&registry);
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(status.message(), HasSubstr("\"echo\""));
  EXPECT_THAT(registry.Names(), ElementsAre("echo"));
}

TEST(HandlerRegistryTest, UserHandlersExtendACopyOfTheBuiltins) {
  const HandlerRegistry builtins = BuiltinHandlers();
  HandlerRegistry registry = builtins;
  ASSERT_TRUE(registry.Register("custom", FactoryOf(NoOp())).ok());
  EXPECT_TRUE(registry.Create("custom", {}).ok());
  EXPECT_TRUE(registry.Create("echo", {}).ok());
  EXPECT_EQ(registry.Names().size(), 6u);
  EXPECT_FALSE(builtins.Contains("custom"));
}

TEST(HandlerRegistryTest, ConstLookupsMayRunConcurrently) {
  const HandlerRegistry registry = BuiltinHandlers();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&registry] {
      for (int i = 0; i < 200; ++i) {
        EXPECT_TRUE(registry.Create("http-hello", {"body=x"}).ok());
        EXPECT_FALSE(registry.Create("nope", {}).ok());
        EXPECT_EQ(registry.Names().size(), 5u);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
}

}  // namespace
}  // namespace weft

// Replays a fuzz target's checked-in corpus as a regression test, in every build flavour.
//
// Linked with exactly one fuzz target (it defines LLVMFuzzerTestOneInput); WEFT_FUZZ_CORPUS is
// that target's corpus directory: the hand-written seeds plus every input that ever crashed it.
// WEFT_FUZZ_TEST names the test after the target, e.g. HttpRequestParserCorpusPasses.
// A target reports a failed property by crashing (CHECK), which fails this test loudly.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace weft {
namespace {

TEST(FuzzReplayTest, WEFT_FUZZ_TEST) {
  const std::filesystem::path corpus = WEFT_FUZZ_CORPUS;
  ASSERT_TRUE(std::filesystem::is_directory(corpus)) << corpus;
  std::size_t inputs = 0;
  std::size_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(corpus)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    ASSERT_TRUE(in) << entry.path();
    const std::string data{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    SCOPED_TRACE(entry.path().string());
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
    ++inputs;
    bytes += data.size();
  }
  EXPECT_GT(inputs, 0u) << "empty corpus: " << corpus;
  std::cout << "replayed " << inputs << " inputs (" << bytes << " bytes) from " << corpus << "\n";
}

}  // namespace
}  // namespace weft

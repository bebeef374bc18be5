// The bash completion script of weftctl (`weftctl completion bash`).
#pragma once

#include <string>

namespace weft::cli {

// BashCompletionScript returns a script that, sourced in bash, completes weftctl's commands,
// flags, -o values, file flags, and server names (asked of the targets on the command line
// with `weftctl servers`).
std::string BashCompletionScript();

}  // namespace weft::cli

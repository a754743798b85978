// The exit codes of the `catdog` CLI, in the bottom folder so that the stage functions a thin
// cmd_*.cpp calls (data/, export/, eval/) can return them too: 0 success, 1 runtime failure,
// 2 bad input (a file, a value, a flag). seal.h adds 3: the model's self-check failed.
#pragma once

namespace catdog {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitBadInput = 2;

}  // namespace catdog

#!/usr/bin/env bash
# build.sh: one entry point for a fresh Debian 12 machine.
#   build.sh run [ARGS]     install what is missing, build (Release), start weftd [ARGS]
#   build.sh test           install what is missing, build (Debug), run the whole test suite
#   build.sh check-thread-safety
#                           build everything with clang's -Wthread-safety as errors: checks
#                           every ABSL_GUARDED_BY-style annotation (nothing is run)
#   build.sh test-tsan      the suite under ThreadSanitizer
#   build.sh test-asan      the suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   build.sh test-fuzz [S]  build the libFuzzer targets with clang, run each for S seconds
#                           (default $WEFT_FUZZ_SECONDS or 45) from its checked-in corpus
#   build.sh deps           only install what is missing
# Build trees live in build/<flavour>; set WEFT_BUILD_DIR to move them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build_root=${WEFT_BUILD_DIR:-$root/build}

packages=(
  g++ cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev libgoogle-glog-dev libboost-context-dev
  libboost-dev libcli11-dev nlohmann-json3-dev libcpp-httplib-dev
  procps openssl libssl-dev
  python3-yaml systemd
  # Real components the admin endpoint's tests drive: headless Chromium (the status page),
  # Prometheus and promtool (the metrics).
  chromium prometheus
)
# Sanitizer runs need llvm-symbolizer: without it reports carry no function names, and
# suppressions (which match function names) silently stop matching.
sanitizer_packages=(llvm)
# The fuzzers: clang with libFuzzer and its sanitizer runtimes.
fuzz_packages=(clang libclang-rt-14-dev llvm)
# The thread-safety analysis: clang alone (no sanitizer runtime is linked).
thread_safety_packages=(clang)

# install_deps [EXTRA_PACKAGES...]
install_deps() {
  local missing=()
  for p in "${packages[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "build.sh: installing ${missing[*]}" >&2
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# configure_and_build FLAVOUR BUILD_TYPE [extra cmake args...] [-- targets...]
configure_and_build() {
  local flavour=$1 type=$2; shift 2
  local dir=$build_root/$flavour args=() targets=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
  [ $# -gt 0 ] && shift && targets=(--target "$@")
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" "${args[@]}" >/dev/null
  cmake --build "$dir" -j"$(nproc)" "${targets[@]}"
}

# run_tests FLAVOUR [ctest args...]
run_tests() {
  local dir=$build_root/$1; shift
  ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" --timeout 300 "$@"
}

cmd=${1:-}
case "$cmd" in
  deps) install_deps ;;
  run)
    install_deps
    configure_and_build release Release
    shift
    exec "$build_root/release/control/daemon/weftd" "$@"
    ;;
  test)
    install_deps
    configure_and_build debug Debug
    run_tests debug
    ;;
  test-tsan)
    install_deps "${sanitizer_packages[@]}"
    configure_and_build tsan RelWithDebInfo -DWEFT_SANITIZE=thread
    # With TZ unset, glibc's mktime re-reads the zone on every call, freeing and duplicating its
    # name under a lock TSan cannot see, and glog calls mktime on every log line: two threads
    # logging at once look like a race inside libc. With TZ set (to the same zone) glibc finds
    # the name unchanged and touches nothing, so no suppression is needed for it.
    export TZ=${TZ:-:/etc/localtime}
    # Tests that run gRPC get gRPC-specific suppressions (see the file); all others get none of
    # Weft's code suppressed.
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 external_symbolizer_path=$(command -v llvm-symbolizer) suppressions=$root/.ci/tsan.supp" \
      run_tests tsan -LE grpc
    # weftctl's end-to-end tests are left out of the TSan run: their JSON checks read a
    # google.protobuf.Struct, and protobuf's Map changes layout when compiled with TSan
    # (PROTOBUF_TSAN), so TSan-built code reading a map filled by Debian's uninstrumented
    # libprotobuf crashes. They run in the plain and ASan builds.
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 external_symbolizer_path=$(command -v llvm-symbolizer) suppressions=$root/.ci/tsan-grpc.supp" \
      run_tests tsan -L grpc -E '^Weftctl(Test|AuthTest|TlsTest)\.'
    ;;
  test-asan)
    install_deps "${sanitizer_packages[@]}"
    configure_and_build asan RelWithDebInfo -DWEFT_SANITIZE=address
    ASAN_OPTIONS="detect_leaks=1 abort_on_error=1 external_symbolizer_path=$(command -v llvm-symbolizer)" UBSAN_OPTIONS="halt_on_error=1 print_stacktrace=1" run_tests asan
    ;;
  check-thread-safety)
    install_deps "${thread_safety_packages[@]}"
    # Everything: the library, its handlers, the control plane, weftd, weftctl, the tests and
    # the benchmark tools (built, not run).
    CC=clang CXX=clang++ configure_and_build thread-safety Debug -DWEFT_THREAD_SAFETY_ANALYSIS=ON \
      -DWEFT_BUILD_BENCH=ON
    ;;
  test-fuzz)
    install_deps "${fuzz_packages[@]}"
    CC=clang CXX=clang++ configure_and_build fuzz RelWithDebInfo -DWEFT_BUILD_FUZZERS=ON \
      -- http_request_parser_fuzzer config_loader_fuzzer weftctl_parse_fuzzer
    ASAN_OPTIONS="external_symbolizer_path=$(command -v llvm-symbolizer)" \
      tests/reliability/fuzz/run_fuzzers.sh "$build_root/fuzz" "${2:-${WEFT_FUZZ_SECONDS:-45}}"
    ;;
  *)
    echo "usage: deploy/build.sh run|test|check-thread-safety|test-tsan|test-asan|test-fuzz|deps" >&2
    exit 2
    ;;
esac

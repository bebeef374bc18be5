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
#   build.sh image          build the container image with podman (deploy/Dockerfile), making
#                           the Debian base images locally first (deploy/image/)
#   build.sh test-image     build the image, then run it as Kubernetes would and replace it
#                           under load (tests/deploy/image_test.py)
#   build.sh deps           only install what building and running weftd needs
# Build trees live in build/<flavour>; set WEFT_BUILD_DIR to move them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build_root=${WEFT_BUILD_DIR:-$root/build}

# What building weftd and weftctl needs (`deps`, `run` and the image's build stage install these).
packages=(
  g++ cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev libspdlog-dev libboost-context-dev
  libboost-dev libcli11-dev nlohmann-json3-dev libcpp-httplib-dev libssl-dev libsystemd-dev
)
# What the test suite runs besides: tools, and the real components the tests drive: headless
# Chromium (the status page), Prometheus and promtool (the metrics), kubectl (the manifests).
# COMMAND:PACKAGE installs PACKAGE only when COMMAND is missing: a kubectl from elsewhere (such
# as Google Cloud SDK's package, which conflicts with Debian's) is used as it is.
test_packages=(
  procps openssl python3-yaml systemd chromium prometheus kubectl:kubernetes-client
)
# Building and running the container image (as root): rootful podman (its OCI runtime runc),
# debootstrap for the local base images, iproute2 and procps (sysctl) for the image test's own
# network namespace, python3-yaml for the test.
image_packages=(podman runc debootstrap iproute2 procps python3-yaml)
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
    if [[ $p == *:* ]]; then
      command -v "${p%%:*}" >/dev/null || missing+=("${p#*:}")
      continue
    fi
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

# build_image: the local base images, then deploy/Dockerfile with podman; sets $image.
build_image() {
  local version revision source
  version=$(sed -n 's/^project(weft VERSION \([^ ]*\) .*/\1/p' "$root/CMakeLists.txt")
  revision=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
  # The remote without any user or token a CI checkout may carry in it (the label is public).
  source=$(git -C "$root" remote get-url origin 2>/dev/null | sed -E 's#^([a-z+]+://)[^/@]*@#\1#' ||
    true)
  source=${source:-unknown}
  image=localhost/weft:$version
  deploy/image/with-engine bash deploy/image/base-image.sh "$build_root/image"
  # --network host: the build's apt reaches the mirror the way this machine does.
  deploy/image/with-engine podman build --pull=never --network host --format oci \
    --ignorefile deploy/Dockerfile.dockerignore -f deploy/Dockerfile \
    --build-arg VERSION="$version" --build-arg REVISION="$revision" \
    --build-arg SOURCE="$source" -t "$image" .
  deploy/image/with-engine podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$image"
}

cmd=${1:-}
case "$cmd" in
  deps) install_deps ;;
  run)
    install_deps
    configure_and_build release Release -DWEFT_BUILD_TESTS=OFF
    shift
    exec "$build_root/release/control/daemon/weftd" "$@"
    ;;
  test)
    install_deps "${test_packages[@]}"
    configure_and_build debug Debug
    run_tests debug
    ;;
  test-tsan)
    install_deps "${test_packages[@]}" "${sanitizer_packages[@]}"
    configure_and_build tsan RelWithDebInfo -DWEFT_SANITIZE=thread
    # With TZ unset, glibc's time-zone code re-reads the zone on calls such as mktime, freeing
    # and duplicating its name under a lock TSan cannot see: two threads converting times at
    # once (a log line's local time, a test's) look like a race inside libc. With TZ set (to the
    # same zone) glibc finds the name unchanged and touches nothing, so no suppression is needed.
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
      run_tests tsan -L grpc -E '^Weftctl(Test|AuthTest|TlsTest|AuditTest)\.'
    ;;
  test-asan)
    install_deps "${test_packages[@]}" "${sanitizer_packages[@]}"
    configure_and_build asan RelWithDebInfo -DWEFT_SANITIZE=address
    ASAN_OPTIONS="detect_leaks=1 abort_on_error=1 external_symbolizer_path=$(command -v llvm-symbolizer)" UBSAN_OPTIONS="halt_on_error=1 print_stacktrace=1" run_tests asan
    ;;
  image)
    install_deps "${image_packages[@]}"
    build_image
    ;;
  test-image)
    install_deps "${image_packages[@]}"
    build_image
    # The host's weftctl (the test drives the container from outside) and the load generator,
    # in a tree of their own (the release tree stays as `run` configures it).
    configure_and_build image-test Release -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_BENCH=ON \
      -- weftctl weft-load
    # Its own network namespace: only loopback, ports of its own, and the sysctl that moves
    # connections queued on a closing SO_REUSEPORT listener to its replacement.
    deploy/image/with-engine unshare --net -- sh -ec '
      ip link set lo up
      sysctl -qw net.ipv4.tcp_migrate_req=1
      exec /usr/bin/python3 tests/deploy/image_test.py "$@"' image_test \
      --image "$image" --weftctl "$build_root/image-test/client-cli/weftctl" \
      --load "$build_root/image-test/bench/weft-load" --source-dir "$root"
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
    echo "usage: deploy/build.sh run|test|check-thread-safety|test-tsan|test-asan|test-fuzz|image|test-image|deps" >&2
    exit 2
    ;;
esac

# shellcheck shell=bash disable=SC2034
# Shared by scripts/demo, scripts/test, scripts/chaos and scripts/format; source it, do not run it.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
#
# Provides: ERRAND_ROOT (the repository root), the Debian package lists, errand_ensure_packages
# (installs missing packages with apt-get when root), errand_configure and errand_build (CMake).

# The repository root, whatever the caller's working directory.
ERRAND_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export ERRAND_ROOT

# Debian 12 packages needed to build the library and the CLI.
ERRAND_BUILD_PACKAGES=(g++ cmake make pkg-config libsqlite3-dev libpq-dev nlohmann-json3-dev libfmt-dev
  libcli11-dev libhowardhinnant-date-dev tzdata libssl-dev libcpp-httplib-dev)
# ... and, in addition, to build and run the tests.
# prometheus: promtool, which checks the metrics exposition text (tests/conformance/metrics_conformance.cpp).
ERRAND_TEST_PACKAGES=(libgtest-dev libgmock-dev prometheus)

# ... and for the browser stage (node and npm come with the machine, or from nodejs and npm;
# promtool checks the standalone `errand web`'s /metrics).
ERRAND_BROWSER_PACKAGES=(chromium prometheus)

# The test builds' debug information: line tables only (-g1), which is what a backtrace, a
# sanitizer's report and a failing test's stack need; full -g made every compile about 25% slower.
ERRAND_LINE_TABLES_ARGS=(-DCMAKE_CXX_FLAGS_DEBUG=-g1 "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG")

# CMake options of build/test (RelWithDebInfo), shared by scripts/test's unit stage and
# scripts/chaos so that each reuses the other's build.
ERRAND_TEST_CMAKE_ARGS=(-DERRAND_BUILD_TESTS=ON -DERRAND_BUILD_TOOLS=ON -DERRAND_BUILD_EXAMPLES=ON
  -DERRAND_SANITIZE= "${ERRAND_LINE_TABLES_ARGS[@]}")

errand_log() { printf '==> %s\n' "$*" >&2; }
errand_warn() { printf 'warning: %s\n' "$*" >&2; }
errand_die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

errand_jobs() { nproc 2>/dev/null || echo 2; }

# True when the Debian package is installed.
errand_package_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# Set once `apt-get update` has run in this process, so it runs at most once.
ERRAND_APT_UPDATED=0

# errand_ensure_packages PKG...: installs the packages that are missing. As root, runs
# `apt-get update` (once, only if something is missing) and `apt-get install`; otherwise prints
# the command to run and exits 1. On a system without dpkg it only warns.
errand_ensure_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    errand_warn "not a Debian system (no dpkg-query): make sure these are installed: $*"
    return 0
  fi
  local missing=() pkg
  for pkg in "$@"; do
    errand_package_installed "$pkg" || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0

  if [[ $(id -u) -ne 0 ]]; then
    printf 'error: missing Debian packages: %s\n' "${missing[*]}" >&2
    printf 'Install them with:\n  sudo apt-get update && sudo apt-get install -y %s\n' \
      "${missing[*]}" >&2
    exit 1
  fi

  errand_log "installing missing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  local apt=(apt-get -o DPkg::Lock::Timeout=300 -q)
  if ((ERRAND_APT_UPDATED == 0)); then
    "${apt[@]}" update </dev/null || errand_die "apt-get update failed"
    ERRAND_APT_UPDATED=1
  fi
  "${apt[@]}" install -y --no-install-recommends "${missing[@]}" </dev/null ||
    errand_die "apt-get install ${missing[*]} failed"
  for pkg in "${missing[@]}"; do
    errand_package_installed "$pkg" || errand_die "package $pkg is still not installed"
  done
}

# errand_configure BUILD_DIR BUILD_TYPE [CMAKE_ARGS...]: configures the repository into
# BUILD_DIR (relative paths are taken from the repository root).
errand_configure() {
  local dir="$1" type="$2"
  shift 2
  [[ $dir = /* ]] || dir="$ERRAND_ROOT/$dir"
  errand_log "configuring $type build in ${dir#"$ERRAND_ROOT"/}"
  cmake -S "$ERRAND_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE="$type" "$@"
}

# errand_build BUILD_DIR [TARGET...]: builds the targets (all when none) with one job per core.
errand_build() {
  local dir="$1"
  shift
  [[ $dir = /* ]] || dir="$ERRAND_ROOT/$dir"
  local targets=()
  (($# > 0)) && targets=(--target "$@")
  errand_log "building ${*:-everything} in ${dir#"$ERRAND_ROOT"/} ($(errand_jobs) jobs)"
  cmake --build "$dir" --parallel "$(errand_jobs)" "${targets[@]}"
}

# errand_build_demo_cli: the Release build of the errand command in build/ that scripts/demo runs
# (the library and the CLI only, no tests, as unity files: about half the time of the per-file
# build); prints nothing but the build's own output.
errand_build_demo_cli() {
  errand_configure build Release -DERRAND_BUILD_TESTS=OFF -DERRAND_UNITY_BUILD=ON >/dev/null ||
    return 1
  errand_build build errand_cli
}

# errand_bench_binary ROOT: prints the path of the Release errand command the benchmarks measure
# (ROOT/build-bench/tools/errand/errand), building it first when it is missing or older than any
# source; returns non-zero when the build fails. The build's output goes to stderr.
errand_bench_binary() {
  local root=$1 bin="$1/build-bench/tools/errand/errand"
  if [[ ! -x $bin ]] || [[ -n $(find "$root/src" "$root/include" "$root/tools" "$root/cmake" \
    "$root/CMakeLists.txt" -newer "$bin" -type f 2>/dev/null | head -n 1) ]]; then
    errand_log "errand: building the Release binary in build-bench/"
    { cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release >&2 &&
      cmake --build "$root/build-bench" --target errand_cli -j2 >&2; } || return 1
  fi
  printf '%s\n' "$bin"
}

# Totals for a closing "N passed, N failed, N skipped" line, added to by run_ctest.
total_passed=0
total_failed=0
total_skipped=0

# run_ctest BUILD_DIR TIMEOUT [CTEST_ARGS...]: runs the tests of a build; adds its counts to the
# totals; returns non-zero when a test failed or none ran.
run_ctest() {
  local dir="$1" timeout="$2"
  shift 2
  local log="$dir/ctest.log"
  errand_log "ctest in $dir (per-test timeout ${timeout}s, $(errand_jobs) jobs)"
  ctest --test-dir "$dir" --output-on-failure --no-tests=error --timeout "$timeout" \
    --parallel "$(errand_jobs)" "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  # The slowest tests, for keeping scripts/test's duration in view.
  echo "slowest tests in $dir:"
  sed -nE 's/^.*Test +#[0-9]+: ([^ ]+) .* ([0-9]+\.[0-9]+) sec$/\2 \1/p' "$log" |
    sort -rn | head -n 8 | sed 's/^/  /'
  # "100% tests passed, 0 tests failed out of 42"
  local line
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
  if [[ $line =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
    local failed=${BASH_REMATCH[1]} total=${BASH_REMATCH[2]} skipped
    # Skipped tests (GTEST_SKIP) count as passed in ctest's percentage; list them apart.
    skipped=$(grep -cE '^[[:space:]]+[0-9]+ - .*\(Skipped\)$' "$log")
    total_passed=$((total_passed + total - failed - skipped))
    total_failed=$((total_failed + failed))
    total_skipped=$((total_skipped + skipped))
    ((failed == 0 && total > 0)) && ((rc == 0)) && return 0
    ((failed == 0)) && total_failed=$((total_failed + 1))
  else
    errand_warn "ctest in $dir printed no summary (no tests found, or it was killed)"
    total_failed=$((total_failed + 1))
  fi
  return 1
}

# shellcheck shell=bash disable=SC2034
# The ways an application consumes errand, checked by scripts/test's consumer stage:
# find_package(errand) and pkg-config against an installed errand, and add_subdirectory(errand).
# Source it after common.sh, do not run it.

# errand_consumer_build PREFIX BUILD_DIR [CMAKE_ARGS...]: configures and builds tests/consumer
# with find_package(errand), checks that the package found is the one installed under PREFIX, and
# runs the program on a fresh database in BUILD_DIR.
errand_consumer_build() {
  local prefix="$1" build="$2"
  shift 2
  cmake -S "$ERRAND_ROOT/tests/consumer" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF "$@" || return 1
  # It must have found the package just installed, not a build tree or another install.
  local found
  found=$(sed -n 's/^errand_DIR:PATH=//p' "$build/CMakeCache.txt")
  if [[ $found != "$prefix"/* ]]; then
    printf 'error: find_package(errand) used %s, not the package installed in %s\n' \
      "$found" "$prefix" >&2
    return 1
  fi
  cmake --build "$build" --parallel "$(errand_jobs)" || return 1
  errand_log "running the consumer"
  "$build/errand_consumer" "$build/consumer.db"
}

# errand_one_file PREFIX DIR: builds tests/consumer/one_file.cpp with nothing but g++ and
# `pkg-config --cflags --libs errand` (with the caller's PKG_CONFIG_PATH), checks that the errand.pc
# used is the one installed under PREFIX, and runs the program on a fresh database in DIR.
errand_one_file() {
  local prefix="$1" dir="$2" pc_dir flags version
  mkdir -p "$dir" || return 1
  pc_dir=$(pkg-config --variable=pcfiledir errand) || return 1
  if [[ $pc_dir != "$prefix"/* ]]; then
    printf 'error: pkg-config used the errand.pc in %s, not the one installed in %s\n' \
      "$pc_dir" "$prefix" >&2
    return 1
  fi
  flags=$(pkg-config --cflags --libs errand) || return 1
  version=$(pkg-config --modversion errand) || return 1
  errand_log "g++ tests/consumer/one_file.cpp \$(pkg-config --cflags --libs errand): $flags"
  # shellcheck disable=SC2086  # the flags are words
  g++ -o "$dir/one_file" "$ERRAND_ROOT/tests/consumer/one_file.cpp" $flags \
    -DEXPECTED_VERSION="\"$version\"" || return 1
  rm -f "$dir/one_file.db"*
  "$dir/one_file" "$dir/one_file.db"
}

# errand_check_werror BUILD_DIR TOP_LEVEL: reads BUILD_DIR/compile_commands.json: errand's own
# sources (src/) must have -Wall, and -Werror exactly when TOP_LEVEL is 1 (ERRAND_WERROR's
# default).
errand_check_werror() {
  local db="$1/compile_commands.json" top="$2" own count with
  own=$(grep '"command":' "$db" | grep -F -- "-c $ERRAND_ROOT/src/") || {
    printf 'error: no command for errand'"'"'s sources in %s\n' "$db" >&2
    return 1
  }
  count=$(wc -l <<<"$own")
  if grep -qv -- ' -Wall ' <<<"$own"; then
    printf 'error: %s: errand sources without -Wall\n' "$db" >&2
    return 1
  fi
  with=$(grep -c -- ' -Werror ' <<<"$own")
  if [[ $top == 1 && $with != "$count" ]] || [[ $top != 1 && $with != 0 ]]; then
    printf 'error: %s: %s of %s errand sources have -Werror (top-level project: %s)\n' \
      "$db" "$with" "$count" "$top" >&2
    return 1
  fi
  errand_log "$db: $count errand sources with -Wall, $with with -Werror"
}

# errand_check_subdirectory DIR: configures tests/subdirectory (a project that add_subdirectory()s
# errand) in DIR without building it: errand's sources get -Wall but not -Werror, the user's
# program neither.
errand_check_subdirectory() {
  local dir="$1" user
  mkdir -p "$dir" || return 1
  cmake -S "$ERRAND_ROOT/tests/subdirectory" -B "$dir" >"$dir/configure.log" 2>&1 || {
    cat "$dir/configure.log" >&2
    return 1
  }
  errand_check_werror "$dir" 0 || return 1
  user=$(grep '"command":' "$dir/compile_commands.json" | grep -F one_file.cpp) || {
    printf 'error: no command for the user program in %s\n' "$dir/compile_commands.json" >&2
    return 1
  }
  if grep -qE -- ' -W(all|extra|error) ' <<<"$user"; then
    printf 'error: errand passed its warning flags on to the user program: %s\n' "$user" >&2
    return 1
  fi
}

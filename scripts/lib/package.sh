# shellcheck shell=bash disable=SC2034
# The ways an application consumes errand, checked by scripts/test's consumer stage:
# add_subdirectory(errand). Source it after common.sh, do not run it.

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

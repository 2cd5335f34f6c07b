# shellcheck shell=bash disable=SC2034
# The ways an application consumes errand, checked by scripts/test's consumer and package stages:
# find_package(errand) and pkg-config against an installed errand, add_subdirectory(errand), and
# the Debian package. Source it after common.sh, do not run it.

# Debian packages cpack's DEB generator needs (dpkg-shlibdeps for the Depends line, and `file`).
ERRAND_PACKAGE_PACKAGES=(dpkg-dev file)

# What the .deb must depend on: shlibdeps' shared libraries of the errand command, and the -dev
# packages a program needs to build against the headers and the static library.
ERRAND_DEB_EXPECTED_DEPENDS=(libc6 libstdc++6 libgcc-s1 libfmt9 libpq5 libsqlite3-0 libdate-tz3
  nlohmann-json3-dev libfmt-dev libpq-dev libsqlite3-dev libhowardhinnant-date-dev libssl-dev
  libcpp-httplib-dev pkg-config)

# errand_consumer_build PREFIX BUILD_DIR [CMAKE_ARGS...]: configures and builds tests/consumer
# with find_package(errand), checks that the package found is the one installed under PREFIX, and
# runs the program on a fresh database in BUILD_DIR and the program's GoogleTest tests.
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
  "$build/errand_consumer" "$build/consumer.db" || return 1
  errand_log "running the consumer's dashboard (errand::web)"
  "$build/errand_consumer_web" "$build/consumer_web.db" || return 1
  errand_log "running the consumer's tests (errand::testing with GoogleTest)"
  "$build/errand_consumer_test"
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

# errand_deb_build BUILD_DIR OUT_DIR: runs cpack (DEB) in a configured BUILD_DIR, writing into
# OUT_DIR; prints the path of the .deb.
errand_deb_build() {
  local build="$1" out="$2" debs
  [[ $build = /* ]] || build="$ERRAND_ROOT/$build"
  mkdir -p "$out" || return 1
  errand_log "cpack -G DEB in ${build#"$ERRAND_ROOT"/}"
  cpack --config "$build/CPackConfig.cmake" -B "$out" >"$out/cpack.log" 2>&1 || {
    cat "$out/cpack.log" >&2
    return 1
  }
  debs=("$out"/errand_*.deb)
  if ((${#debs[@]} != 1)) || [[ ! -f ${debs[0]} ]]; then
    printf 'error: cpack wrote no single errand_*.deb into %s\n' "$out" >&2
    return 1
  fi
  printf '%s\n' "${debs[0]}"
}

# errand_deb_inspect DEB VERSION DIR: checks the control fields (dpkg-deb -I) and the files
# (dpkg-deb -c), extracts the package into DIR and checks errand.pc's prefix and the command.
errand_deb_inspect() {
  local deb="$1" version="$2" dir="$3" rc=0 field dep path
  mkdir -p "$dir" || return 1
  dpkg-deb -I "$deb" >"$dir/control.txt" || return 1
  sed -n '/^ [A-Z]/,$p' "$dir/control.txt" >&2  # the control fields
  for field in "Package: errand" "Version: $version" "Architecture: $(dpkg --print-architecture)"; do
    grep -qx " $field" "$dir/control.txt" || {
      printf 'error: the package has no "%s"\n' "$field" >&2
      rc=1
    }
  done
  local depends  # the package names, one a line
  depends=$(sed -n 's/^ Depends: //p' "$dir/control.txt" | tr ',' '\n' | sed 's/^ *//; s/[ (].*//')
  for dep in "${ERRAND_DEB_EXPECTED_DEPENDS[@]}"; do
    grep -qxF "$dep" <<<"$depends" || {
      printf 'error: Depends lacks %s\n' "$dep" >&2
      rc=1
    }
  done

  dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./|/|' >"$dir/files.txt" || return 1
  local expected=(/usr/bin/errand '/usr/lib/(.*/)?liberrand\.(a|so)'
    /usr/include/errand/version.hpp '/usr/lib/(.*/)?cmake/errand/errandConfig\.cmake'
    '/usr/lib/(.*/)?cmake/errand/errandConfigVersion\.cmake'
    '/usr/lib/(.*/)?cmake/errand/errandTargets\.cmake'
    '/usr/lib/(.*/)?liberrand_web\.(a|so)' '/usr/lib/(.*/)?cmake/errand/errandWebTargets\.cmake'
    '/usr/lib/(.*/)?pkgconfig/errand\.pc')
  for path in "$ERRAND_ROOT"/include/errand/*.hpp; do
    expected+=("/usr/include/errand/${path##*/}")
  done
  for path in "${expected[@]}"; do
    grep -qxE "$path" "$dir/files.txt" || {
      printf 'error: the package has no %s\n' "$path" >&2
      rc=1
    }
  done
  errand_log "the package holds $(grep -cv '/$' "$dir/files.txt") files, ${#expected[@]} checked"

  dpkg-deb -x "$deb" "$dir/root" || return 1
  local pc
  pc=$(find "$dir/root" -name errand.pc)
  grep -qx 'prefix=/usr' "$pc" || {
    printf 'error: %s does not say prefix=/usr:\n' "${pc#"$dir/root"}" >&2
    cat "$pc" >&2
    rc=1
  }
  local said
  said=$("$dir/root/usr/bin/errand" --version)
  [[ $said == "errand $version" ]] || {
    printf 'error: the packaged errand --version says "%s", not "errand %s"\n' "$said" \
      "$version" >&2
    rc=1
  }
  return "$rc"
}

# The installed Debian packages, sorted, one a line.
errand_installed_packages() {
  dpkg-query -W -f='${db:Status-Status} ${binary:Package}\n' | awk '$1 == "installed" {print $2}' |
    sort
}

# errand_deb_install_and_use DEB DIR (root only): installs the package with apt-get (which pulls
# in its dependencies), builds and runs the one-file program with pkg-config and tests/consumer
# with find_package against /usr, then removes errand and whatever the install pulled in, so the
# machine is left as found.
errand_deb_install_and_use() {
  local deb="$1" dir="$2" rc=0
  if errand_package_installed errand; then
    printf 'error: the errand package is already installed: not touching it\n' >&2
    return 1
  fi
  local apt=(apt-get -o DPkg::Lock::Timeout=300 -q -y)
  local -x DEBIAN_FRONTEND=noninteractive
  local before added
  before=$(errand_installed_packages)
  errand_log "apt-get install $deb"
  "${apt[@]}" install "$deb" </dev/null || rc=1
  mapfile -t added < <(comm -13 <(printf '%s\n' "$before") <(errand_installed_packages))
  errand_log "installed: ${added[*]}"

  if ((rc == 0)); then
    [[ $(command -v errand) == /usr/bin/errand ]] || {
      printf 'error: errand on PATH is %s\n' "$(command -v errand)" >&2
      rc=1
    }
    errand_log "pkg-config against /usr"
    (
      unset PKG_CONFIG_PATH
      errand_one_file /usr "$dir/one_file"
    ) || rc=1
    errand_log "find_package(errand) against /usr"
    errand_consumer_build /usr "$dir/consumer" || rc=1
  fi

  # errand itself too when a failed install left it unpacked but not installed.
  dpkg-query -W errand >/dev/null 2>&1 && ! grep -qxE 'errand(:.*)?' < <(printf '%s\n' "${added[@]}") &&
    added+=(errand)
  if ((${#added[@]})); then
    errand_log "apt-get remove ${added[*]}"
    "${apt[@]}" remove "${added[@]}" </dev/null || rc=1
  fi
  if errand_package_installed errand; then
    printf 'error: errand is still installed\n' >&2
    rc=1
  fi
  return "$rc"
}

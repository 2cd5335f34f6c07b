# What a program linking liberrand needs, read from the library's real link interface, for
# errand.pc (cmake/pkgconfig.cmake) and the Debian package (cmake/package.cmake). Sets:
#   ERRAND_PC_REQUIRES  pkg-config modules, e.g. "nlohmann_json >= 3.10, sqlite3, ..."
#   ERRAND_PC_LIBS      link flags that have no module (threads), with a leading space
#   ERRAND_PC_CFLAGS    compile flags the headers need (-std=c++20)
#   ERRAND_DEB_DEPENDS  Debian packages to compile and link against the headers and the library
include_guard(DIRECTORY)

# How each library errand may link is known outside CMake:
#   imported target | pkg-config module | Debian package [| link flags, for a library without a
#   pkg-config module]
# A dependency missing here stops the configure step, so neither file can fall behind.
set(ERRAND_KNOWN_DEPENDENCIES
  "nlohmann_json::nlohmann_json|nlohmann_json >= ${ERRAND_NLOHMANN_JSON_MIN}|nlohmann-json3-dev (>= ${ERRAND_NLOHMANN_JSON_MIN})"
  "SQLite::SQLite3|sqlite3|libsqlite3-dev"
  "PostgreSQL::PostgreSQL|libpq|libpq-dev"
  "fmt::fmt|fmt >= ${ERRAND_FMT_MIN}|libfmt-dev (>= ${ERRAND_FMT_MIN})"
  "date::date-tz||libhowardhinnant-date-dev|-ldate-tz"
  "OpenSSL::Crypto|libcrypto|libssl-dev")

# INTERFACE_LINK_LIBRARIES is what the exported errand::errand target hands to find_package
# users: the public dependencies, and for a static library the private ones too, as
# $<LINK_ONLY:...>. Build-tree-only entries ($<BUILD_INTERFACE:errand_warnings>) are not
# installed.
get_target_property(errand_link_interface errand INTERFACE_LINK_LIBRARIES)
set(ERRAND_PC_REQUIRES)
set(ERRAND_PC_LIBS)
set(ERRAND_DEB_DEPENDS)
foreach(item IN LISTS errand_link_interface)
  string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" item "${item}")
  if(item MATCHES "^\\$<BUILD_INTERFACE:")
    continue()
  endif()
  if(item STREQUAL "Threads::Threads")
    # Empty with glibc >= 2.34 (threads are in libc); -pthread or -lpthread elsewhere.
    list(APPEND ERRAND_PC_LIBS ${CMAKE_THREAD_LIBS_INIT})
    continue()
  endif()
  set(known FALSE)
  foreach(entry IN LISTS ERRAND_KNOWN_DEPENDENCIES)
    string(REPLACE "|" ";" fields "${entry}")
    list(GET fields 0 target)
    if(item STREQUAL target)
      list(GET fields 1 module)
      list(GET fields 2 package)
      if(module STREQUAL "")
        list(GET fields 3 flags)
        list(APPEND ERRAND_PC_LIBS "${flags}")
      else()
        list(APPEND ERRAND_PC_REQUIRES "${module}")
      endif()
      list(APPEND ERRAND_DEB_DEPENDS "${package}")
      set(known TRUE)
    endif()
  endforeach()
  if(NOT known)
    message(FATAL_ERROR "errand links '${item}', which has no pkg-config module and Debian "
      "package in ERRAND_KNOWN_DEPENDENCIES (cmake/dependencies.cmake)")
  endif()
endforeach()
list(JOIN ERRAND_PC_REQUIRES ", " ERRAND_PC_REQUIRES)
if(ERRAND_PC_LIBS)
  list(JOIN ERRAND_PC_LIBS " " ERRAND_PC_LIBS)
  string(PREPEND ERRAND_PC_LIBS " ")  # after -lerrand
endif()
list(JOIN ERRAND_DEB_DEPENDS ", " ERRAND_DEB_DEPENDS)

# The headers need the language standard the target requires of its users (cxx_std_20).
get_target_property(errand_features errand INTERFACE_COMPILE_FEATURES)
set(ERRAND_PC_CFLAGS)
foreach(feature IN LISTS errand_features)
  if(feature MATCHES "^cxx_std_([0-9]+)$")
    set(ERRAND_PC_CFLAGS "-std=c++${CMAKE_MATCH_1}")
  endif()
endforeach()

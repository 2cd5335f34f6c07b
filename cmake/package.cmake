# The Debian package, built by CPack in a configured build directory (Release, say):
#   cpack --config BUILD/CPackConfig.cmake -B BUILD/package     # BUILD/package/errand_0.1.0_amd64.deb
#   apt-get install ./BUILD/package/errand_*.deb
# One package, errand: the errand command, the library, its headers, and the CMake and
# pkg-config files, under /usr. Depends: the shared libraries the command and the library load
# (dpkg-shlibdeps, from dpkg-dev; it also needs `file`) and the -dev packages a program needs to
# compile and link against errand (cmake/dependencies.cmake).
include(${CMAKE_CURRENT_LIST_DIR}/dependencies.cmake)

if(BUILD_SHARED_LIBS)
  set(library_kind "shared library")
else()
  set(library_kind "static library")
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME errand)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_DESCRIPTION "\
errand stores an application's background jobs in SQLite or PostgreSQL and
runs them in worker threads, with retries, a dead-letter queue and rescue of
lost workers' jobs. This package holds the errand command-line tool, the
${library_kind} liberrand with its C++20 headers, the web dashboard's library
liberrand_web, and the files for find_package(errand) and pkg-config.")
set(ERRAND_PACKAGE_CONTACT "errand maintainers <maintainers@errand.invalid>" CACHE STRING
  "Maintainer field of the Debian package")
set(CPACK_PACKAGE_CONTACT "${ERRAND_PACKAGE_CONTACT}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# errand.pc's prefix (cmake/pkgconfig.cmake): where the files live once the package is installed.
set(CPACK_CUSTOM_INSTALL_VARIABLES "ERRAND_PACKAGING_PREFIX=${CPACK_PACKAGING_INSTALL_PREFIX}")
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # errand_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${ERRAND_DEB_DEPENDS}")  # shlibdeps' list is appended
if(TARGET errand_web)
  # find_package(errand COMPONENTS web) finds cpp-httplib with pkg-config (errandConfig.cmake).
  string(APPEND CPACK_DEBIAN_PACKAGE_DEPENDS ", libcpp-httplib-dev (>= 0.11), pkg-config")
endif()
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "cmake, pkg-config")

include(CPack)

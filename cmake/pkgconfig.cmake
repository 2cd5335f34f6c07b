# errand.pc, installed to <libdir>/pkgconfig, so that after an install
#   g++ -std=c++20 main.cpp $(pkg-config --cflags --libs errand)
# builds a program (PKG_CONFIG_PATH=<prefix>/<libdir>/pkgconfig for a prefix pkg-config does not
# search). Requires/Libs come from the library's link interface (cmake/dependencies.cmake): for
# the static library they include its private dependencies, so no --static is needed.
#
# The prefix is written at install time, so that `cmake --install --prefix DIR` and cpack
# (ERRAND_PACKAGING_PREFIX, cmake/package.cmake; CMAKE_INSTALL_PREFIX is then cpack's staging
# directory) each get their own.
include(${CMAKE_CURRENT_LIST_DIR}/dependencies.cmake)

foreach(kind IN ITEMS LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${kind}}")
    set(ERRAND_PC_${kind} "${CMAKE_INSTALL_${kind}}")
  else()
    set(ERRAND_PC_${kind} "\${prefix}/${CMAKE_INSTALL_${kind}}")
  endif()
endforeach()
set(ERRAND_PC_PREFIX "@ERRAND_PC_PREFIX@")  # kept for the install step
configure_file(${CMAKE_CURRENT_LIST_DIR}/errand.pc.in ${PROJECT_BINARY_DIR}/errand.pc.in @ONLY)

install(CODE "set(errand_pc_in [[${PROJECT_BINARY_DIR}/errand.pc.in]])")
install(CODE [[
  if(DEFINED ERRAND_PACKAGING_PREFIX)
    set(ERRAND_PC_PREFIX "${ERRAND_PACKAGING_PREFIX}")
  else()
    set(ERRAND_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  endif()
  string(REGEX REPLACE "(.)/+$" "\\1" ERRAND_PC_PREFIX "${ERRAND_PC_PREFIX}")
  configure_file("${errand_pc_in}" "${errand_pc_in}.installed" @ONLY)
]])
install(FILES ${PROJECT_BINARY_DIR}/errand.pc.in.installed
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig RENAME errand.pc)

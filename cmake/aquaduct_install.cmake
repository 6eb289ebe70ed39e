# What `cmake --install` puts where (GNUInstallDirs), and the names a consumer sees.
#
#   <prefix>/bin/aquaduct                          the command
#   <prefix>/include/aquaduct/*.hpp                the public headers (emulator.hpp too)
#   <prefix>/lib/libaquaduct_*.a                   the static module libraries
#   <prefix>/lib/cmake/aquaduct/                   find_package(aquaduct) -> aquaduct::aquaduct, aquaduct::emulator
#   <prefix>/lib/pkgconfig/aquaduct.pc             pkg-config --cflags --libs aquaduct
#
# The libraries stay one static archive per module (their link order is in the
# exported targets and in aquaduct.pc); llhttp, compiled here from Debian's
# node-llhttp sources, is installed as libaquaduct_llhttp.a, so a consumer needs
# neither node-llhttp nor asio. The other dependencies are Debian -dev packages
# the consumer must have: aquaduct-config.cmake finds each and names the one missing.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# aquaduct::emulator, the local AQuA service, for embedders' own tests: its one
# header is <aquaduct/emulator.hpp>.
add_library(aquaduct_emulator_api INTERFACE)
add_library(aquaduct::emulator ALIAS aquaduct_emulator_api)
target_link_libraries(aquaduct_emulator_api INTERFACE aquaduct_emulator)
target_compile_features(aquaduct_emulator_api INTERFACE cxx_std_20)

# The public headers use C++20 (<span>): consumers compile with it.
target_compile_features(aquaduct INTERFACE cxx_std_20)

# Exported as aquaduct::<name>: the two a consumer links, and the static libraries under them.
set(aquaduct_exported aquaduct aquaduct_emulator_api aquaduct_engine aquaduct_sinks aquaduct_fileio aquaduct_transport aquaduct_decode
    aquaduct_llhttp aquaduct_asio aquaduct_emulator aquaduct_emulator_data)
foreach(target IN LISTS aquaduct_exported)
  string(REGEX REPLACE "^aquaduct_" "" export_name ${target})  # aquaduct_engine -> aquaduct::engine
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${export_name})
endforeach()
set_target_properties(aquaduct_emulator_api PROPERTIES EXPORT_NAME emulator)
set_target_properties(aquaduct_emulator PROPERTIES EXPORT_NAME emulator_server)

option(AQUADUCT_INSTALL "Generate the install rules" ${PROJECT_IS_TOP_LEVEL})
if(NOT AQUADUCT_INSTALL)
  return()
endif()

set(AQUADUCT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/aquaduct)

install(TARGETS ${aquaduct_exported} EXPORT aquaduct_targets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(TARGET aquaduct_cli)
  install(TARGETS aquaduct_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/aquaduct DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.hpp")

install(EXPORT aquaduct_targets NAMESPACE aquaduct:: FILE aquaduct-targets.cmake DESTINATION ${AQUADUCT_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/aquaduct-config.cmake.in
  ${PROJECT_BINARY_DIR}/aquaduct-config.cmake INSTALL_DESTINATION ${AQUADUCT_CMAKE_DIR})
# 0.x: a minor version may break the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/aquaduct-config-version.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/aquaduct-config.cmake ${PROJECT_BINARY_DIR}/aquaduct-config-version.cmake
  DESTINATION ${AQUADUCT_CMAKE_DIR})

# aquaduct.pc. The libraries are static only, so their dependencies are link
# requirements of every consumer: Requires, not Requires.private (which
# `pkg-config --libs` without --static leaves out). The prefix is found from the
# file's own place, so `cmake --install --prefix DIR` needs no reconfigure.
file(RELATIVE_PATH AQUADUCT_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)  # "../.."
string(REGEX REPLACE "/$" "" AQUADUCT_PC_TO_PREFIX "${AQUADUCT_PC_TO_PREFIX}")
set(AQUADUCT_PC_LINK_OPTIONS "")
if(AQUADUCT_SANITIZE)
  set(AQUADUCT_PC_LINK_OPTIONS " -fsanitize=address,undefined")  # the archives carry sanitized code
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/aquaduct.pc.in ${PROJECT_BINARY_DIR}/aquaduct.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/aquaduct.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

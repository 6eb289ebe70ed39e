# Every third-party dependency, found once. All come from Debian 12 packages
# (scripts/install-deps.sh).
find_package(Threads REQUIRED)
find_package(ZLIB REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(fmt REQUIRED)
find_package(simdjson REQUIRED)
find_package(tomlplusplus REQUIRED)
# The emulator's zip result files (emulator/result_writer.cpp); the zip fuzz
# target's oracle and decode_bench's comparison read with it.
find_package(LibArchive REQUIRED)
# describe's XML (decode/describe_xml.cpp)
find_package(EXPAT REQUIRED)
# IANA time zones (the tenant's and the data centre's wall clocks): Howard Hinnant's
# date/tz over the system's tzdata (g++ 12's <chrono> has no time zones).
find_package(date REQUIRED)
if(AQUADUCT_BUILD_CLI)
  find_package(CLI11 REQUIRED)
endif()
find_package(PkgConfig REQUIRED)
pkg_check_modules(ISAL REQUIRED IMPORTED_TARGET libisal)
# OpenPGP decryption of encrypted results, in process (docs/architecture.md, "PGP-encrypted results").
pkg_check_modules(RNP REQUIRED IMPORTED_TARGET librnp)

# Standalone Asio is header-only.
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
add_library(aquaduct_asio INTERFACE)
# Build-tree only: the public headers need no asio (engine.hpp declares asio::io_context).
target_include_directories(aquaduct_asio SYSTEM INTERFACE $<BUILD_INTERFACE:${ASIO_INCLUDE_DIR}>)
target_compile_definitions(aquaduct_asio INTERFACE ASIO_STANDALONE ASIO_NO_DEPRECATED)
target_link_libraries(aquaduct_asio INTERFACE Threads::Threads)

# llhttp: Debian's node-llhttp ships the generated C sources; we compile them in.
find_path(LLHTTP_INCLUDE_DIR llhttp.h PATHS /usr/share/include/llhttp REQUIRED NO_DEFAULT_PATH)
find_path(LLHTTP_SOURCE_DIR llhttp.c PATHS /usr/share/llhttp REQUIRED NO_DEFAULT_PATH)
add_library(aquaduct_llhttp STATIC
  ${LLHTTP_SOURCE_DIR}/api.c ${LLHTTP_SOURCE_DIR}/http.c ${LLHTTP_SOURCE_DIR}/llhttp.c)
# Build-tree only: installed, this is libaquaduct_llhttp.a and consumers need no llhttp.h.
target_include_directories(aquaduct_llhttp SYSTEM PUBLIC $<BUILD_INTERFACE:${LLHTTP_INCLUDE_DIR}>)
set_target_properties(aquaduct_llhttp PROPERTIES C_STANDARD 99)
target_compile_options(aquaduct_llhttp PRIVATE -w)

if(AQUADUCT_BUILD_TESTS)
  find_package(doctest REQUIRED)
endif()

# Sinks: libpq for postgres, SQLite for sqlite.
find_package(PostgreSQL REQUIRED)
find_package(SQLite3 REQUIRED)

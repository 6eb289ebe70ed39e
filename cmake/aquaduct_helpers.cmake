# aquaduct_add_module(NAME SOURCES ... [DEPS ...])
#   A static library aquaduct_<NAME> with the project's warnings, built from one
#   folder of the house. Its public include root is the project root (so code
#   includes "decode/csv_parser.hpp") plus include/ (so code includes <aquaduct/...>).
# aquaduct_add_test(NAME SOURCES ... [DEPS ...])
#   A doctest binary registered with ctest.

set(AQUADUCT_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
    -Wnon-virtual-dtor -Wold-style-cast -Werror)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # g++ 12 raises a false positive on coroutine frames; this is the only warning we silence.
  list(APPEND AQUADUCT_WARNINGS -Wno-mismatched-new-delete)
endif()

function(aquaduct_apply_options target)
  target_compile_options(${target} PRIVATE ${AQUADUCT_WARNINGS})
  if(AQUADUCT_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer
                                             -fno-sanitize-recover=undefined)
    target_link_options(${target} PUBLIC -fsanitize=address,undefined)
  endif()
endfunction()

function(aquaduct_add_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(aquaduct_${name} STATIC ${ARG_SOURCES})
  target_include_directories(aquaduct_${name} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>)
  target_link_libraries(aquaduct_${name} PUBLIC ${ARG_DEPS})
  aquaduct_apply_options(aquaduct_${name})
endfunction()

function(aquaduct_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(test_${name} ${ARG_SOURCES} ${PROJECT_SOURCE_DIR}/tests/support/doctest_main.cpp)
  target_link_libraries(test_${name} PRIVATE doctest::doctest ${ARG_DEPS})
  target_include_directories(test_${name} PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/tests)
  # doctest then includes <ostream> itself, so std::error_code values print in failures.
  target_compile_definitions(test_${name} PRIVATE DOCTEST_CONFIG_USE_STD_HEADERS)
  aquaduct_apply_options(test_${name})
  add_test(NAME ${name} COMMAND test_${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT 600)
endfunction()

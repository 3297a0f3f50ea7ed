# Install test, run by ctest as `cmake -D... -P run_consumer.cmake`:
#   1. cmake --install AG_BUILD_DIR --prefix AG_BUILD_DIR/install-test
#   2. configure tests/consumer against that prefix in AG_BUILD_DIR/consumer-build
#      (same compiler, flags and build type as the ag build), build it
#   3. run it; it exits 0 only if the gradient is right
# Any failure is a FATAL_ERROR, which fails the test.
foreach(var AG_BUILD_DIR AG_CONSUMER_SOURCE_DIR AG_CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT AG_CONFIG)
  set(AG_CONFIG Release)
endif()

set(prefix "${AG_BUILD_DIR}/install-test")
set(consumer_build "${AG_BUILD_DIR}/consumer-build")

function(run step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_consumer: ${step} failed (${rc}): ${ARGN}")
  endif()
endfunction()

file(REMOVE_RECURSE "${prefix}" "${consumer_build}")
run(install "${CMAKE_COMMAND}" --install "${AG_BUILD_DIR}" --prefix "${prefix}" --config "${AG_CONFIG}")

set(generator_args)
if(AG_GENERATOR)
  set(generator_args -G "${AG_GENERATOR}")
endif()
run(configure "${CMAKE_COMMAND}" -S "${AG_CONSUMER_SOURCE_DIR}" -B "${consumer_build}" ${generator_args}
  "-DCMAKE_PREFIX_PATH=${prefix}"
  "-DCMAKE_CXX_COMPILER=${AG_CXX_COMPILER}"
  "-DCMAKE_CXX_FLAGS=${AG_CXX_FLAGS}"
  "-DCMAKE_EXE_LINKER_FLAGS=${AG_EXE_LINKER_FLAGS}"
  "-DCMAKE_BUILD_TYPE=${AG_CONFIG}"
  # Find ag in the test prefix only, never in a system-wide or user package registry.
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
run(build "${CMAKE_COMMAND}" --build "${consumer_build}" --config "${AG_CONFIG}")

set(program "${consumer_build}/ag_consumer")
if(NOT EXISTS "${program}" AND EXISTS "${consumer_build}/${AG_CONFIG}/ag_consumer")
  set(program "${consumer_build}/${AG_CONFIG}/ag_consumer")  # multi-config generators
endif()
run(run "${program}")
message(STATUS "install_consumer: ok (ag installed in ${prefix})")

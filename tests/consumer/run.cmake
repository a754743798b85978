# CTest consumer.find_package: the installed core works from another CMake project.
#   cmake -DCATDOG_BUILD=... -DCATDOG_SOURCE=... -DCATDOG_CLI=... -DWORK=... -DGENERATOR=... -P run.cmake
# 1. cmake --install the build tree into WORK/prefix (nothing else there: a clean prefix);
# 2. configure + build tests/consumer against it with find_package(catdog) only;
# 3. run it on a shipped model and a photo (WORK/cat.bmp, made here from the real data's PetImages
#    Cat/5.jpg, never committed: scaled to 128 px wide by ffmpeg, 24-bit BMP); its P(dog) and label must
#    equal `catdog predict`'s (same core, same pixels; P(dog) 0.1220 there, so the 4 printed decimals mean
#    something) and it must report the model verified. The data: $CATDOG_DATA, else CATDOG_SOURCE/../shared/data.
foreach(v CATDOG_BUILD CATDOG_SOURCE CATDOG_CLI WORK GENERATOR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run.cmake: -D${v}=... is required")
  endif()
endforeach()
set(model ${CATDOG_SOURCE}/web/models/catnet-aug)
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()

set(data "$ENV{CATDOG_DATA}")
if(data STREQUAL "")
  set(data ${CATDOG_SOURCE}/../shared/data)
endif()
set(photo ${data}/PetImages/Cat/5.jpg)
if(NOT EXISTS ${photo})
  message(FATAL_ERROR "missing ${photo}: the real photos (clone with shared/ beside the repo, or set CATDOG_DATA)")
endif()
find_program(FFMPEG ffmpeg)
if(NOT FFMPEG)
  message(FATAL_ERROR "ffmpeg not found (Debian package ffmpeg; scripts/deps installs it)")
endif()
set(image ${WORK}/cat.bmp)
run("ffmpeg (the test photo)" ${FFMPEG} -v error -y -i ${photo} -vf scale=128:-1 -pix_fmt bgr24 ${image})

run("cmake --install" ${CMAKE_COMMAND} --install ${CATDOG_BUILD} --prefix ${WORK}/prefix)
foreach(f include/catdog/catdog.h lib/cmake/catdog/catdogConfig.cmake lib/cmake/catdog/catdogTargets.cmake)
  if(NOT EXISTS ${WORK}/prefix/${f})
    message(FATAL_ERROR "cmake --install did not write ${f}")
  endif()
endforeach()
# Relocatable: move the prefix before using it.
file(RENAME ${WORK}/prefix ${WORK}/moved-prefix)
run("configure the consumer" ${CMAKE_COMMAND} -S ${CATDOG_SOURCE}/tests/consumer -B ${WORK}/build -G ${GENERATOR}
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=${WORK}/moved-prefix)
run("build the consumer" ${CMAKE_COMMAND} --build ${WORK}/build)
run("the consumer" ${WORK}/build/classify ${model} ${image})
set(consumer "${out}")
message(STATUS "consumer:\n${consumer}")
if(NOT consumer MATCHES "model verified \\(([0-9]+)/([0-9]+)\\)" OR NOT CMAKE_MATCH_1 EQUAL CMAKE_MATCH_2)
  message(FATAL_ERROR "the consumer did not report the model verified:\n${consumer}")
endif()
if(NOT consumer MATCHES "P\\(dog\\)=([0-9.]+) label=(cat|dog)")
  message(FATAL_ERROR "no P(dog) in the consumer's output:\n${consumer}")
endif()
set(p_consumer ${CMAKE_MATCH_1})
set(label_consumer ${CMAKE_MATCH_2})

run("catdog predict" ${CATDOG_CLI} predict --model ${model} ${image})
if(NOT out MATCHES "(cat|dog)  P\\(dog\\)=([0-9.]+)")
  message(FATAL_ERROR "no P(dog) in catdog predict's output:\n${out}")
endif()
message(STATUS "catdog predict: ${out}")
# Same core, same backend, same pixels: the same float, so the same 4 printed decimals.
if(NOT p_consumer STREQUAL CMAKE_MATCH_2 OR NOT label_consumer STREQUAL CMAKE_MATCH_1)
  message(FATAL_ERROR "consumer P(dog)=${p_consumer} ${label_consumer}, catdog predict P(dog)=${CMAKE_MATCH_2} ${CMAKE_MATCH_1}")
endif()
if(NOT label_consumer STREQUAL "cat")
  message(FATAL_ERROR "${photo} (a real cat photo) was classified as ${label_consumer}")
endif()
file(REMOVE_RECURSE ${WORK})

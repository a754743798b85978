# The trainer's folders form a ladder (trainer/CMakeLists.txt, docs/DESIGN.md "Layout"):
#   cli -> eval -> export -> train -> train/cuda -> model -> data   (-> shared/, the core)
# A source may include a header of its own folder or of a folder below it, never one above.
# The build enforces it through each library's include folders; this script checks the sources
# themselves, so a new library that makes a wider folder public cannot hide a wrong include.
#
#   cmake -DTRAINER_DIR=<repo>/trainer -P check_layers.cmake      (ctest: trainer.LayerDirection)
# Fails naming every offending file, line and header.
if(NOT TRAINER_DIR)
  message(FATAL_ERROR "check_layers.cmake: pass -DTRAINER_DIR=<repo>/trainer")
endif()

# Bottom first: a folder's rank is its place in this list.
set(ladder data model train/cuda train export eval cli)

# Which folder each trainer header lives in.
foreach(folder ${ladder})
  file(GLOB headers RELATIVE "${TRAINER_DIR}/${folder}" "${TRAINER_DIR}/${folder}/*.h")
  if(NOT headers AND NOT EXISTS "${TRAINER_DIR}/${folder}")
    message(FATAL_ERROR "check_layers.cmake: ${TRAINER_DIR}/${folder} does not exist (update the ladder)")
  endif()
  foreach(h ${headers})
    if(DEFINED owner_${h})
      message(FATAL_ERROR "check_layers.cmake: ${h} exists in both ${owner_${h}}/ and ${folder}/")
    endif()
    set(owner_${h} ${folder})
  endforeach()
endforeach()

# A source file directly in the trainer root or in a folder outside the ladder has no rank.
file(GLOB_RECURSE all_sources RELATIVE "${TRAINER_DIR}" "${TRAINER_DIR}/*.h" "${TRAINER_DIR}/*.cpp" "${TRAINER_DIR}/*.cu")
set(errors "")
foreach(src ${all_sources})
  get_filename_component(folder "${src}" DIRECTORY)
  list(FIND ladder "${folder}" rank)
  if(rank LESS 0)
    string(APPEND errors "  trainer/${src}: folder '${folder}' is not in the ladder\n")
    continue()
  endif()
  file(STRINGS "${TRAINER_DIR}/${src}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  foreach(line ${lines})
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\".*" "\\1" header "${line}")
    if(NOT DEFINED owner_${header})
      continue()  # not a trainer header (catdog/..., a system or third-party one)
    endif()
    list(FIND ladder "${owner_${header}}" header_rank)
    if(header_rank GREATER rank)
      string(APPEND errors "  trainer/${src} (${folder}/) includes \"${header}\" of ${owner_${header}}/, a folder above it\n")
    endif()
  endforeach()
endforeach()

if(errors)
  string(REPLACE ";" " < " ladder_text "${ladder}")
  message(FATAL_ERROR "trainer includes that go up the ladder (${ladder_text}):\n${errors}")
endif()
list(LENGTH all_sources n)
message(STATUS "trainer: ${n} files, every include goes down the ladder")

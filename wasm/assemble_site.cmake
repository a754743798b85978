# cmake -DSRC=web -DDST=build/wasm/site -DWASM_JS=x.js -DWASM_BIN=x.wasm [-DWASM_MT=base] [-DWASM_SCALAR=base]
#       [-DFFLATE=fflate/esm/browser.js] -P assemble_site.cmake
# Copies the static site (not the node server) and the wasm module into DST, replacing what a
# previous run left there, so files removed from web/ disappear from the site too.
if(NOT SRC OR NOT DST)
  message(FATAL_ERROR "assemble_site.cmake: SRC and DST are required")
endif()
set(TMP "${DST}.tmp")
file(REMOVE_RECURSE "${TMP}")
file(MAKE_DIRECTORY "${TMP}")
file(COPY "${SRC}/" DESTINATION "${TMP}"
     PATTERN "serve.mjs" EXCLUDE
     PATTERN "*.tmp" EXCLUDE
     PATTERN ".*" EXCLUDE)
set(files "${WASM_JS}" "${WASM_BIN}")
if(WASM_MT)  # the threads variant: <base>.js, <base>.wasm, <base>.worker.js
  list(APPEND files "${WASM_MT}.js" "${WASM_MT}.wasm" "${WASM_MT}.worker.js")
endif()
if(WASM_SCALAR)  # the variant without wasm SIMD: <base>.js, <base>.wasm
  list(APPEND files "${WASM_SCALAR}.js" "${WASM_SCALAR}.wasm")
endif()
foreach(f IN LISTS files)
  if(NOT EXISTS "${f}")
    message(FATAL_ERROR "assemble_site.cmake: missing wasm output ${f}")
  endif()
  file(COPY "${f}" DESTINATION "${TMP}")
endforeach()
# vendor/fflate.js: the zip library the page loads when it exports marked frames.
if(FFLATE)
  if(NOT EXISTS "${FFLATE}")
    message(FATAL_ERROR "assemble_site.cmake: missing ${FFLATE} (the site ships the npm package fflate): run scripts/deps (or `npm ci`)")
  endif()
  file(MAKE_DIRECTORY "${TMP}/vendor")
  file(COPY_FILE "${FFLATE}" "${TMP}/vendor/fflate.js")
endif()
# Tell catdog-core.js whether the threads build is there (so it never asks for a missing file).
file(READ "${TMP}/catdog-core.js" core_js)
set(marker "/* @CATDOG_SITE_THREADS@ */ false")
string(FIND "${core_js}" "${marker}" at)
if(at LESS 0)
  message(FATAL_ERROR "assemble_site.cmake: ${SRC}/catdog-core.js lacks the marker '${marker}'")
endif()
if(WASM_MT)
  string(REPLACE "${marker}" "true" core_js "${core_js}")
endif()
# ... and whether the build without wasm SIMD is.
set(marker "/* @CATDOG_SITE_SCALAR@ */ false")
string(FIND "${core_js}" "${marker}" at)
if(at LESS 0)
  message(FATAL_ERROR "assemble_site.cmake: ${SRC}/catdog-core.js lacks the marker '${marker}'")
endif()
if(WASM_SCALAR)
  string(REPLACE "${marker}" "true" core_js "${core_js}")
endif()
file(WRITE "${TMP}/catdog-core.js" "${core_js}")
file(REMOVE_RECURSE "${DST}")
file(RENAME "${TMP}" "${DST}")

# cmake -DSRC=web -DDST=build/wasm/site -DWASM_JS=x.js -DWASM_BIN=x.wasm [-DWASM_MT=base] [-DWASM_SCALAR=base]
#       [-DFFLATE=fflate/esm/browser.js] [-DTERSER=terser/bin/terser -DNODE=node] -P assemble_site.cmake
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
# Tell catdog-core.js which optional builds are there (so it never asks for a missing file): the
# threads build and the build without wasm SIMD. Each flag is a marker "/* @NAME@ */ false".
file(READ "${TMP}/catdog-core.js" core_js)
foreach(pair "CATDOG_SITE_THREADS;WASM_MT" "CATDOG_SITE_SCALAR;WASM_SCALAR")
  list(GET pair 0 name)
  list(GET pair 1 present)
  set(marker "/* @${name}@ */ false")
  string(FIND "${core_js}" "${marker}" at)
  if(at LESS 0)
    message(FATAL_ERROR "assemble_site.cmake: ${SRC}/catdog-core.js lacks the marker '${marker}'")
  endif()
  if(${present})
    string(REPLACE "${marker}" "true" core_js "${core_js}")
  endif()
endforeach()
file(WRITE "${TMP}/catdog-core.js" "${core_js}")
# The page's own JS modules, minified with terser (comments and whitespace are most of their
# weight); the sources in web/ stay readable. Not sw.js (its markers are filled in below). The
# emscripten glue (catdog_wasm*.js) too: emcc 3.1.6 without closure only
# strips its whitespace, and terser's mangling of its local names takes 1.8 KB gzip off
# catdog_wasm.js and 2.9 KB off catdog_wasm_mt.js (its Module["..."] keys and the wasm import
# names are strings, which terser keeps). Not catdog_wasm_mt.worker.js: a classic worker script,
# whose top-level names are globals.
if(TERSER)
  if(NOT EXISTS "${TERSER}" OR NOT NODE)
    message(FATAL_ERROR "assemble_site.cmake: missing ${TERSER} or node (the site is minified with the npm package terser): run scripts/deps (or `npm ci`)")
  endif()
  file(GLOB_RECURSE page_js RELATIVE "${TMP}" "${TMP}/*.js")
  foreach(f IN LISTS page_js)
    if(f STREQUAL "sw.js" OR f MATCHES "\\.worker\\.js$" OR f MATCHES "^(vendor|models)/")
      continue()
    endif()
    # The glue keeps the name Module and its Module["_catdog_x"] spelling (properties=false): the
    # ABI test (tests/web/wasm-abi.test.mjs) reads the exports from there.
    set(opts --compress --mangle)
    if(f MATCHES "^catdog_wasm")
      set(opts --compress properties=false --mangle "reserved=['Module']")
    endif()
    execute_process(COMMAND "${NODE}" "${TERSER}" "${TMP}/${f}" --module ${opts} -o "${TMP}/${f}"
                    RESULT_VARIABLE rc ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "assemble_site.cmake: terser failed on ${SRC}/${f}: ${err}")
    endif()
  endforeach()
endif()
# sw.js (the offline page): its cache version is a hash of every file of the site, so any change
# (new wasm, new JS, a retrained model) makes a new cache and the old one is deleted; and its list
# of files to keep is the site's own files outside models/ (the report page included; of the
# models, sw.js keeps the default one at install and the others on first use).
if(EXISTS "${TMP}/sw.js")
  file(GLOB_RECURSE site_files RELATIVE "${TMP}" "${TMP}/*")
  list(SORT site_files)
  set(hashes "")
  set(precache "'./'")
  foreach(f IN LISTS site_files)
    if(f STREQUAL "sw.js")
      continue()
    endif()
    file(SHA256 "${TMP}/${f}" h)
    string(APPEND hashes "${f} ${h}\n")
    # The build for browsers without wasm SIMD is left to first use: a SIMD browser never loads it.
    if(NOT f MATCHES "^models/" AND NOT f MATCHES "^catdog_wasm_scalar\\.")
      string(APPEND precache ", '${f}'")
    endif()
  endforeach()
  string(SHA256 version "${hashes}")
  string(SUBSTRING "${version}" 0 16 version)
  file(READ "${TMP}/sw.js" sw_js)
  foreach(m "/* @CATDOG_SITE_VERSION@ */ 'dev'" "/* @CATDOG_SITE_FILES@ */ [")
    string(FIND "${sw_js}" "${m}" at)
    if(at LESS 0)
      message(FATAL_ERROR "assemble_site.cmake: ${SRC}/sw.js lacks the marker '${m}'")
    endif()
  endforeach()
  string(REPLACE "/* @CATDOG_SITE_VERSION@ */ 'dev'" "'${version}'" sw_js "${sw_js}")
  # the dev list runs from the marker to the first "];"
  string(FIND "${sw_js}" "/* @CATDOG_SITE_FILES@ */ [" at)
  string(SUBSTRING "${sw_js}" ${at} -1 rest)
  string(FIND "${rest}" "];" end)
  string(SUBSTRING "${rest}" 0 ${end} dev_list)
  string(REPLACE "${dev_list}" "[${precache}" sw_js "${sw_js}")
  file(WRITE "${TMP}/sw.js" "${sw_js}")
endif()
file(REMOVE_RECURSE "${DST}")
file(RENAME "${TMP}" "${DST}")

# Installs the console's npm packages (npm ci, from package-lock.json) when node_modules is
# missing or older than the lockfile, then records the lockfile's hash in STAMP; STAMP is
# rewritten only when that hash changes, so what depends on it rebuilds only then.
# Several build trees share DIR/node_modules: LOCK_FILE keeps two of them from installing at once.
# Usage: cmake -DNPM=npm -DDIR=console -DSTAMP=file -DLOCK_FILE=file -P npm_ci.cmake
cmake_minimum_required(VERSION 3.25)
get_filename_component(lock_dir ${LOCK_FILE} DIRECTORY)
file(MAKE_DIRECTORY ${lock_dir})
file(LOCK ${LOCK_FILE} GUARD PROCESS TIMEOUT 900)
set(lock ${DIR}/package-lock.json)
# npm writes node_modules/.package-lock.json last, on every install.
set(installed ${DIR}/node_modules/.package-lock.json)
set(need FALSE)
if(NOT EXISTS ${installed})
  set(need TRUE)
elseif(${lock} IS_NEWER_THAN ${installed} AND NOT ${installed} IS_NEWER_THAN ${lock})
  set(need TRUE)  # strictly newer (IS_NEWER_THAN is also true for equal times)
endif()
if(need)
  message(STATUS "console: npm ci (packages from the npm registry, as package-lock.json pins)")
  execute_process(COMMAND ${NPM} ci --no-audit --no-fund
    WORKING_DIRECTORY ${DIR} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "console: `npm ci` in ${DIR} failed (exit ${rc}). The build fetches "
      "the console's packages from the npm registry (see npm's output above): check the network "
      "or npm's proxy/registry settings (npm config get registry), or configure with "
      "-DBERTH_CONSOLE_DIST=DIR naming a console built elsewhere (node build.mjs DIR).")
  endif()
endif()
file(SHA256 ${lock} hash)
file(WRITE ${STAMP}.tmp "${hash}\n")
file(COPY_FILE ${STAMP}.tmp ${STAMP} ONLY_IF_DIFFERENT)
file(REMOVE ${STAMP}.tmp)

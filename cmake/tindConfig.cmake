# find_package(tind) for an installed tind: the imported targets
# tind::tind (shared) and tind::tind_static (static). The static library's
# link dependencies are the imported targets CMakeLists.txt links it with
# (PkgConfig::LZ4, PkgConfig::ZSTD, PkgConfig::XXHASH, PkgConfig::CRYPTO, Threads::Threads),
# made here again before tindTargets.cmake names them.
include(CMakeFindDependencyMacro)
find_dependency(Threads)
find_dependency(PkgConfig)
foreach(tind_dep LZ4:liblz4 ZSTD:libzstd XXHASH:libxxhash CRYPTO:libcrypto)
  string(REPLACE ":" ";" tind_dep ${tind_dep})
  list(GET tind_dep 0 tind_prefix)
  list(GET tind_dep 1 tind_module)
  if(NOT TARGET PkgConfig::${tind_prefix})
    pkg_check_modules(${tind_prefix} QUIET IMPORTED_TARGET ${tind_module})
    if(NOT TARGET PkgConfig::${tind_prefix})
      set(tind_FOUND FALSE)
      set(tind_NOT_FOUND_MESSAGE "tind: pkg-config module ${tind_module} not found (its -dev package)")
      return()
    endif()
  endif()
endforeach()
include(${CMAKE_CURRENT_LIST_DIR}/tindTargets.cmake)

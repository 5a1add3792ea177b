# What `cmake --install` puts on a developer's machine for an app to link:
#   include/modelcast/*.h                   the C and C++ headers
#   lib/libmodelcast_format.a, lib/libmodelcast_fetcher.a   the C++ libraries (CMake package)
#   lib/libmodelcast-fetch.so               the C API as one shared library (exports mc_* only)
#   lib/libmodelcast-fetch.a                the same objects as one static archive, for C apps
#   lib/cmake/modelcast/                    find_package(modelcast CONFIG): modelcast::fetcher,
#                                           modelcast::format, modelcast::fetch_shared
#   lib/pkgconfig/modelcast-fetch.pc        the shared library; modelcast-fetch-static.pc: the archive
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# Only the C API (MC_EXTERN) leaves the shared library; the C++ inside stays private,
# so two libraries built from different versions never clash in one process.
foreach(t modelcast_format modelcast_fetcher)
  set_target_properties(${t} PROPERTIES C_VISIBILITY_PRESET hidden CXX_VISIBILITY_PRESET hidden
                                        VISIBILITY_INLINES_HIDDEN ON)
endforeach()
set_target_properties(modelcast_format PROPERTIES EXPORT_NAME format)
set_target_properties(modelcast_fetcher PROPERTIES EXPORT_NAME fetcher)

set(_mc_objects $<TARGET_OBJECTS:modelcast_fetcher> $<TARGET_OBJECTS:modelcast_format>)
set(_mc_private_libs PkgConfig::ZSTD OpenSSL::Crypto Threads::Threads)
set(_mc_pc_requires "libzstd libcrypto")
if(MODELCAST_WITH_CURL)
  list(APPEND _mc_private_libs CURL::libcurl)
  string(APPEND _mc_pc_requires " libcurl")
endif()

add_library(modelcast_fetch_shared SHARED ${_mc_objects})
target_link_libraries(modelcast_fetch_shared PRIVATE ${_mc_private_libs})
target_include_directories(modelcast_fetch_shared INTERFACE $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
                                                            $<INSTALL_INTERFACE:include>)
set_target_properties(modelcast_fetch_shared PROPERTIES OUTPUT_NAME modelcast-fetch EXPORT_NAME fetch_shared
                      VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
# No undefined symbols left for the app to find (sanitizer runtimes resolve late, so not there).
target_link_options(modelcast_fetch_shared PRIVATE -Wl,--as-needed -Wl,--exclude-libs,ALL
                    -Wl,--version-script=${CMAKE_CURRENT_SOURCE_DIR}/packaging/exports.map)
set_target_properties(modelcast_fetch_shared PROPERTIES LINK_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/packaging/exports.map)
if(NOT MODELCAST_SANITIZE)
  target_link_options(modelcast_fetch_shared PRIVATE -Wl,-z,defs)
endif()

add_library(modelcast_fetch_static STATIC ${_mc_objects})
set_target_properties(modelcast_fetch_static PROPERTIES OUTPUT_NAME modelcast-fetch)

# The public headers only: the fetcher's C and C++ API and the format headers they include,
# plus reading and verifying a signed manifest. Codec internals (xform, zstd patches, blob
# checks), the publisher's encoders and the file-system test doubles stay in the tree.
install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/modelcast DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
set(_mc_public_format_headers canonical_json.h file_system.h manifest.h manifest_v2.h sha256.h signed_manifest.h
    signed_manifest_v2.h signing.h status.h)
list(TRANSFORM _mc_public_format_headers PREPEND ${PROJECT_SOURCE_DIR}/manifests/include/modelcast/)
install(FILES ${_mc_public_format_headers} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/modelcast)
install(TARGETS modelcast_format modelcast_fetcher modelcast_fetch_shared EXPORT modelcastTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS modelcast_fetch_static ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT modelcastTargets NAMESPACE modelcast:: FILE modelcastTargets.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/modelcast)
configure_package_config_file(${CMAKE_CURRENT_SOURCE_DIR}/packaging/modelcastConfig.cmake.in
                              ${CMAKE_CURRENT_BINARY_DIR}/modelcastConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/modelcast)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/modelcastConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/modelcastConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/modelcastConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/modelcast)

foreach(pc modelcast-fetch modelcast-fetch-static)
  configure_file(${CMAKE_CURRENT_SOURCE_DIR}/packaging/${pc}.pc.in ${CMAKE_CURRENT_BINARY_DIR}/${pc}.pc @ONLY)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/${pc}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()

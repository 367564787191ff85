# `cmake --install` gives include/edgead/*.hpp, the library, edgead-cpp-bench and lib/cmake/edgead/edgeadConfig.cmake,
# so an application does find_package(edgead) + target_link_libraries(app edgead::edgead).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set_target_properties(edgead PROPERTIES INSTALL_RPATH_USE_LINK_PATH TRUE)  # finds libopenvino where it was found
install(TARGETS edgead EXPORT edgeadTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/edgead DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(EDGEAD_BUILD_TOOLS)
  set_target_properties(edgead-cpp-bench PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}"
    INSTALL_RPATH_USE_LINK_PATH TRUE)
  install(TARGETS edgead-cpp-bench RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

set(EDGEAD_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/edgead)
install(EXPORT edgeadTargets NAMESPACE edgead:: DESTINATION ${EDGEAD_CMAKE_DIR})
get_target_property(_edgead_type edgead TYPE)
configure_package_config_file(cmake/edgeadConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/edgeadConfig.cmake
  INSTALL_DESTINATION ${EDGEAD_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/edgeadConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/edgeadConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/edgeadConfigVersion.cmake
  DESTINATION ${EDGEAD_CMAKE_DIR})

# Installs headers, libraries and a CMake package so that another project can
#   find_package(SparseAttn CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE SparseAttn::MLIRSparseAttnDialect)
include(CMakePackageConfigHelpers)

set(SPARSE_ATTN_INSTALL_CMAKE_DIR "lib${LLVM_LIBDIR_SUFFIX}/cmake/sparse-attn")

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/sparse_attn"
  DESTINATION include
  FILES_MATCHING PATTERN "*.h" PATTERN "*.td")
install(DIRECTORY "${PROJECT_BINARY_DIR}/include/sparse_attn"
  DESTINATION include
  FILES_MATCHING PATTERN "*.inc"
  PATTERN "CMakeFiles" EXCLUDE)

# add_mlir_library puts every library into the `MLIRTargets` export set; give
# the exported targets their installed include directory.
get_property(sparse_attn_libraries GLOBAL PROPERTY MLIR_EXPORTS)
foreach(library IN LISTS sparse_attn_libraries)
  target_include_directories(${library} INTERFACE $<INSTALL_INTERFACE:include>)
endforeach()
install(EXPORT MLIRTargets
  NAMESPACE SparseAttn::
  FILE SparseAttnTargets.cmake
  DESTINATION "${SPARSE_ATTN_INSTALL_CMAKE_DIR}")

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/SparseAttnConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/cmake/SparseAttnConfig.cmake"
  INSTALL_DESTINATION "${SPARSE_ATTN_INSTALL_CMAKE_DIR}")
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/cmake/SparseAttnConfigVersion.cmake"
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/cmake/SparseAttnConfig.cmake"
  "${PROJECT_BINARY_DIR}/cmake/SparseAttnConfigVersion.cmake"
  DESTINATION "${SPARSE_ATTN_INSTALL_CMAKE_DIR}")

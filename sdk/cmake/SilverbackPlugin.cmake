# silverback_add_plugin(<kong-plugin-name> SOURCES <files...> [OUTPUT_DIRECTORY <dir>] [INSTALL])
# Builds a plugin as a loadable module named exactly `<name>.so` (the name kong.yaml uses), with
# hidden symbols so its only export is the ABI entry point, and no undefined host symbols.
# INSTALL installs it to lib/silverback/plugins under the install prefix (where the gateway
# looks: <exe_dir>/../lib/silverback/plugins).
function(silverback_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 SBP "INSTALL" "OUTPUT_DIRECTORY" "SOURCES")
  add_library(${name} MODULE ${SBP_SOURCES})
  if(TARGET Silverback::sdk)
    target_link_libraries(${name} PRIVATE Silverback::sdk)
  else()
    target_link_libraries(${name} PRIVATE silverback_sdk)
  endif()
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(SBP_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${SBP_OUTPUT_DIRECTORY})
  endif()
  target_link_options(${name} PRIVATE -Wl,-z,defs)
  if(SBP_INSTALL)
    install(TARGETS ${name} LIBRARY DESTINATION lib/silverback/plugins)
  endif()
endfunction()

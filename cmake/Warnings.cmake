add_library(kvroute_warnings INTERFACE)
# No -Wnull-dereference: GCC 12 at -O2 reports it inside inlined Asio and libstdc++ code (false
# positives that no source change of ours can silence), and warnings are errors.
target_compile_options(kvroute_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Wunused -Woverloaded-virtual
  -Wimplicit-fallthrough -Wformat=2)
if(KVROUTE_WERROR)
  target_compile_options(kvroute_warnings INTERFACE -Werror)
endif()
if(KVROUTE_SANITIZE)
  target_compile_options(kvroute_warnings INTERFACE -fsanitize=${KVROUTE_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(kvroute_warnings INTERFACE -fsanitize=${KVROUTE_SANITIZE})
endif()

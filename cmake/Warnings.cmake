add_library(kvroute_warnings INTERFACE)
# No -Wnull-dereference, and -Wno-restrict: GCC 12 at -O2/-O3 reports both inside inlined Asio and
# libstdc++ code (std::string concatenation: GCC bug 105329), false positives that no source change
# of ours can silence, and warnings are errors. Likewise -Wno-mismatched-new-delete: at -O2 GCC 12
# pairs an Asio awaitable frame's class-specific operator delete with the global new (GCC bug 109224).
target_compile_options(kvroute_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Wunused -Woverloaded-virtual
  -Wimplicit-fallthrough -Wformat=2 -Wno-restrict -Wno-mismatched-new-delete)
if(KVROUTE_WERROR)
  target_compile_options(kvroute_warnings INTERFACE -Werror)
endif()
if(KVROUTE_SANITIZE)
  target_compile_options(kvroute_warnings INTERFACE -fsanitize=${KVROUTE_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(kvroute_warnings INTERFACE -fsanitize=${KVROUTE_SANITIZE})
endif()

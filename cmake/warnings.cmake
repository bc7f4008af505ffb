# Project-wide warning flags, applied through the eventstreams_warnings interface target.
add_library(eventstreams_warnings INTERFACE)
target_compile_options(eventstreams_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Wunused -Woverloaded-virtual -Wimplicit-fallthrough)
if(EVENTSTREAMS_WERROR)
  target_compile_options(eventstreams_warnings INTERFACE -Werror)
endif()

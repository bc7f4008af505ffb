# EVENTSTREAMS_SANITIZE=address,undefined or thread instruments every target of the build.
if(EVENTSTREAMS_SANITIZE)
  add_compile_options(-fsanitize=${EVENTSTREAMS_SANITIZE} -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${EVENTSTREAMS_SANITIZE})
  if(EVENTSTREAMS_SANITIZE MATCHES "undefined")
    add_compile_options(-fno-sanitize-recover=undefined)
  endif()
endif()

# EVENTSTREAMS_SANITIZE=address,undefined or thread instruments every target of the build.
if(EVENTSTREAMS_SANITIZE)
  add_compile_options(-fsanitize=${EVENTSTREAMS_SANITIZE} -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${EVENTSTREAMS_SANITIZE})
  if(EVENTSTREAMS_SANITIZE MATCHES "undefined")
    add_compile_options(-fno-sanitize-recover=undefined)
  endif()
  if(EVENTSTREAMS_SANITIZE MATCHES "thread")
    # g++ 12 warns that TSan does not model std::atomic_thread_fence, which Asio uses; the
    # fences sit beside mutexes TSan does see, so the warning is noise here.
    add_compile_options(-Wno-tsan)
  endif()
endif()

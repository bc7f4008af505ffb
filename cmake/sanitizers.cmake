# EVENTSTREAMS_SANITIZE=address,undefined or thread instruments every target of the build.
if(EVENTSTREAMS_SANITIZE)
  add_compile_options(-fsanitize=${EVENTSTREAMS_SANITIZE} -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${EVENTSTREAMS_SANITIZE})
  if(EVENTSTREAMS_SANITIZE MATCHES "undefined")
    add_compile_options(-fno-sanitize-recover=undefined)
    # Not the vptr check: libsanitizer tests whether an object's memory is readable by writing it
    # to a pipe(), so at the descriptor limit (Robustness.RunningOutOfDescriptors*) every dynamic
    # type check fails and reports "invalid vptr" for a sound object. Descriptor exhaustion under
    # ASan is worth more to this suite than vptr checks, which few of our types can reach.
    add_compile_options(-fno-sanitize=vptr)
    add_link_options(-fno-sanitize=vptr)
  endif()
  if(EVENTSTREAMS_SANITIZE MATCHES "thread")
    # g++ 12 warns that TSan does not model std::atomic_thread_fence, which Asio uses; the
    # fences sit beside mutexes TSan does see, so the warning is noise here.
    add_compile_options(-Wno-tsan)
  endif()
endif()

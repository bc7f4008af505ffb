// TSan builds only: route C11 thrd_create/join/detach (used by Debian's librdkafka) through the
// pthread functions TSan intercepts.
// g++ 12's ThreadSanitizer runtime intercepts pthread_create but not thrd_create, so threads
// librdkafka starts would run without TSan state and crash on their first allocation. The
// executable's definition takes precedence over glibc's for librdkafka's calls.
#include <pthread.h>
#include <threads.h>

#include <cerrno>
#include <cstdint>
#include <new>

namespace {

struct start {
  thrd_start_t func;
  void* arg;
};

void* run(void* p) {
  start s = *static_cast<start*>(p);
  delete static_cast<start*>(p);
  return reinterpret_cast<void*>(static_cast<std::intptr_t>(s.func(s.arg)));
}

}  // namespace

extern "C" int thrd_create(thrd_t* thr, thrd_start_t func, void* arg) {
  auto* s = new (std::nothrow) start{func, arg};
  if (!s)
    return thrd_nomem;
  if (pthread_create(thr, nullptr, run, s) != 0) {
    delete s;
    return thrd_error;
  }
  return thrd_success;
}

// glibc's thrd_join/thrd_detach bypass the intercepted pthread_join/pthread_detach; without
// these TSan reports every joined librdkafka thread as leaked.
extern "C" int thrd_join(thrd_t thr, int* res) {
  void* ret = nullptr;
  if (pthread_join(thr, &ret) != 0)
    return thrd_error;
  if (res)
    *res = static_cast<int>(reinterpret_cast<std::intptr_t>(ret));
  return thrd_success;
}

extern "C" int thrd_detach(thrd_t thr) {
  return pthread_detach(thr) == 0 ? thrd_success : thrd_error;
}

// Likewise C11 mutexes and condition variables: glibc's mtx_t/cnd_t are pthread objects, but
// mtx_lock etc. call pthread internals TSan does not see, so it would miss every lock that
// librdkafka takes around its queues and report the records handed over as races.
extern "C" int mtx_init(mtx_t* m, int type) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  if (type & mtx_recursive)
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  int r = pthread_mutex_init(reinterpret_cast<pthread_mutex_t*>(m), &attr);
  pthread_mutexattr_destroy(&attr);
  return r == 0 ? thrd_success : thrd_error;
}
extern "C" int mtx_lock(mtx_t* m) {
  return pthread_mutex_lock(reinterpret_cast<pthread_mutex_t*>(m)) == 0 ? thrd_success : thrd_error;
}
extern "C" int mtx_trylock(mtx_t* m) {
  int r = pthread_mutex_trylock(reinterpret_cast<pthread_mutex_t*>(m));
  return r == 0 ? thrd_success : r == EBUSY ? thrd_busy : thrd_error;
}
extern "C" int mtx_timedlock(mtx_t* m, const struct timespec* ts) {
  int r = pthread_mutex_timedlock(reinterpret_cast<pthread_mutex_t*>(m), ts);
  return r == 0 ? thrd_success : r == ETIMEDOUT ? thrd_timedout : thrd_error;
}
extern "C" int mtx_unlock(mtx_t* m) {
  return pthread_mutex_unlock(reinterpret_cast<pthread_mutex_t*>(m)) == 0 ? thrd_success
                                                                          : thrd_error;
}
extern "C" void mtx_destroy(mtx_t* m) {
  pthread_mutex_destroy(reinterpret_cast<pthread_mutex_t*>(m));
}
extern "C" int cnd_init(cnd_t* c) {
  return pthread_cond_init(reinterpret_cast<pthread_cond_t*>(c), nullptr) == 0 ? thrd_success
                                                                               : thrd_error;
}
extern "C" int cnd_signal(cnd_t* c) {
  return pthread_cond_signal(reinterpret_cast<pthread_cond_t*>(c)) == 0 ? thrd_success : thrd_error;
}
extern "C" int cnd_broadcast(cnd_t* c) {
  return pthread_cond_broadcast(reinterpret_cast<pthread_cond_t*>(c)) == 0 ? thrd_success
                                                                           : thrd_error;
}
extern "C" int cnd_wait(cnd_t* c, mtx_t* m) {
  return pthread_cond_wait(reinterpret_cast<pthread_cond_t*>(c),
                           reinterpret_cast<pthread_mutex_t*>(m)) == 0
             ? thrd_success
             : thrd_error;
}
extern "C" int cnd_timedwait(cnd_t* c, mtx_t* m, const struct timespec* ts) {
  int r = pthread_cond_timedwait(reinterpret_cast<pthread_cond_t*>(c),
                                 reinterpret_cast<pthread_mutex_t*>(m), ts);
  return r == 0 ? thrd_success : r == ETIMEDOUT ? thrd_timedout : thrd_error;
}
extern "C" void cnd_destroy(cnd_t* c) {
  pthread_cond_destroy(reinterpret_cast<pthread_cond_t*>(c));
}

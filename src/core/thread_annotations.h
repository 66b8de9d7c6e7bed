// Clang thread-safety annotations (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html) as
// macros: with clang and -Wthread-safety the compiler checks that every GUARDED_BY member is
// touched only with its mutex held and that REQUIRES functions are called with it held; other
// compilers see nothing. The annotated mutex type is cluster/common/mutex.h (std::mutex itself
// carries no annotations in libstdc++). scripts/check-thread-safety runs the analysis in CI.
// Abseil (through gRPC's headers) defines several of the same names with the same meaning; the
// first definition wins.
#pragma once

#if defined(__clang__)
#define MUSTER_TSA(x) __attribute__((x))
#else
#define MUSTER_TSA(x)
#endif

#ifndef CAPABILITY
#define CAPABILITY(x) MUSTER_TSA(capability(x))
#endif
#ifndef SCOPED_CAPABILITY
#define SCOPED_CAPABILITY MUSTER_TSA(scoped_lockable)
#endif
#ifndef GUARDED_BY
#define GUARDED_BY(x) MUSTER_TSA(guarded_by(x))
#endif
#ifndef PT_GUARDED_BY
#define PT_GUARDED_BY(x) MUSTER_TSA(pt_guarded_by(x))
#endif
#ifndef ACQUIRED_BEFORE
#define ACQUIRED_BEFORE(...) MUSTER_TSA(acquired_before(__VA_ARGS__))
#endif
#ifndef ACQUIRED_AFTER
#define ACQUIRED_AFTER(...) MUSTER_TSA(acquired_after(__VA_ARGS__))
#endif
#ifndef REQUIRES
#define REQUIRES(...) MUSTER_TSA(requires_capability(__VA_ARGS__))
#endif
#ifndef ACQUIRE
#define ACQUIRE(...) MUSTER_TSA(acquire_capability(__VA_ARGS__))
#endif
#ifndef RELEASE
#define RELEASE(...) MUSTER_TSA(release_capability(__VA_ARGS__))
#endif
#ifndef TRY_ACQUIRE
#define TRY_ACQUIRE(...) MUSTER_TSA(try_acquire_capability(__VA_ARGS__))
#endif
#ifndef EXCLUDES
#define EXCLUDES(...) MUSTER_TSA(locks_excluded(__VA_ARGS__))
#endif
#ifndef RETURN_CAPABILITY
#define RETURN_CAPABILITY(x) MUSTER_TSA(lock_returned(x))
#endif
#ifndef NO_THREAD_SAFETY_ANALYSIS
#define NO_THREAD_SAFETY_ANALYSIS MUSTER_TSA(no_thread_safety_analysis)
#endif

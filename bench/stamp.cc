// stamp: the first thing a latency task does. Writes the wall clock (ns since the Unix epoch)
// to t.$MUSTER_JOB_ID in the working directory and exits. Linked statically and using nothing
// but system calls, so that the time it writes is the moment its process began running, not
// that plus a shell's start and a second exec (what `sh -c 'date +%s%N > …'` measures).
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

int main() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  const char* job = std::getenv("MUSTER_JOB_ID");
  if (job == nullptr) return 2;
  char path[64], text[32];
  std::snprintf(path, sizeof path, "t.%s", job);
  const int n = std::snprintf(text, sizeof text, "%lld\n",
                              static_cast<long long>(now.tv_sec) * 1000000000LL + now.tv_nsec);
  const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return 1;
  const bool ok = write(fd, text, static_cast<size_t>(n)) == n;
  return close(fd) == 0 && ok ? 0 : 1;
}

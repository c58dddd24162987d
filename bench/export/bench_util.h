// What the export benchmarks share: timing, CPU accounting, shell steps and test images.
#ifndef BERTH_BENCH_EXPORT_BENCH_UTIL_H_
#define BERTH_BENCH_EXPORT_BENCH_UTIL_H_

#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"

namespace berth::bench {

inline double Seconds(const std::function<void()>& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU seconds (user + system) used so far by this process and by its waited-for children.
inline double CpuSeconds() {
  double total = 0;
  for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
    struct rusage u {};
    getrusage(who, &u);
    total +=
        u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  }
  return total;
}

// Runs a shell command; exits the benchmark when it fails.
inline void Sh(const std::string& cmd) {
  if (std::system(cmd.c_str()) != 0) {
    std::cout << "bench: command failed: " << cmd << std::endl;
    std::exit(1);
  }
}

// Writes an image: `data_gib` GiB of random-looking data (a 64 MiB random block repeated)
// spread over `size_gib` GiB, in 64 MiB runs.
inline void MakeImage(const std::string& path, int size_gib, int data_gib) {
  Sh(absl::StrCat("rm -f ", path, " && truncate -s ", size_gib, "G ", path));
  Sh(absl::StrCat("head -c 64M /dev/urandom > ", path, ".blk"));
  int runs = data_gib * 16, stride = size_gib * 16 / runs;
  for (int i = 0; i < runs; ++i) {
    Sh(absl::StrCat("dd if=", path, ".blk of=", path, " bs=64M seek=", i * stride,
                    " conv=notrunc status=none"));
  }
  Sh(absl::StrCat("rm -f ", path, ".blk && cat ", path, " > /dev/null"));
}

}  // namespace berth::bench

#endif  // BERTH_BENCH_EXPORT_BENCH_UTIL_H_

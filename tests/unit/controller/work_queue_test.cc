#include "berth/controller/work_queue.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <set>
#include <thread>

using berth::RealClock;
using berth::controller::WorkQueue;

TEST_CASE("WorkQueue de-duplicates queued keys") {
  RealClock clock;
  WorkQueue q(clock);
  q.Add("a");
  q.Add("a");
  q.Add("b");
  CHECK(q.Len() == 2);
  CHECK(*q.Get() == "a");
  CHECK(*q.Get() == "b");
}

TEST_CASE("WorkQueue never hands one key to two workers; re-adds after Done") {
  RealClock clock;
  WorkQueue q(clock);
  q.Add("k");
  auto k = q.Get();
  REQUIRE(k);
  q.Add("k");  // while processing: marked dirty, not queued
  CHECK(q.Len() == 0);
  q.Done("k");
  CHECK(q.Len() == 1);
  CHECK(*q.Get() == "k");
}

TEST_CASE("WorkQueue backs off per key and Forget resets") {
  RealClock clock;
  WorkQueue q(clock, absl::Milliseconds(30), absl::Seconds(1));
  absl::Time start = absl::Now();
  q.AddRateLimited("x");
  q.AddRateLimited("x");  // failure 2: 60 ms (the earlier 30 ms time wins while pending)
  CHECK(q.Failures("x") == 2);
  auto k = q.Get();
  CHECK(absl::Now() - start >= absl::Milliseconds(25));
  q.Done(*k);
  q.Forget("x");
  CHECK(q.Failures("x") == 0);
}

TEST_CASE("WorkQueue AddAfter delays and ShutDown wakes waiters") {
  RealClock clock;
  WorkQueue q(clock);
  absl::Time start = absl::Now();
  q.AddAfter("later", absl::Milliseconds(50));
  CHECK(q.Len() == 0);
  CHECK(*q.Get() == "later");
  CHECK(absl::Now() - start >= absl::Milliseconds(45));
  std::thread t([&] { CHECK_FALSE(q.Get().has_value()); });
  absl::SleepFor(absl::Milliseconds(20));
  q.ShutDown();
  t.join();
}

TEST_CASE("WorkQueue with concurrent workers processes each key exclusively") {
  RealClock clock;
  WorkQueue q(clock);
  std::atomic<int> in_flight{0}, violations{0}, processed{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      while (auto k = q.Get()) {
        if (in_flight.fetch_add(1) != 0 && *k == "same") violations++;
        absl::SleepFor(absl::Microseconds(200));
        in_flight.fetch_sub(1);
        processed++;
        q.Done(*k);
      }
    });
  }
  for (int i = 0; i < 200; ++i) q.Add("same");
  absl::SleepFor(absl::Milliseconds(100));
  q.ShutDown();
  for (auto& t : workers) t.join();
  CHECK(violations == 0);
  CHECK(processed >= 1);
}

TEST_CASE(
    "WorkQueue wakes every idle worker a queued key needs, and the timer for an earlier key") {
  RealClock clock;
  WorkQueue q(clock);
  // Three workers asleep in Get (one of them as the timer); three keys: each worker must get one
  // while the others still hold theirs, or the barrier below times out.
  std::atomic<int> taken{0};
  std::atomic<int> stuck{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 3; ++w) {
    workers.emplace_back([&] {
      auto k = q.Get();
      if (!k) return;
      taken++;
      absl::Time until = absl::Now() + absl::Seconds(10);
      while (taken.load() < 3 && absl::Now() < until) absl::SleepFor(absl::Milliseconds(5));
      if (taken.load() < 3) stuck++;
      q.Done(*k);
    });
  }
  absl::SleepFor(absl::Milliseconds(50));
  q.AddAfter("late", absl::Seconds(30));  // the timer sleeps towards this one...
  absl::SleepFor(absl::Milliseconds(20));
  q.Add("a");
  q.Add("b");
  q.AddAfter("soon", absl::Milliseconds(30));  // ...and wakes for this earlier one
  for (auto& t : workers) t.join();
  CHECK(taken == 3);
  CHECK(stuck == 0);
  q.ShutDown();
}

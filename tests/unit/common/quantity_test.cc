#include "berth/quantity.h"

#include <catch2/catch.hpp>

using berth::FormatQuantity;
using berth::ParseQuantity;

TEST_CASE("ParseQuantity accepts Kubernetes byte quantities") {
  CHECK(*ParseQuantity("10Gi") == 10ull << 30);
  CHECK(*ParseQuantity("512Mi") == 512ull << 20);
  CHECK(*ParseQuantity("1G") == 1000000000ull);
  CHECK(*ParseQuantity("1048576") == 1048576ull);
  CHECK(*ParseQuantity("1.5Gi") == 3ull << 29);
}

TEST_CASE("ParseQuantity rejects what is not a byte count") {
  for (const char* bad : {"", "-1Gi", "abc", "10Xi", "1.5", "0.3", "Gi", "99999999999999Pi"}) {
    INFO(bad);
    auto q = ParseQuantity(bad);
    CHECK_FALSE(q.ok());
  }
}

TEST_CASE("FormatQuantity picks the largest exact unit") {
  CHECK(FormatQuantity(10ull << 30) == "10Gi");
  CHECK(FormatQuantity(1536ull << 20) == "1536Mi");
  CHECK(FormatQuantity(1000) == "1000");
}

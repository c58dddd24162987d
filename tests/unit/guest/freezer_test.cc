// Freezer semantics against a FakeGuestAgent and a SimulatedClock.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "absl/time/clock.h"
#include "berth/agent/guest.h"
#include "fake_guest_agent.h"
#include "guest/freeze_journal.h"

namespace berth::agent {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/berth-freezer-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string path;
};

// Waits (real time) for the freezer's timer thread to act.
template <typename Pred>
bool Eventually(Pred pred) {
  for (int i = 0; i < 200; ++i) {
    if (pred()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return pred();
}

struct Fixture {
  Fixture() {
    options.journal_dir = dir.path + "/journal";
    options.auto_thaw = absl::Seconds(10);
  }
  std::unique_ptr<Freezer> Make() { return NewFreezer(agent, clock, options); }
  bool Journaled(const std::string& domain) {
    return fs::exists(FreezeJournal(options.journal_dir).PathOf(domain));
  }
  TempDir dir;
  FakeGuestAgent agent;
  SimulatedClock clock;
  Freezer::Options options;
};

TEST_CASE("two holders share one freeze; the last release thaws") {
  Fixture f;
  auto freezer = f.Make();
  REQUIRE(freezer->Acquire("vm").value() == 2);
  REQUIRE(freezer->Acquire("vm").value() == 2);
  CHECK(f.agent.Get(&FakeGuestAgent::freezes) == 1);
  REQUIRE(freezer->Release("vm").ok());
  CHECK(f.agent.IsFrozen("vm"));
  CHECK(f.agent.Get(&FakeGuestAgent::thaws) == 0);
  REQUIRE(freezer->Release("vm").ok());
  CHECK_FALSE(f.agent.IsFrozen("vm"));
  CHECK(f.agent.Get(&FakeGuestAgent::thaws) == 1);
  CHECK(freezer->FreezesSent() == 1);
  CHECK(freezer->ThawsSent() == 1);
  CHECK(absl::IsFailedPrecondition(freezer->Release("vm")));
}

TEST_CASE("concurrent acquires of one domain send one freeze") {
  Fixture f;
  auto freezer = f.Make();
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] { REQUIRE(freezer->Acquire("vm").ok()); });
  }
  for (auto& t : threads) t.join();
  CHECK(f.agent.Get(&FakeGuestAgent::freezes) == 1);
  for (int i = 0; i < 8; ++i) REQUIRE(freezer->Release("vm").ok());
  CHECK(f.agent.Get(&FakeGuestAgent::thaws) == 1);
  CHECK_FALSE(f.agent.IsFrozen("vm"));
}

TEST_CASE("status is asked first; a guest frozen by someone else is adopted, not re-frozen") {
  Fixture f;
  f.agent.Set([](FakeGuestAgent& a) { a.frozen.insert("vm"); });
  auto freezer = f.Make();
  REQUIRE(freezer->Acquire("vm").ok());
  CHECK(f.agent.Get(&FakeGuestAgent::status_calls) == 1);
  CHECK(f.agent.Get(&FakeGuestAgent::freezes) == 0);
  CHECK(f.Journaled("vm"));
  REQUIRE(freezer->Release("vm").ok());
  CHECK_FALSE(f.agent.IsFrozen("vm"));
  CHECK_FALSE(f.Journaled("vm"));
}

TEST_CASE("a status error freezes nothing and sends nothing") {
  Fixture f;
  f.agent.Set([](FakeGuestAgent& a) { a.status_error = absl::UnavailableError("not connected"); });
  auto freezer = f.Make();
  auto got = freezer->Acquire("vm");
  REQUIRE(absl::IsUnavailable(got.status()));
  CHECK(f.agent.Get(&FakeGuestAgent::freezes) == 0);
  CHECK(f.agent.Get(&FakeGuestAgent::thaws) == 0);
  CHECK_FALSE(f.Journaled("vm"));
}

TEST_CASE("a failed freeze is followed by a thaw and leaves no hold and no journal") {
  Fixture f;
  f.agent.Set([](FakeGuestAgent& a) {
    a.freeze_error = absl::InternalError("guest agent error (GenericError): failed to freeze /");
  });
  auto freezer = f.Make();
  auto got = freezer->Acquire("vm");
  REQUIRE_FALSE(got.ok());
  CHECK(std::string(got.status().message()).find("failed to freeze /") != std::string::npos);
  CHECK(f.agent.Get(&FakeGuestAgent::thaws) == 1);
  CHECK_FALSE(f.Journaled("vm"));
  CHECK(absl::IsFailedPrecondition(freezer->Release("vm")));
}

TEST_CASE("a timed-out freeze that did freeze the guest is thawed") {
  Fixture f;
  f.agent.Set([](FakeGuestAgent& a) { a.freeze_times_out = true; });
  auto freezer = f.Make();
  REQUIRE(absl::IsUnavailable(freezer->Acquire("vm").status()));
  CHECK_FALSE(f.agent.IsFrozen("vm"));
  CHECK(freezer->ThawsSent() == 1);
}

TEST_CASE("the journal entry exists before the freeze is sent and is gone after the thaw") {
  Fixture f;
  bool journaled_at_freeze = false;
  std::string path = FreezeJournal(f.options.journal_dir).PathOf("vm");
  f.agent.Set([&](FakeGuestAgent& a) {
    a.on_freeze = [&](const std::string&) { journaled_at_freeze = fs::exists(path); };
  });
  auto freezer = f.Make();
  REQUIRE(freezer->Acquire("vm").ok());
  CHECK(journaled_at_freeze);
  REQUIRE(freezer->Release("vm").ok());
  CHECK_FALSE(fs::exists(path));
}

TEST_CASE("auto-thaw fires at the deadline when the holders vanish") {
  Fixture f;
  auto freezer = f.Make();
  REQUIRE(freezer->Acquire("vm").ok());
  f.clock.Advance(absl::Seconds(9));
  absl::SleepFor(absl::Milliseconds(100));
  CHECK(f.agent.IsFrozen("vm"));  // not yet
  f.clock.Advance(absl::Seconds(1));
  CHECK(Eventually([&] { return !f.agent.IsFrozen("vm") && !f.Journaled("vm"); }));
  // The vanished holder comes back late: told its cut may be inconsistent.
  CHECK(absl::IsDeadlineExceeded(freezer->Release("vm")));
  CHECK(freezer->ThawsSent() == 1);
  // And the domain can be frozen again afterwards.
  REQUIRE(freezer->Acquire("vm").ok());
  REQUIRE(freezer->Release("vm").ok());
}

TEST_CASE("joining a freeze pushes the deadline") {
  Fixture f;
  auto freezer = f.Make();
  REQUIRE(freezer->Acquire("vm").ok());
  f.clock.Advance(absl::Seconds(8));
  REQUIRE(freezer->Acquire("vm").ok());
  f.clock.Advance(absl::Seconds(8));
  absl::SleepFor(absl::Milliseconds(100));
  CHECK(f.agent.IsFrozen("vm"));
  f.clock.Advance(absl::Seconds(3));
  CHECK(Eventually([&] { return !f.agent.IsFrozen("vm"); }));
}

TEST_CASE("a failed thaw keeps the journal and is retried until it succeeds") {
  Fixture f;
  auto freezer = f.Make();
  REQUIRE(freezer->Acquire("vm").ok());
  f.agent.Set([](FakeGuestAgent& a) { a.thaw_error = absl::UnavailableError("agent busy"); });
  CHECK(absl::IsUnavailable(freezer->Release("vm")));
  CHECK(f.Journaled("vm"));
  f.agent.Set([](FakeGuestAgent& a) { a.thaw_error = absl::OkStatus(); });
  f.clock.Advance(absl::Seconds(2));
  CHECK(Eventually([&] { return !f.agent.IsFrozen("vm"); }));
  CHECK(Eventually([&] { return !f.Journaled("vm"); }));
}

TEST_CASE("Recover thaws journaled domains and drops entries of vanished domains") {
  Fixture f;
  {
    // A previous agent froze two guests and died (simulated: write its journal by hand).
    FreezeJournal journal(f.options.journal_dir);
    REQUIRE(journal.Add("vm-a").ok());
    REQUIRE(journal.Add("gone/vm").ok());
    f.agent.Set([](FakeGuestAgent& a) {
      a.frozen.insert("vm-a");
      a.missing.insert("gone/vm");
    });
  }
  auto freezer = f.Make();
  REQUIRE(freezer->Recover().ok());
  CHECK_FALSE(f.agent.IsFrozen("vm-a"));
  CHECK_FALSE(f.Journaled("vm-a"));
  CHECK_FALSE(f.Journaled("gone/vm"));
  CHECK(FreezeJournal(f.options.journal_dir).List().value().empty());
}

TEST_CASE("Recover with no journal directory is fine") {
  Fixture f;
  auto freezer = f.Make();
  CHECK(freezer->Recover().ok());
  CHECK(freezer->ThawsSent() == 0);
}

TEST_CASE("Recover keeps retrying a domain whose agent does not answer yet") {
  Fixture f;
  REQUIRE(FreezeJournal(f.options.journal_dir).Add("vm").ok());
  f.agent.Set([](FakeGuestAgent& a) {
    a.frozen.insert("vm");
    a.thaw_error = absl::UnavailableError("agent not connected");
  });
  auto freezer = f.Make();
  CHECK(absl::IsUnavailable(freezer->Recover()));
  CHECK(f.Journaled("vm"));
  f.agent.Set([](FakeGuestAgent& a) { a.thaw_error = absl::OkStatus(); });
  f.clock.Advance(absl::Seconds(1));
  CHECK(Eventually([&] { return !f.agent.IsFrozen("vm") && !f.Journaled("vm"); }));
}

TEST_CASE("journal names round-trip any domain name") {
  for (std::string name : {"berth-default-vm", "a/b", "..", ".x", "ü%20"}) {
    std::string file = FreezeJournal::EncodeName(name);
    CHECK(file.find('/') == std::string::npos);
    CHECK(file[0] != '.');
    CHECK(FreezeJournal::DecodeName(file) == name);
  }
  CHECK(FreezeJournal::DecodeName("x.tmp").empty());
  CHECK(FreezeJournal::DecodeName("%4.frozen").empty());
}

}  // namespace
}  // namespace berth::agent

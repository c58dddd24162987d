#ifndef BERTH_CONTROLLER_STORE_SQLITE_DB_H_
#define BERTH_CONTROLLER_STORE_SQLITE_DB_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::controller::store {

// Closes a connection; the only place that calls sqlite3_close_v2.
struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
// Finalizes a prepared statement; the only place that calls sqlite3_finalize.
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using DbPtr = std::unique_ptr<sqlite3, SqliteCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// Borrows a cached prepared statement for one execution; resets it and clears its bindings on
// destruction so the cache can hand it out again. Move-only. Not thread-safe (the owning
// Database's caller serializes access).
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Statement(Statement&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  // Binds 1-based parameter `index`. Text is copied by SQLite.
  Statement& Bind(int index, const std::string& text);
  Statement& Bind(int index, int64_t value);

  // Advances; true when a row is available, false when done.
  absl::StatusOr<bool> Step();
  // Runs a statement that returns no rows.
  absl::Status Run();

  std::string ColumnText(int column) const;
  int64_t ColumnInt(int column) const;
  bool ColumnIsNull(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int bind_error_ = SQLITE_OK;  // the first failed bind, reported by Step
};

// Owns one connection and its statement cache. Not thread-safe: the caller holds one mutex
// around every use (SQLite handles on one connection are used serially).
class Database {
 public:
  // Opens or creates the file at `path` (read-write).
  static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path);

  // Runs one or more statements without results.
  absl::Status Exec(const std::string& sql);
  // Runs one statement without results through the statement cache (no parsing after the
  // first use: for the statements every write repeats, e.g. SAVEPOINT and COMMIT).
  absl::Status Run(const std::string& sql);
  // Returns the single text value of a one-row query (e.g. a PRAGMA).
  absl::StatusOr<std::string> QueryText(const std::string& sql);
  // Returns the cached prepared statement for `sql`, preparing it on first use. Only one
  // Statement for the same `sql` may be alive at a time.
  absl::StatusOr<Statement> Prepare(const std::string& sql);

  sqlite3* handle() { return db_.get(); }

 private:
  explicit Database(DbPtr db) : db_(std::move(db)) {}

  DbPtr db_;  // declared first: destroyed after the statements that use it
  std::unordered_map<std::string, StmtPtr> cache_;
};

// Converts a SQLite result code to a Status. Busy/locked and I/O errors are Unavailable (the
// write may be retried); everything else is Internal.
absl::Status SqliteError(sqlite3* db, int rc, const std::string& what);

// Wraps BEGIN IMMEDIATE ... COMMIT; rolls back on destruction unless committed.
class Transaction {
 public:
  explicit Transaction(Database* db) : db_(db) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  absl::Status Begin();
  absl::Status Commit();

 private:
  Database* db_;
  bool open_ = false;
};

}  // namespace berth::controller::store

#endif  // BERTH_CONTROLLER_STORE_SQLITE_DB_H_

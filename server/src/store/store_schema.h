// The database schema of both storage backends, as versioned migration files:
// store/sqlite/migrations/NNNN_name.sql and store/postgres/migrations/
// NNNN_name.sql, the same versions for both. The build embeds their text
// (server/cmake/embed_migrations.cmake generates store_migrations.cpp): the
// server reads no schema file at run time. Each database has a
// `schema_version` table; opening a store applies, in order and in one
// transaction, every migration above the database's version (all of them for
// a new database) and records the new version. A database newer than this
// server is refused.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/storage_error.h"

namespace renkei::server::store_schema {

enum class Dialect { sqlite, postgres };

struct Migration {
  int version;       // NNNN of the file name: 1, 2, 3, … without a gap
  const char* name;  // the file name, e.g. "0002_mask_callers.sql"
  const char* sql;   // the file's text: one or more statements
};

// The migrations of one backend, in version order (entry i is version i + 1).
const std::vector<Migration>& migrations(Dialect dialect);

// The current schema version: the number of migrations (the same for both).
int version();

// Brings a database's schema up to version(), inside the transaction the
// caller opened (and commits): creates `schema_version` when missing,
// refuses a database with an unknown or newer version (StorageError), runs
// every migration of `dialect` above the database's version in order (all of
// them for a new database), and records the new version. `exec(sql, what)`
// runs constant SQL; `query(sql)` makes one statement of the backend (binds,
// step, run, opt_int64).
template <class Exec, class MakeQuery>
void migrate(Dialect dialect, Exec&& exec, MakeQuery&& query) {
  const int current = version();
  exec("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)", "schema");
  std::optional<std::int64_t> found;
  {
    auto q = query("SELECT MAX(version) FROM schema_version");
    if (q.step()) found = q.opt_int64(0);
  }
  if (found && *found < 1) {
    throw StorageError("storage: the database has an unknown schema version " +
                       std::to_string(*found));
  }
  if (found && *found > current) {
    throw StorageError("storage: the database has schema version " + std::to_string(*found) +
                       ", newer than this server's " + std::to_string(current));
  }
  for (const auto& m : migrations(dialect)) {
    if (m.version > found.value_or(0)) exec(m.sql, "migration");
  }
  if (!found) {
    query("INSERT INTO schema_version (version) VALUES (?)").binds(current).run();
  } else if (*found < current) {
    query("UPDATE schema_version SET version = ?").binds(current).run();
  }
}

}  // namespace renkei::server::store_schema

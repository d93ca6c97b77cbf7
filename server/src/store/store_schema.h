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

#include <vector>

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

}  // namespace renkei::server::store_schema

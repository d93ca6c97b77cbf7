// The database schema of both storage backends, side by side: every table and
// every migration step is written once for SQLite and once for PostgreSQL, next
// to each other (store_schema.cpp), and both carry the same version number in
// their `schema_version` table.
#pragma once

#include <vector>

namespace renkei::server::store_schema {

// One statement in both dialects. Most are spelled the same; the differences
// are generated ids (SQLite `INTEGER PRIMARY KEY`, PostgreSQL
// `BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY`) and booleans (SQLite
// 0/1 in a BIGINT, PostgreSQL BOOLEAN).
struct Statement {
  const char* sqlite;
  const char* postgres;
};

// The current schema (version `version()`), as idempotent CREATE … IF NOT EXISTS.
const std::vector<Statement>& tables();

// Schema changes after version 1, in order: entry i takes a database from
// version i + 1 to version i + 2. A database of an older version is upgraded
// when it is opened, inside the same transaction as the version bump and
// before tables() runs.
const std::vector<std::vector<Statement>>& migrations();

// 1 + migrations().size().
int version();

}  // namespace renkei::server::store_schema

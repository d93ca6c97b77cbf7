// Throw-away PostgreSQL databases for tests: one new, empty database per
// object on the server RENKEI_TEST_POSTGRES_URI names (scripts/with-postgres.sh
// starts one), dropped when the object ends. Used by the storage contract
// suite (storage_test.cpp) and by TestServer when RENKEI_TEST_BACKEND=postgres.
#pragma once

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>

namespace renkei::server::testing {

inline constexpr const char* kPostgresUriVariable = "RENKEI_TEST_POSTGRES_URI";

inline std::optional<std::string> postgres_server_uri() {
  const char* v = std::getenv(kPostgresUriVariable);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

// Runs one statement outside any transaction (CREATE/DROP DATABASE); returns
// "" or PostgreSQL's error message.
inline std::string postgres_exec(const std::string& conninfo, const std::string& sql) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  // Quiet: "database … does not exist, skipping".
  PQsetNoticeProcessor(c, [](void*, const char*) {}, nullptr);
  std::string error;
  if (PQstatus(c) != CONNECTION_OK) {
    error = PQerrorMessage(c);
  } else {
    PGresult* r = PQexec(c, sql.c_str());
    const auto st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) error = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(c);
  return error;
}

// `conninfo` with its database replaced by `dbname`, as key=value pairs.
inline std::string with_dbname(const std::string& conninfo, const std::string& dbname) {
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &err);
  if (!options) {
    std::string msg = err ? err : "cannot parse";
    PQfreemem(err);
    throw std::runtime_error(msg);
  }
  auto quoted = [](const std::string& v) {
    std::string out = "'";
    for (char ch : v) {
      if (ch == '\'' || ch == '\\') out += '\\';
      out += ch;
    }
    return out + "'";
  };
  std::string out = "dbname=" + quoted(dbname);
  for (PQconninfoOption* o = options; o->keyword; ++o) {
    if (!o->val || std::string(o->keyword) == "dbname") continue;
    out += " " + std::string(o->keyword) + "=" + quoted(o->val);
  }
  PQconninfoFree(options);
  return out;
}

// A new, empty database on the test server; dropped at the end.
class PostgresTestDatabase {
 public:
  explicit PostgresTestDatabase(std::string server_uri) : server_(std::move(server_uri)) {
    static std::atomic<int> counter{0};
    name_ = "renkei_test_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
    postgres_exec(server_, "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    const std::string error = postgres_exec(server_, "CREATE DATABASE " + name_);
    if (!error.empty()) throw std::runtime_error("CREATE DATABASE: " + error);
    conninfo_ = with_dbname(server_, name_);
  }
  ~PostgresTestDatabase() {
    postgres_exec(server_, "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  }
  PostgresTestDatabase(const PostgresTestDatabase&) = delete;
  PostgresTestDatabase& operator=(const PostgresTestDatabase&) = delete;

  const std::string& conninfo() const { return conninfo_; }
  const std::string& name() const { return name_; }

 private:
  std::string server_;
  std::string name_;
  std::string conninfo_;
};

}  // namespace renkei::server::testing

// open_store: the backend a configuration's "database" names, and the
// counter of with_transaction's retries (storage.h).
#include <atomic>
#include <cstdint>
#include <string>

#include "store/storage.h"

namespace renkei::server {

namespace {

std::atomic<std::uint64_t> conflict_retries{0};
std::atomic<std::uint64_t> connection_retries{0};

bool starts_with(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

}  // namespace

std::uint64_t storage_conflict_retries() {
  return conflict_retries.load(std::memory_order_relaxed);
}

void count_storage_conflict_retry() {
  conflict_retries.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t storage_connection_retries() {
  return connection_retries.load(std::memory_order_relaxed);
}

void count_storage_connection_retry() {
  connection_retries.fetch_add(1, std::memory_order_relaxed);
}

bool is_postgres_database(const std::string& database) {
  return starts_with(database, "postgresql://") || starts_with(database, "postgres://");
}

std::string sqlite_path_of(const std::string& database) {
  if (is_postgres_database(database)) return {};
  if (starts_with(database, "sqlite:")) return database.substr(7);
  return database;
}

std::string database_for_log(const std::string& database) {
  if (!is_postgres_database(database)) return database;
  // scheme://[user[:password]@]host… — drop everything between ':' and '@'
  // of the user info. Query parameters may carry a password too
  // (?password=…): those are cut off entirely.
  const auto scheme_end = database.find("://") + 3;
  std::string out = database;
  const auto query = out.find('?', scheme_end);
  if (query != std::string::npos) out.resize(query);
  const auto at = out.find('@', scheme_end);
  if (at != std::string::npos) {
    const auto colon = out.find(':', scheme_end);
    if (colon != std::string::npos && colon < at) {
      out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  return out;
}

std::unique_ptr<Store> open_store(const std::string& database, int pool_size) {
  if (is_postgres_database(database)) return open_postgres_store(database, pool_size);
  return open_sqlite_store(sqlite_path_of(database));
}

}  // namespace renkei::server

// The current schema version (store_schema.h). The migrations themselves are
// generated from the .sql files into store_migrations.cpp at build time.
#include "store/store_schema.h"

namespace renkei::server::store_schema {

int version() {
  return static_cast<int>(migrations(Dialect::sqlite).size());
}

}  // namespace renkei::server::store_schema

// Admin API (/admin/api/...) for staff: lifting locks, revoking grants,
// announcing maintenance windows, switching clients, moving the development
// clock. Authenticated with the admin token (config.admin_token_digest).
// The API and its console are a separate issue (the operator console); until
// then no admin route exists, so nothing can be reached without the token.
#include "routes.h"

namespace renkei::server {

void register_admin_routes(httplib::Server&, App&) {}

}  // namespace renkei::server

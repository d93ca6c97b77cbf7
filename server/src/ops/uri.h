// Query strings for the redirect URIs the authorization server sends the
// browser to (no HTTP types: the flow and OAuth services build them).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace renkei::server {

// Percent-encoding for query strings (RFC 3986 unreserved kept).
std::string url_encode(std::string_view s);
// Appends query parameters to a redirect URI (which may already have a query).
std::string with_query(const std::string& uri,
                       const std::vector<std::pair<std::string, std::string>>& params);

}  // namespace renkei::server

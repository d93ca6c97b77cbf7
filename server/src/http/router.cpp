// Router and RouteTable (routes.h): the routes' methods by path, for 405.
#include <string>
#include <utility>

#include "http/routes.h"

namespace renkei::server {

void RouteTable::add(const std::string& pattern, unsigned method_bit) {
  // As httplib matches a route: the whole path against the pattern.
  routes_.emplace_back(std::regex(pattern), method_bit);
}

std::string RouteTable::allowed(const std::string& path) const {
  unsigned methods = 0;
  for (const auto& [pattern, bit] : routes_) {
    if ((methods & bit) == 0 && std::regex_match(path, pattern)) methods |= bit;
  }
  std::string out;
  auto add = [&out](const char* name) {
    if (!out.empty()) out += ", ";
    out += name;
  };
  if (methods & kGet) {
    add("GET");
    add("HEAD");
  }
  if (methods & kPost) add("POST");
  if (methods & kPut) add("PUT");
  if (methods & kPatch) add("PATCH");
  if (methods & kDelete) add("DELETE");
  return out;
}

Router& Router::Get(const std::string& pattern, httplib::Server::Handler handler) {
  table_->add(pattern, RouteTable::kGet);
  server_.Get(pattern, std::move(handler));
  return *this;
}
Router& Router::Post(const std::string& pattern, httplib::Server::Handler handler) {
  table_->add(pattern, RouteTable::kPost);
  server_.Post(pattern, std::move(handler));
  return *this;
}
Router& Router::Put(const std::string& pattern, httplib::Server::Handler handler) {
  table_->add(pattern, RouteTable::kPut);
  server_.Put(pattern, std::move(handler));
  return *this;
}
Router& Router::Patch(const std::string& pattern, httplib::Server::Handler handler) {
  table_->add(pattern, RouteTable::kPatch);
  server_.Patch(pattern, std::move(handler));
  return *this;
}
Router& Router::Delete(const std::string& pattern, httplib::Server::Handler handler) {
  table_->add(pattern, RouteTable::kDelete);
  server_.Delete(pattern, std::move(handler));
  return *this;
}

}  // namespace renkei::server

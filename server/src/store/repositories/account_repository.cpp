// The wire names of an account's status (account_repository.h): one
// spelling for both backends, the admin API and the records import.
#include "store/repositories/account_repository.h"

namespace renkei::server {

std::string_view account_status_wire_name(AccountStatus s) {
  switch (s) {
    case AccountStatus::active:
      return "active";
    case AccountStatus::closed:
      return "closed";
    case AccountStatus::moved:
      return "moved";
  }
  return "active";
}

std::optional<AccountStatus> account_status_from_wire(std::string_view name) {
  for (AccountStatus s : {AccountStatus::active, AccountStatus::closed, AccountStatus::moved}) {
    if (account_status_wire_name(s) == name) return s;
  }
  return std::nullopt;
}

}  // namespace renkei::server

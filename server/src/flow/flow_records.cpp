// The local records source of flow_records.h.
#include "flow/flow_records.h"

#include "ops/app.h"
#include "records/records.h"

namespace renkei::server {

IdentityAnswer LocalFlowRecords::check_identity(StoreTx& tx, const AccountRef& account,
                                                const CustomerInfo& typed) {
  IdentityAnswer answer;
  std::optional<AccountRecord> record;
  answer.check = renkei::server::check_identity(tx, account, typed, &record);
  if (record && answer.check != IdentityCheck::account_not_eligible) answer.account_id = record->id;
  return answer;
}

PinAnswer LocalFlowRecords::check_pin(StoreTx& tx, std::int64_t account_id,
                                      const std::string& pin) {
  PinAnswer answer;
  std::optional<AccountRecord> account = tx.account_by_id(account_id);
  answer.eligible = account && eligible_for_linking(standing_of(*account));
  if (answer.eligible) answer.check = renkei::server::check_pin(*account, pin_key_, pin);
  return answer;
}

std::shared_ptr<FlowRecords> make_flow_records(const App& app) {
  return std::make_shared<LocalFlowRecords>(app.config().pin_hmac_key);
}

}  // namespace renkei::server

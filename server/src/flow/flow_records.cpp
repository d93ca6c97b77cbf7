// The flow's records over the App's records source (flow_records.h).
#include "flow/flow_records.h"

#include "ops/app.h"

namespace renkei::server {

RecordsResult<IdentityAnswer> SourceFlowRecords::check_identity(const AccountRef& account,
                                                                const CustomerInfo& typed) {
  return app_.records().check_identity(account, typed);
}

RecordsResult<PinAnswer> SourceFlowRecords::check_pin(const AccountRef& account,
                                                      const std::string& pin) {
  RecordsSource& source = app_.records();
  RecordsResult<bool> eligible = source.still_eligible(account);
  if (!eligible.ok()) return eligible.failure();
  PinAnswer answer;
  answer.eligible = eligible.value();
  if (!answer.eligible) return answer;  // closed or moved since ②: the PIN stays here
  RecordsResult<PinCheck> check = source.verify_pin(account, pin);
  if (!check.ok()) return check.failure();
  answer.check = check.value();
  return answer;
}

std::shared_ptr<FlowRecords> make_flow_records(App& app) {
  return std::make_shared<SourceFlowRecords>(app);
}

}  // namespace renkei::server

// What the flow asks of the credit union's records: the one seam between the
// flow service and wherever the records are (issue 14, records_source.h).
// Screen ② asks whether the account may be linked and whether the identity
// typed matches (birth date, one of the registered phones); screen ⑤ asks
// whether the account is still linkable and whether the PIN is the account's
// cash-card PIN. The eligibility rule itself is the core's
// (renkei::eligible_for_linking, applied once in RecordsSource::check_identity
// and still_eligible); an implementation only says what the records hold.
//
// The questions are asked OUTSIDE any store transaction: a remote gateway may
// take up to its timeout, and no transaction (with SQLite: the one writer) may
// wait on it. So no StoreTx crosses this seam; what Renkei keeps of an account
// (its local id: the lock, the grant) is found or created by the flow service
// in its own transaction (local_account_id, records_source.h).
//
// SourceFlowRecords answers from the App's configured RecordsSource (the local
// store, or the core-banking gateway with its circuit breaker);
// make_flow_records() is the one place that chooses the implementation.
#pragma once

#include <memory>
#include <string>

#include "records/records_source.h"
#include "renkei/flow.h"

namespace renkei::server {

class App;

// ⑤'s answer.
struct PinAnswer {
  // False: the account was closed, moved or lost its card since ②
  // (account_not_eligible); the PIN was not sent and nothing is counted.
  bool eligible = false;
  PinCheck check = PinCheck::mismatch;
};

class FlowRecords {
 public:
  virtual ~FlowRecords() = default;
  // ② : `account` from ①, `typed` the normalized values of ②'s valid form.
  // A failure (records down, slow, in maintenance) is never the customer's:
  // nothing is counted towards the lock.
  virtual RecordsResult<IdentityAnswer> check_identity(const AccountRef& account,
                                                       const CustomerInfo& typed) = 0;
  // ⑤ : `account` the flow's account (verified on ②); `pin` the 4 digits of
  // ⑤'s valid form, which an implementation must not keep, log or send
  // anywhere but to the check itself. Failures as for check_identity.
  virtual RecordsResult<PinAnswer> check_pin(const AccountRef& account, const std::string& pin) = 0;
};

// Over the App's records source (App::records(), looked up at each call:
// main.cpp installs a remote source after make_app). Holds no state of its
// own: the breaker and the gateway's connections are the source's, one per
// App, shared by every FlowRecords and by the account API.
class SourceFlowRecords final : public FlowRecords {
 public:
  explicit SourceFlowRecords(App& app) : app_(app) {}
  RecordsResult<IdentityAnswer> check_identity(const AccountRef& account,
                                               const CustomerInfo& typed) override;
  RecordsResult<PinAnswer> check_pin(const AccountRef& account, const std::string& pin) override;

 private:
  App& app_;
};

// The flow's records for `app`: its configured source ("records": {"source":
// "local" | "remote"}, App::records()).
std::shared_ptr<FlowRecords> make_flow_records(App& app);

}  // namespace renkei::server

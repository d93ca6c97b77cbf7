// What the flow asks of the credit union's records: the one seam between the
// flow service and wherever the records are (issue 14). Screen ② asks whether
// the account may be linked and whether the identity typed matches (birth
// date, one of the registered phones); screen ⑤ asks whether the PIN is the
// account's cash-card PIN and whether the account is still linkable. The
// eligibility rule itself is the core's (renkei::eligible_for_linking); an
// implementation only says what the records hold.
//
// LocalFlowRecords answers from this server's own store (records.h).
// make_flow_records() is the one place that chooses the implementation.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "renkei/error.h"
#include "renkei/flow.h"
#include "renkei/forms.h"
#include "store/storage.h"

namespace renkei::server {

class App;

// ②'s answer.
struct IdentityAnswer {
  // The records could not answer (a remote source down, slow or in
  // maintenance: system_error, busy, out_of_hours). The flow answers this code
  // and nothing is counted towards the lock; `check` is then ignored.
  std::optional<ErrorCode> unavailable;
  IdentityCheck check = IdentityCheck::mismatch;
  // The account whose lock a wrong answer counts against (this server's
  // account id: the lock state and the grant are kept here). Set whenever the
  // account is eligible (check is match or mismatch); unset for
  // account_not_eligible.
  std::optional<std::int64_t> account_id;
};

// ⑤'s answer.
struct PinAnswer {
  // As IdentityAnswer::unavailable; nothing is counted.
  std::optional<ErrorCode> unavailable;
  // The account was closed, moved or lost its card since ② (account_not_eligible):
  // the PIN was not checked and nothing is counted.
  bool eligible = false;
  PinCheck check = PinCheck::mismatch;
};

class FlowRecords {
 public:
  virtual ~FlowRecords() = default;
  // ② : `account` from ①, `typed` the normalized values of ②'s valid form.
  // `tx` is the flow step's transaction (a local source reads it; a remote one
  // may ignore it).
  virtual IdentityAnswer check_identity(StoreTx& tx, const AccountRef& account,
                                        const CustomerInfo& typed) = 0;
  // ⑤ : `account_id` as ② returned it; `pin` the 4 digits of ⑤'s valid form,
  // which an implementation must not keep, log or send anywhere but to the
  // check itself.
  virtual PinAnswer check_pin(StoreTx& tx, std::int64_t account_id, const std::string& pin) = 0;
};

// The records in this server's store (accounts, customers, keyed PIN hashes
// under `pin_hmac_key`; records.h check_identity and check_pin).
class LocalFlowRecords final : public FlowRecords {
 public:
  explicit LocalFlowRecords(std::string pin_hmac_key) : pin_key_(std::move(pin_hmac_key)) {}
  IdentityAnswer check_identity(StoreTx& tx, const AccountRef& account,
                                const CustomerInfo& typed) override;
  PinAnswer check_pin(StoreTx& tx, std::int64_t account_id, const std::string& pin) override;

 private:
  std::string pin_key_;
};

// The records source this server's configuration names (today always the
// local one).
std::shared_ptr<FlowRecords> make_flow_records(const App& app);

}  // namespace renkei::server

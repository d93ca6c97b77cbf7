// The customer flow without HTTP: screens ①–⑥, the two ways out, and ④'s
// incoming call. Each customer step is one call of renkei::step, in three
// parts:
//   1. gather the facts the core needs. Screens ② and ⑤ ask the records
//      (FlowRecords, flow_records.h) FIRST, outside any store transaction: a
//      short read-only transaction learns the flow, its account and (⑤) the
//      lock, it is closed, then the records are asked (a remote gateway may
//      take up to its timeout; no transaction, with SQLite the one writer,
//      waits on it). A locked account's PIN is not sent anywhere. Then, in
//      the step's read-write transaction: the flow again (the answer is used
//      only if the flow is still on the screen and account it was asked for,
//      else busy), the client's switch, the account's lock state, ③'s pool
//      number (picked with the App's Randomness);
//   2. the core's step;
//   3. persist what the transition says: the lock, the session rotation after
//      ②, the flow, the grant, code and result mail on consent, the audit row.
// The lock's read-decide-write (2 and its save in 3) stays one transaction.
// The read-write transaction runs under with_transaction (storage.h), so it
// is run again on a storage conflict; metrics, the mail wake-up and the
// answer come after its commit. Part 3 is shared with the incoming call
// (webhook and simulator), which verifies a flow waiting on ④ through the
// same write.
//
// The HTTP layer (flow_routes.cpp, telephony.cpp, admin_routes.cpp) parses a
// request into a StepRequest or CallRequest, calls the service and writes its
// answer; the service never sees a request, a cookie or a header.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flow/flow_records.h"
#include "ops/app.h"
#include "renkei/flow.h"
#include "renkei/forms.h"
#include "store/storage.h"

namespace renkei::server {

// The POST endpoints of the six screens, and leave: 連携元画面へ from a screen
// where the customer cannot go on (SPEC §8a).
enum class FlowStep { account, customer, phone, confirm_call, pin, consent, cancel, leave };

// "submit_account", …, "cancel", "leave" (the core's event names, plus leave).
std::string_view step_wire_name(FlowStep step);
// The step of a screen's event (the core's screens table names the event).
std::optional<FlowStep> step_of_event(std::string_view event);
// Why the customer leaves for the app (POST /api/flow/leave {"reason"}), and
// the RFC 6749 §4.1.2.1 error the app receives for it; nullopt for a reason
// that is not one of out_of_hours, service_unavailable, busy, system_error.
std::optional<std::string_view> leave_error(std::string_view reason);

// Who asked (for the operation log only).
struct RequestOrigin {
  std::string ip;
  std::string user_agent;
};

// One customer step as the HTTP layer parsed it.
struct StepRequest {
  FlowStep step = FlowStep::cancel;
  // secret_digest of the session cookie's value; "" when there was no cookie.
  std::string session_digest;
  // The X-CSRF-Token header; nullopt when absent.
  std::optional<std::string> csrf_token;
  // The form of the step (only the one of `step` is read). Missing members
  // are empty: the core reports them as required.
  AccountForm account;
  CustomerForm customer;
  PinForm pin;
  ConsentForm consent;
  std::string leave_reason;  // FlowStep::leave: one of leave_error()'s reasons
  RequestOrigin origin;
  UnixSeconds now = 0;
};

// What the step did, for the HTTP layer to write.
struct StepResult {
  // Unset: accepted (HTTP 200). Else the error code of the envelope.
  std::optional<ErrorCode> error;
  std::vector<FieldError> field_errors;
  bool show_required_dialog = false;
  // The flow's public view after the step (flow_view_json); null when the
  // session named no flow (session_expired) or the CSRF token was wrong
  // (forbidden): then nothing about the flow is told.
  nlohmann::json view;
  // out_of_hours: when the service opens again (service_hours_json).
  nlohmann::json service;
  // Set when ② rotated the session: the new cookie value and CSRF token.
  std::string new_session;
  std::string csrf_token;
  // Where the page sends the browser (consent, cancel, leave), and for an
  // ended flow (cancelled, expired) its outcome again (oauth.h outcome_redirect).
  std::string redirect_to;
  // locked (B84): the step brought the flow to ② or ⑤ of an account locked
  // now (① 次へ, ④ 確定する): the page disables the form at once, as
  // FlowLookup::lock_notice does after a reload.
  std::optional<ErrorCode> lock_notice;
};

// What GET /api/flow needs: the flow named by a session, after the core's
// idle rule (an idle flow is expired, persisted and logged).
struct FlowLookup {
  std::optional<ErrorCode> error;  // session_expired (no flow, or idle)
  std::optional<FlowRecord> flow;  // the flow, also when it has just expired
  std::string client_display_name;
  // locked (B84): the flow is on ② or ⑤ and its account is locked now, so the
  // page shows that screen's form disabled with the message, as after the
  // attempt that was refused (SPEC §8a), also after a reload.
  std::optional<ErrorCode> lock_notice;
  // A completed flow: a new authorization code for its grant while no code
  // was exchanged and the grant is active (oauth.h reissue_authorization),
  // redirect_uri?code&state&iss; "" once the code was exchanged.
  std::string redirect_to;
};

// ④'s incoming call as the webhook or a simulator reports it.
struct CallRequest {
  std::string call_id;                // the provider's id (idempotency key)
  std::optional<std::string> caller;  // digits; nullopt = 非通知 (withheld)
  std::string dialled;                // digits of the toll-free number called
  std::string note;                   // appended to the audit row's detail
  // Simulated calls only: the flow tried before any other (see simulate_call).
  std::string preferred_flow_id;
  RequestOrigin origin;
};

// What one incoming call did.
struct CallMatch {
  bool matched = false;  // it verified a flow waiting on ④
  std::string outcome;   // "ok" or an ErrorCode wire name (call_not_matched, …)
};

// The flow's public view (renkei::public_view_json) as the page receives it,
// plus what a page without its WASM core (iOS Lockdown Mode, a webview whose
// CSP refuses 'wasm-unsafe-eval') cannot compute itself: on ④ the assigned
// toll-free number grouped as read in Japan by the core (`call.dialled_display`,
// "0120-000-001"), beside the plain digits the tel: link uses.
nlohmann::json flow_view_json(const FlowState& state, UnixSeconds now);

// While the service is closed: when it opens again (SPEC §8a), as instants
// for the page's WASM core and as the core's sentence; null while open.
// `gateway_reopens_at`: the core-banking gateway is in maintenance and said
// when it reopens (records_source.h), whatever our own calendar says.
nlohmann::json service_hours_json(const App& app, UnixSeconds now,
                                  std::optional<UnixSeconds> gateway_reopens_at = std::nullopt);

// Counts one step in renkei_flow_steps_total{step,outcome}.
void count_step(App& app, std::string_view step, std::string_view outcome);

class FlowService {
 public:
  // `records` null: make_flow_records(app), the App's configured source.
  explicit FlowService(App& app, std::shared_ptr<FlowRecords> records = nullptr);

  // One POST of screens ①–⑥, cancel or leave. Throws StorageError (or
  // another std::exception) when the store fails: nothing was written, and
  // the caller answers system_error.
  StepResult run(const StepRequest& request);

  // GET /api/flow's lookup (see FlowLookup). Throws like run().
  // `may_reissue_code`: the request is the page's own fetch of its state, so
  // a completed flow's code may be issued again (oauth.h,
  // reissue_authorization); otherwise a completed flow is only read.
  FlowLookup look_up(const std::string& session_digest, const RequestOrigin& origin,
                     UnixSeconds now, bool may_reissue_code);

  // A flow named by its session digest, as it is (no rule applied), and
  // whether `csrf_token` is its token (constant time). For the simulator.
  std::optional<FlowRecord> flow_of_session(const std::string& session_digest);
  static bool csrf_matches(const FlowRecord& flow, const std::optional<std::string>& csrf_token);

  // Matches one call against the flows waiting on ④ and records it (call
  // event, flow, audit), all in one transaction. Idempotent on call_id: a call
  // seen before gets its first answer. Throws like run().
  CallMatch incoming_call(const CallRequest& call);

  // A simulated call (development only) for `flow`: from its registered phone
  // to its assigned number, with a fresh "sim-…" call id, through the same
  // matching as a real call, except that `flow` itself is tried first (the
  // simulator stands in for this customer's own call; a real call cannot say
  // which of two flows on one phone it is for). `note` is appended to the
  // audit row's detail. nullopt when the flow is not waiting on ④.
  std::optional<CallMatch> simulate_call(const FlowRecord& flow, const RequestOrigin& origin,
                                         std::string_view note);

  // Screen ③'s toll-free number (SPEC §7): a number of `pool`, picked with the
  // App's Randomness, on which no other flow for the same registered phone is
  // waiting on ④, so that a call from that phone can only ever be for one flow
  // (security finding, issue 12: an attacker's flow on the victim's number
  // took the victim's call). nullopt when every number of the pool is taken
  // for this phone: the customer is told busy and tries again once one of
  // those windows has closed.
  std::optional<std::string> pick_call_number(StoreTx& tx, const std::vector<std::string>& pool,
                                              const FlowRecord& flow, UnixSeconds now);

 private:
  struct Asked;
  struct Applied;
  // FlowLookup::lock_notice: on ② or ⑤, the flow's account locked at `now`.
  bool lock_in_force(StoreTx& tx, const FlowRecord& flow, UnixSeconds now);
  // Part 1's records question for ② and ⑤, asked with no transaction open
  // (see the top of this file); nothing asked for the other steps, or when the
  // request will be refused anyway (no flow, wrong CSRF token, client off,
  // another screen, an invalid form).
  Asked ask_records(const StepRequest& request);
  // Part 3, shared by run() and incoming_call(): writes what `t` (the core's
  // answer to `event` on `flow`) says inside `tx` and updates `flow`.
  Applied apply(StoreTx& tx, FlowRecord& flow, const FlowEvent& event, const FlowTransition& t,
                std::optional<std::int64_t> lock_account,
                std::optional<std::string_view> leave_with, UnixSeconds now);

  App& app_;
  std::shared_ptr<FlowRecords> records_;
};

}  // namespace renkei::server

// The customer flow without HTTP (flow_service.h): the records asked outside
// any transaction, then gather the facts, the core's step, persist in one
// read-write transaction.
#include "flow/flow_service.h"

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <variant>

#include "oauth/oauth.h"
#include "ops/crypto.h"
#include "ops/mail.h"
#include "records/records.h"
#include "records/records_source.h"
#include "renkei/json.h"
#include "renkei/ui_text.h"

namespace renkei::server {
namespace {

using nlohmann::json;

std::string outcome_name(const std::optional<ErrorCode>& error) {
  return error ? std::string(wire_name(*error)) : std::string("ok");
}

// One operation-log row (SPEC §9) about `flow`. Only masked phone numbers;
// never the PIN.
AuditRecord flow_audit_row(const FlowRecord& flow, const RequestOrigin& origin,
                           std::string_view step, std::string outcome, UnixSeconds now,
                           std::string actor) {
  AuditRecord a;
  a.at = now;
  a.flow_id = flow.flow_id;
  a.step = std::string(step);
  a.outcome = std::move(outcome);
  a.account = flow.state.account ? account_key(*flow.state.account) : std::string();
  a.name_kana = flow.state.name_kana;
  a.masked_phone = flow.state.phone.empty() ? std::string() : mask_phone(flow.state.phone);
  a.client_id = flow.client_id;
  a.ip = origin.ip;
  a.user_agent = origin.user_agent;
  a.actor = std::move(actor);
  return a;
}

// The flow moved (another request of the same session) while the records
// were asked: the answer is not for this state.
constexpr const char* kFlowMovedDetail = "the flow changed while the records were asked";

// An incoming call whose event row another instance wrote first (the unit
// rolls back; the call answers like a duplicate).
struct CallEventRaced : std::runtime_error {
  CallEventRaced() : std::runtime_error("call event written by another transaction") {}
};

// The app's name the page shows: its registered display name, or its id when
// the client is gone.
std::string client_display_name(StoreTx& tx, const FlowRecord& flow) {
  std::optional<ClientRecord> client = tx.find_client(flow.client_id);
  return client ? client->display_name : flow.client_id;
}

}  // namespace

// ---------- names ----------

std::string_view step_wire_name(FlowStep step) {
  switch (step) {
    case FlowStep::account:
      return "submit_account";
    case FlowStep::customer:
      return "submit_customer";
    case FlowStep::phone:
      return "confirm_phone";
    case FlowStep::confirm_call:
      return "confirm_call";
    case FlowStep::pin:
      return "submit_pin";
    case FlowStep::consent:
      return "submit_consent";
    case FlowStep::cancel:
      return "cancel";
    case FlowStep::leave:
      return "leave";
  }
  return "unknown";
}

std::optional<FlowStep> step_of_event(std::string_view event) {
  for (FlowStep step : {FlowStep::account, FlowStep::customer, FlowStep::phone,
                        FlowStep::confirm_call, FlowStep::pin, FlowStep::consent}) {
    if (step_wire_name(step) == event) return step;
  }
  return std::nullopt;
}

std::optional<std::string_view> leave_error(std::string_view reason) {
  if (reason == wire_name(ErrorCode::out_of_hours) ||
      reason == wire_name(ErrorCode::service_unavailable) ||
      reason == wire_name(ErrorCode::busy)) {
    return "temporarily_unavailable";
  }
  if (reason == wire_name(ErrorCode::system_error)) return "server_error";
  return std::nullopt;
}

json flow_view_json(const FlowState& state, UnixSeconds now) {
  json view = public_view_json(state, now);
  auto call = view.find("call");
  if (call != view.end() && call->is_object()) {
    (*call)["dialled_display"] = group_tollfree(call->value("dialled_number", std::string()));
  }
  return view;
}

json service_hours_json(const App& app, UnixSeconds now,
                        std::optional<UnixSeconds> gateway_reopens_at) {
  if (gateway_reopens_at && *gateway_reopens_at > now) {
    return json{{"at", format_jst(now)},
                {"reopens_at", format_jst(*gateway_reopens_at)},
                {"reopening", reopening_message_ja(now, *gateway_reopens_at)}};
  }
  const ServiceCalendar calendar = app.calendar();
  if (calendar.is_open(now)) return nullptr;
  const UnixSeconds reopens = calendar.next_open(now);
  return json{{"at", format_jst(now)},
              {"reopens_at", format_jst(reopens)},
              {"reopening", reopening_message_ja(now, reopens)}};
}

void count_step(App& app, std::string_view step, std::string_view outcome) {
  app.metrics().count("renkei_flow_steps_total",
                      "step=\"" + std::string(step) + "\",outcome=\"" + std::string(outcome) +
                          "\"");
}

// ---------- the service ----------

// What the records said for ② or ⑤, asked before the step's transaction.
struct FlowService::Asked {
  bool asked = false;                      // a question was settled (asked, or withheld)
  Screen screen = Screen::account_entry;   // the flow's screen when asked
  std::optional<AccountRef> account;       // its account
  std::optional<std::int64_t> account_id;  // its local account id (⑤)
  std::optional<RecordsResult<IdentityAnswer>> identity;  // ②
  std::optional<RecordsResult<PinAnswer>> pin;            // ⑤
  // ⑤: the account was locked when asked, so the PIN was not sent: the core
  // answers locked. Used only while the lock still holds.
  bool pin_withheld = false;
};

struct FlowService::Applied {
  std::string new_session;  // set when ② rotated the session id
  std::string redirect_to;
  bool mail_enqueued = false;
};

FlowService::FlowService(App& app, std::shared_ptr<FlowRecords> records)
    : app_(app), records_(records ? std::move(records) : make_flow_records(app)) {}

bool FlowService::csrf_matches(const FlowRecord& flow,
                               const std::optional<std::string>& csrf_token) {
  if (flow.csrf_token.empty() || !csrf_token) return false;
  return constant_time_equal(*csrf_token, flow.csrf_token);
}

std::optional<FlowRecord> FlowService::flow_of_session(const std::string& session_digest) {
  if (session_digest.empty()) return std::nullopt;
  // with_transaction: rerun on a connection lost before anything ran.
  return with_transaction(app_.store(), TxMode::read_only,
                          [&](StoreTx& tx) { return tx.flow_by_session(session_digest); });
}

FlowLookup FlowService::look_up(const std::string& session_digest, const RequestOrigin& origin,
                                UnixSeconds now, bool may_reissue_code) {
  FlowLookup out;
  if (session_digest.empty()) {
    out.error = ErrorCode::session_expired;
    return out;
  }
  // The answer when the flow is missing or still live (with_transaction:
  // rerun on a connection lost before anything ran).
  std::optional<FlowLookup> read =
      with_transaction(app_.store(), TxMode::read_only, [&](StoreTx& tx) {
        std::optional<FlowLookup> found{std::in_place};
        found->flow = tx.flow_by_session(session_digest);
        if (!found->flow) {
          found->error = ErrorCode::session_expired;
          return found;
        }
        // A completed flow whose code can be issued again is written below.
        const bool completed = found->flow->state.screen == Screen::completed;
        if (completed && !(may_reissue_code && code_reissuable(tx, app_, *found->flow, now))) {
          found->client_display_name = client_display_name(tx, *found->flow);
          return found;
        }
        if (!is_idle_expired(found->flow->state, now, app_.flow_config()) && !completed) {
          found->client_display_name = client_display_name(tx, *found->flow);
          if (lock_in_force(tx, *found->flow, now)) found->lock_notice = ErrorCode::locked;
          return found;
        }
        return std::optional<FlowLookup>();
      });
  if (read) return std::move(*read);
  // The core's rule 2 (flow.h): a flow idle longer than the timeout is over.
  // A completed flow's code is issued again. Written in its own transaction,
  // on the flow as it is by then (a step may have moved it on in between).
  return with_transaction(app_.store(), TxMode::read_write, [&](StoreTx& tx) {
    FlowLookup found;
    found.flow = tx.flow_by_session(session_digest);
    if (!found.flow) {
      found.error = ErrorCode::session_expired;
    } else if (found.flow->state.screen == Screen::completed) {
      // SPEC §8a: the app always learns the outcome, also when the webview
      // reloaded between 許可する and following the redirect (oauth.h).
      found.client_display_name = client_display_name(tx, *found.flow);
      if (!may_reissue_code) return found;  // completed since the read above
      CodeReissue again = reissue_authorization(tx, app_, *found.flow, now);
      AuditRecord a = flow_audit_row(*found.flow, origin, "view", "ok", now, "customer");
      if (!again.redirect_to.empty()) {
        a.detail = "the authorization code issued again (a reload of the completed flow)";
        if (again.replaced > 0) {
          a.detail += "; " + std::to_string(again.replaced) + " unexchanged code withdrawn";
        }
      } else {
        a.detail = "completed: no code issued again: " + again.refusal;
      }
      tx.append_audit(a);
      found.redirect_to = std::move(again.redirect_to);
    } else if (is_idle_expired(found.flow->state, now, app_.flow_config())) {
      found.flow->state.screen = Screen::expired;
      found.flow->updated_at = now;
      tx.update_flow(*found.flow);
      tx.append_audit(
          flow_audit_row(*found.flow, origin, "view", "session_expired", now, "customer"));
      found.error = ErrorCode::session_expired;
    } else {
      found.client_display_name = client_display_name(tx, *found.flow);
      if (lock_in_force(tx, *found.flow, now)) found.lock_notice = ErrorCode::locked;
    }
    return found;
  });
}

bool FlowService::lock_in_force(StoreTx& tx, const FlowRecord& flow, UnixSeconds now) {
  std::optional<std::int64_t> account_id;
  if (flow.state.screen == Screen::pin_entry) {
    account_id = flow.account_id;
  } else if (flow.state.screen == Screen::customer_entry && flow.state.account) {
    // ②: the account typed on ①, whose lock ② reports to any attempt (the
    // lock is Renkei's own, kept by its local id, whatever the records source).
    if (std::optional<AccountRecord> a = tx.find_account(*flow.state.account)) account_id = a->id;
  }
  return account_id && app_.flow_config().lockout.is_locked(tx.load_lock(*account_id), now);
}

std::optional<std::string> FlowService::pick_call_number(StoreTx& tx,
                                                         const std::vector<std::string>& pool,
                                                         const FlowRecord& flow, UnixSeconds now) {
  // One read of every waiting flow, under a hold on this phone: two flows of
  // one phone choose one after the other and never share a number (a call
  // from the phone to it would be ambiguous); other phones do not wait.
  tx.hold_phone_for_call_pick(flow.state.phone);
  std::vector<std::string> taken;
  for (const FlowRecord& other : tx.flows_waiting_for_any_call(now)) {
    if (other.flow_id != flow.flow_id && other.state.phone == flow.state.phone &&
        other.state.call) {
      taken.push_back(other.state.call->dialled_number);
    }
  }
  std::vector<const std::string*> free;
  for (const std::string& number : pool) {
    if (std::find(taken.begin(), taken.end(), number) == taken.end()) free.push_back(&number);
  }
  if (free.empty()) return std::nullopt;
  return *free[static_cast<std::size_t>(app_.random().below(free.size()))];
}

FlowService::Applied FlowService::apply(StoreTx& tx, FlowRecord& flow, const FlowEvent& event,
                                        const FlowTransition& t,
                                        std::optional<std::int64_t> lock_account,
                                        std::optional<std::string_view> leave_with,
                                        UnixSeconds now) {
  Applied out;
  const FlowOutcome& outcome = t.outcome;
  flow.state = t.state;
  flow.updated_at = now;

  if (outcome.lock_update && lock_account) tx.save_lock(*lock_account, *outcome.lock_update);

  if (outcome.accepted) {
    if (std::holds_alternative<SubmitCustomer>(event)) {
      // ② matched: the account is the flow's, and the session id changes
      // (a session fixed before the customer proved who they are is worthless).
      flow.account_id = lock_account;
      out.new_session = app_.random().token();
      flow.session_digest = secret_digest(out.new_session);
      flow.csrf_token = app_.random().token();
    } else if (std::holds_alternative<SubmitConsent>(event)) {
      if (!flow.account_id) throw std::logic_error("consent without a verified account");
      std::optional<ClientRecord> client = tx.find_client(flow.client_id);
      out.redirect_to = issue_authorization(tx, app_, flow, *flow.account_id, now);
      enqueue_result_mail(tx, app_, flow, client ? client->display_name : flow.client_id, now);
      out.mail_enqueued = true;
    } else if (std::holds_alternative<Cancel>(event)) {
      // Kept with the flow: a reloaded page offers the same way back.
      flow.app_error = leave_with ? std::string(*leave_with) : std::string("access_denied");
      out.redirect_to = error_redirect(app_, flow, flow.app_error);
    }
  }
  // Back on ① (call_expired): nothing established so far carries over.
  if (flow.state.screen == Screen::account_entry) flow.account_id.reset();
  tx.update_flow(flow);
  return out;
}

FlowService::Asked FlowService::ask_records(const StepRequest& request) {
  Asked out;
  if (request.step != FlowStep::customer && request.step != FlowStep::pin) return out;
  if (request.session_digest.empty()) return out;
  const UnixSeconds now = request.now;
  std::optional<FlowRecord> flow;
  LockState lock;
  // with_transaction: rerun on a connection lost before anything ran.
  const bool go_on = with_transaction(app_.store(), TxMode::read_only, [&](StoreTx& tx) {
    lock = LockState{};
    flow = tx.flow_by_session(request.session_digest);
    if (!flow || !csrf_matches(*flow, request.csrf_token)) return false;
    std::optional<ClientRecord> client = tx.find_client(flow->client_id);
    if (!client || !client->enabled) return false;
    if (request.step == FlowStep::pin && flow->account_id) lock = tx.load_lock(*flow->account_id);
    return true;
  });  // closed: no transaction is open while the records are asked
  if (!go_on) return out;
  const FlowState& state = flow->state;
  if (!state.account) return out;
  out.screen = state.screen;
  out.account = state.account;
  out.account_id = flow->account_id;
  if (request.step == FlowStep::customer && state.screen == Screen::customer_entry) {
    FormResult form = validate_customer_form(request.customer, jst_date(now));
    if (!form.ok()) return out;
    out.asked = true;
    out.identity = records_->check_identity(*state.account, customer_info_from(form));
  } else if (request.step == FlowStep::pin && state.screen == Screen::pin_entry &&
             flow->account_id) {
    FormResult form = validate_pin_form(request.pin);
    if (form.ok()) {  // only a well-formed PIN goes to the records
      out.asked = true;
      if (app_.flow_config().lockout.is_locked(lock, now)) {
        // A locked account's PIN is not sent anywhere: the core answers locked.
        out.pin_withheld = true;
        out.pin = PinAnswer{true, PinCheck::mismatch};
      } else {
        std::string pin = form.value(Field::pin);
        out.pin = records_->check_pin(*state.account, pin);
        wipe(pin);
      }
    }
    for (auto& [field, value] : form.values) wipe(value);
  }
  return out;
}

StepResult FlowService::run(const StepRequest& request) {
  const FlowStep step = request.step;
  const UnixSeconds now = request.now;
  const RequestOrigin& origin = request.origin;
  StepResult result;
  std::optional<std::string_view> leave_with;
  if (step == FlowStep::leave) {
    leave_with = leave_error(request.leave_reason);
    if (!leave_with) {
      count_step(app_, step_wire_name(step), "bad_request");
      result.error = ErrorCode::bad_request;
      return result;
    }
  }

  // 1a. The records, with no transaction open.
  const Asked asked = ask_records(request);

  // What the step's transaction decided, for what follows its commit.
  struct Decided {
    std::optional<ErrorCode> early;  // session_expired or forbidden: only that is told
    FlowRecord flow;
    FlowOutcome outcome;
    Applied applied;
    std::string step_name;
    std::optional<RecordsFailure> records_failure;  // the records could not answer
    bool pool_exhausted = false;
    std::optional<ErrorCode> lock_notice;  // StepResult::lock_notice
  };
  // 1b–3 in one read-write transaction, run again on a storage conflict: only
  // store work in here (no metric, no mail wake-up, no answer).
  Decided d = with_transaction(app_.store(), TxMode::read_write, [&](StoreTx& tx) {
    Decided d;
    d.step_name = std::string(step_wire_name(step));
    std::optional<FlowRecord> loaded;
    if (!request.session_digest.empty()) loaded = tx.flow_by_session(request.session_digest);
    if (!loaded) {
      d.early = ErrorCode::session_expired;
      return d;
    }
    FlowRecord& flow = d.flow;
    flow = std::move(*loaded);
    const FlowState before = flow.state;

    if (!csrf_matches(flow, request.csrf_token)) {
      AuditRecord a = flow_audit_row(flow, origin, d.step_name, "forbidden", now, "customer");
      a.detail = "csrf token missing or wrong";
      tx.append_audit(a);  // only the log row: the flow is left as it was
      d.early = ErrorCode::forbidden;
      return d;
    }

    // An ended flow (cancelled, expired) asked to cancel or leave again (a
    // page reloaded or restored before its 連携元画面へ was followed): the
    // outcome it ended with, again, and nothing else changes (SPEC §8a).
    if ((step == FlowStep::cancel || step == FlowStep::leave) && !ended_flow_error(flow).empty()) {
      AuditRecord a = flow_audit_row(flow, origin, d.step_name, "ok", now, "customer");
      a.detail = "the flow had ended (" + std::string(screen_wire_name(before.screen)) +
                 "): its outcome again, error=" + ended_flow_error(flow);
      tx.append_audit(a);
      d.applied.redirect_to = outcome_redirect(app_, flow);
      return d;
    }

    // 1b. The facts: the event, with what the records said when the screen
    // is the one that asks.
    std::optional<std::int64_t> lock_account;  // the account whose lock this step reads
    std::optional<CustomerInfo> typed;         // ②'s normalized values (for the log)
    std::optional<ErrorCode> refusal;          // refused before the core is asked
    std::string refusal_detail;                // why, for the operation log
    // The records could not answer: the step is refused with the failure's
    // code, the flow stays where it was, nothing counts toward the lock.
    auto records_failed = [&](const RecordsFailure& f) {
      refusal = error_code_of(f);
      refusal_detail = "records " + std::string(records_failure_wire_name(f.kind)) +
                       (f.detail.empty() ? "" : ": " + f.detail);
      d.records_failure = f;
    };
    // The answer is for this state: the flow has not moved (another request
    // of the same session) since the records were asked.
    const bool asked_current =
        asked.asked && asked.screen == before.screen && asked.account == before.account;
    // The app switched off (SPEC §8a): every step but the ways out answers
    // service_unavailable, from /authorize (which started the flow so that the
    // page can lead back to the app) to 許可する.
    if (step != FlowStep::cancel && step != FlowStep::leave) {
      std::optional<ClientRecord> client = tx.find_client(flow.client_id);
      if (!client || !client->enabled) refusal = ErrorCode::service_unavailable;
    }
    FlowEvent event = Cancel{};
    switch (step) {
      case FlowStep::account:
        event = SubmitAccount{request.account};
        break;
      case FlowStep::customer: {
        SubmitCustomer e{request.customer, IdentityCheck::mismatch, {}};
        if (before.screen == Screen::customer_entry && before.account) {
          FormResult form = validate_customer_form(e.form, jst_date(now));
          if (form.ok()) typed = customer_info_from(form);
          if (typed && !refusal) {
            if (!asked_current || !asked.identity) {
              refusal = ErrorCode::busy;
              refusal_detail = kFlowMovedDetail;
            } else if (!asked.identity->ok()) {
              records_failed(asked.identity->failure());
            } else {
              const IdentityAnswer& answer = asked.identity->value();
              e.check = answer.check;
              if (answer.account && e.check != IdentityCheck::account_not_eligible) {
                // Renkei's own id of the account (its lock, later its grant).
                lock_account = local_account_id(tx, *answer.account);
                e.lock = tx.load_lock(*lock_account);
              }
            }
          }
        }
        event = std::move(e);
        break;
      }
      case FlowStep::phone: {
        ConfirmPhone e;
        if (before.screen == Screen::phone_confirm && !refusal) {
          const std::vector<std::string>& pool = app_.config().call_pool;
          if (pool.empty()) throw std::runtime_error("call pool is empty");
          std::optional<std::string> number = pick_call_number(tx, pool, flow, now);
          if (number) {
            e.dialled_number = std::move(*number);
          } else {
            // Every number waits for this phone's other flows. Told apart from
            // load shedding in the log and the metrics: many flows for one
            // phone at once is what someone holding a victim's ② data would do.
            refusal = ErrorCode::busy;
            refusal_detail = "every pool number waits for another flow of this phone";
            d.pool_exhausted = true;
          }
        }
        event = std::move(e);
        break;
      }
      case FlowStep::confirm_call:
        event = ConfirmCall{};
        break;
      case FlowStep::pin: {
        SubmitPin e{request.pin, PinCheck::mismatch, {}};
        if (before.screen == Screen::pin_entry && flow.account_id && !refusal) {
          FormResult form = validate_pin_form(e.form);
          const bool well_formed = form.ok();
          for (auto& [field, value] : form.values) wipe(value);
          if (well_formed) {
            if (!asked_current || !asked.pin || asked.account_id != flow.account_id) {
              refusal = ErrorCode::busy;
              refusal_detail = kFlowMovedDetail;
            } else if (!asked.pin->ok()) {
              records_failed(asked.pin->failure());
            } else if (!asked.pin->value().eligible) {
              refusal = ErrorCode::account_not_eligible;  // closed or moved since ②
            } else {
              // The lock as it is now, read, decided on and written back in
              // this one transaction (parallel attempts stay exact).
              LockState lock = tx.load_lock(*flow.account_id);
              if (asked.pin_withheld && !app_.flow_config().lockout.is_locked(lock, now)) {
                // Unlocked meanwhile (staff): the PIN was never checked.
                refusal = ErrorCode::busy;
                refusal_detail = "the account was unlocked while the step was decided";
              } else {
                lock_account = flow.account_id;
                e.lock = lock;
                e.check = asked.pin->value().check;
              }
            }
          }
        }
        event = std::move(e);
        break;
      }
      case FlowStep::consent:
        event = SubmitConsent{request.consent};
        break;
      case FlowStep::cancel:
      case FlowStep::leave:  // the core's Cancel: the flow ends; only the app's error differs
        event = Cancel{};
        break;
    }
    // 2. The core's step.
    FlowTransition t{before, {}};
    if (refusal) {
      t.outcome.error = refusal;
    } else {
      t = renkei::step(before, event, now, app_.flow_config());
    }
    d.outcome = t.outcome;

    // 3. Persist.
    d.applied = apply(tx, flow, event, t, lock_account, leave_with, now);
    if (auto* pin = std::get_if<SubmitPin>(&event)) wipe(pin->form.pin);

    if (step != FlowStep::leave) d.step_name = std::string(event_wire_name(event));
    AuditRecord audit =
        flow_audit_row(flow, origin, d.step_name, outcome_name(d.outcome.error), now, "customer");
    if (leave_with) {
      audit.detail = "reason=" + request.leave_reason + " error=" + std::string(*leave_with);
    }
    if (before.account) audit.account = account_key(*before.account);
    if (typed) {  // ② as typed (normalized): the log records every attempt
      audit.name_kana = typed->name_kana;
      audit.masked_phone = mask_phone(typed->phone);
    } else if (!before.phone.empty()) {
      audit.masked_phone = mask_phone(before.phone);
      audit.name_kana = before.name_kana;
    }
    if (d.outcome.lock_update && d.outcome.lock_update->locked_until) {
      audit.detail = "locked until " + format_jst(*d.outcome.lock_update->locked_until);
    }
    if (!refusal_detail.empty()) audit.detail = refusal_detail;
    tx.append_audit(audit);
    // A step that brings the customer to ② or ⑤ of a locked account (① 次へ,
    // ④ 確定する): the page shows the form disabled at once, as GET /api/flow
    // does after a reload (SPEC §8a), not first after an attempt.
    if (!d.outcome.error && before.screen != flow.state.screen && lock_in_force(tx, flow, now)) {
      d.lock_notice = ErrorCode::locked;
    }
    return d;
  });

  // After the commit: metrics, the mail wake-up, the answer.
  if (d.early) {
    count_step(app_, d.step_name, wire_name(*d.early));
    result.error = d.early;
    return result;
  }
  const FlowOutcome& outcome = d.outcome;
  const std::string outcome_code = outcome_name(outcome.error);
  if (d.pool_exhausted) app_.metrics().count("renkei_call_pool_exhausted_total");
  if (d.records_failure) {
    app_.metrics().count(
        "renkei_records_failures_total",
        "kind=\"" + std::string(records_failure_wire_name(d.records_failure->kind)) + "\"");
  }
  if (d.applied.mail_enqueued) app_.notify_mail();
  count_step(app_, d.step_name, outcome_code);
  if (outcome.error == ErrorCode::locked_now) app_.metrics().count("renkei_lockouts_total");
  if (d.flow.state.screen == Screen::completed) {
    app_.metrics().count("renkei_flows_completed_total");
  }

  result.error = outcome.error;
  result.field_errors = outcome.field_errors;
  result.show_required_dialog = outcome.show_required_dialog;
  result.view = flow_view_json(d.flow.state, now);
  if (outcome.error == ErrorCode::out_of_hours) {
    std::optional<UnixSeconds> gateway_reopens_at;
    if (d.records_failure && d.records_failure->kind == RecordsFailureKind::maintenance) {
      gateway_reopens_at = d.records_failure->reopens_at;
    }
    result.service = service_hours_json(app_, now, gateway_reopens_at);
  }
  if (!d.applied.new_session.empty()) {
    result.new_session = std::move(d.applied.new_session);
    result.csrf_token = d.flow.csrf_token;
  }
  result.redirect_to = std::move(d.applied.redirect_to);
  result.lock_notice = d.lock_notice;
  // Every answer about an ended flow offers its way back to the app (SPEC
  // §8a): the step that expired it (session_expired), a step it refuses
  // (invalid_step).
  if (result.redirect_to.empty()) result.redirect_to = outcome_redirect(app_, d.flow);
  return result;
}

// ---------- ④'s incoming call ----------

CallMatch FlowService::incoming_call(const CallRequest& call) {
  const UnixSeconds now = app_.now();
  const FlowConfig config = app_.flow_config();

  struct Decided {
    CallMatch answer;
    bool duplicate = false;
    bool ambiguous = false;
  };
  Decided d;
  try {
    // One read-write transaction, run again on a storage conflict: only store
    // work in here; the metrics follow the commit.
    d = with_transaction(app_.store(), TxMode::read_write, [&](StoreTx& tx) {
      Decided d;
      if (std::optional<CallEventRecord> seen = tx.find_call_event(call.call_id)) {
        d.duplicate = true;
        d.answer = CallMatch{!seen->flow_id.empty(), seen->outcome};
        return d;
      }

      const FlowEvent event = IncomingCall{call.caller, call.dialled};
      // Every flow this call would verify. pick_call_number gives one phone's
      // flows different numbers, so there is at most one; should there still
      // be more (the pool was shrunk under waiting flows), a real call cannot
      // say which of them it is for: it verifies none, and the operation log
      // says why. Only the simulator, which stands in for one session's own
      // call, names its flow.
      std::vector<std::pair<FlowRecord, FlowTransition>> accepting;
      for (FlowRecord& flow : tx.flows_waiting_for_call(call.dialled, now)) {
        FlowTransition t = renkei::step(flow.state, event, now, config);
        if (t.outcome.accepted) accepting.emplace_back(std::move(flow), std::move(t));
      }
      if (!call.preferred_flow_id.empty()) {
        auto own = std::find_if(accepting.begin(), accepting.end(), [&](const auto& a) {
          return a.first.flow_id == call.preferred_flow_id;
        });
        if (own != accepting.end()) {
          auto chosen = std::move(*own);
          accepting.clear();
          accepting.push_back(std::move(chosen));
        }
      }
      d.ambiguous = accepting.size() > 1;
      std::optional<FlowRecord> matched;
      if (accepting.size() == 1) {
        auto& [flow, t] = accepting.front();
        apply(tx, flow, event, t, std::nullopt, std::nullopt, now);  // the same write as a step
        matched = std::move(flow);
      }
      d.answer.matched = matched.has_value();
      d.answer.outcome = matched        ? std::string("ok")
                         : call.caller ? std::string(wire_name(ErrorCode::call_not_matched))
                                       : std::string(wire_name(ErrorCode::call_withheld));

      CallEventRecord record;
      record.provider_call_id = call.call_id;
      // Only what the operation log needs: the caller masked, never the number.
      record.caller_masked =
          call.caller ? std::optional<std::string>(mask_phone(*call.caller)) : std::nullopt;
      record.dialled = call.dialled;
      record.received_at = now;
      record.flow_id = matched ? matched->flow_id : std::string();
      record.outcome = d.answer.outcome;
      // Another transaction wrote this call first: roll this one back.
      if (!tx.insert_call_event(record)) throw CallEventRaced();

      // Operation log: masked numbers only.
      AuditRecord a;
      if (matched) {
        a = flow_audit_row(*matched, call.origin, "incoming_call", d.answer.outcome, now,
                           "telephony");
      } else {
        a.at = now;
        a.step = "incoming_call";
        a.outcome = d.answer.outcome;
        a.ip = call.origin.ip;
        a.user_agent = call.origin.user_agent;
        a.actor = "telephony";
      }
      a.masked_phone = call.caller ? mask_phone(*call.caller) : std::string();
      a.detail = "call_id=" + call.call_id + " dialled=" + mask_phone(call.dialled) +
                 (call.caller ? "" : " withheld") + call.note;
      if (d.ambiguous) {
        a.detail += " ambiguous: " + std::to_string(accepting.size()) +
                    " flows for this phone wait on this number; none verified (flows";
        for (const auto& [flow, t] : accepting) a.detail += " " + flow.flow_id;
        a.detail += ")";
      }
      tx.append_audit(a);
      return d;
    });
  } catch (const CallEventRaced&) {
    // Cannot happen inside one serializable transaction after find_call_event;
    // answer like a duplicate rather than verify twice.
    return CallMatch{false, std::string(wire_name(ErrorCode::call_not_matched))};
  }

  if (d.duplicate) {
    app_.metrics().count("renkei_telephony_calls_total", "outcome=\"duplicate\"");
    return d.answer;
  }
  if (d.ambiguous) app_.metrics().count("renkei_telephony_ambiguous_calls_total");
  app_.metrics().count("renkei_telephony_calls_total", "outcome=\"" + d.answer.outcome + "\"");
  return d.answer;
}

std::optional<CallMatch> FlowService::simulate_call(const FlowRecord& flow,
                                                    const RequestOrigin& origin,
                                                    std::string_view note) {
  if (flow.state.screen != Screen::call_wait || !flow.state.call || flow.state.phone.empty()) {
    return std::nullopt;
  }
  CallRequest call;
  call.call_id = "sim-" + app_.random().token(12);
  call.caller = flow.state.phone;
  call.dialled = flow.state.call->dialled_number;
  call.note = std::string(note);
  call.preferred_flow_id = flow.flow_id;
  call.origin = origin;
  return incoming_call(call);
}

}  // namespace renkei::server

// The customer flow without HTTP (flow_service.h): gather the facts, the
// core's step, persist in one transaction.
#include "flow/flow_service.h"

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <variant>

#include "oauth/oauth.h"
#include "ops/crypto.h"
#include "ops/mail.h"
#include "records/records.h"
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

void commit_or_throw(StoreTx& tx) {
  // A row that cannot be written is a system_error, never a silent gap.
  if (!tx.commit()) throw StorageError("commit failed");
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

json service_hours_json(const App& app, UnixSeconds now) {
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
  std::unique_ptr<StoreTx> tx = app_.store().begin();
  return tx->flow_by_session(session_digest);
}

FlowLookup FlowService::look_up(const std::string& session_digest, const RequestOrigin& origin,
                                UnixSeconds now) {
  FlowLookup out;
  if (session_digest.empty()) {
    out.error = ErrorCode::session_expired;
    return out;
  }
  std::unique_ptr<StoreTx> tx = app_.store().begin();
  out.flow = tx->flow_by_session(session_digest);
  if (!out.flow) {
    out.error = ErrorCode::session_expired;
    return out;
  }
  // The core's rule 2 (flow.h): a flow idle longer than the timeout is over.
  if (is_idle_expired(out.flow->state, now, app_.flow_config())) {
    out.flow->state.screen = Screen::expired;
    out.flow->updated_at = now;
    tx->update_flow(*out.flow);
    tx->append_audit(flow_audit_row(*out.flow, origin, "view", "session_expired", now, "customer"));
    commit_or_throw(*tx);
    out.error = ErrorCode::session_expired;
    return out;
  }
  std::optional<ClientRecord> client = tx->find_client(out.flow->client_id);
  out.client_display_name = client ? client->display_name : out.flow->client_id;
  return out;
}

std::optional<std::string> FlowService::pick_call_number(StoreTx& tx,
                                                         const std::vector<std::string>& pool,
                                                         const FlowRecord& flow, UnixSeconds now) {
  std::vector<const std::string*> free;
  for (const std::string& number : pool) {
    bool taken = false;
    for (const FlowRecord& other : tx.flows_waiting_for_call(number, now)) {
      taken |= other.flow_id != flow.flow_id && other.state.phone == flow.state.phone;
    }
    if (!taken) free.push_back(&number);
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
      out.redirect_to =
          leave_with ? error_redirect(app_, flow, *leave_with) : denial_redirect(app_, flow);
    }
  }
  // Back on ① (call_expired): nothing established so far carries over.
  if (flow.state.screen == Screen::account_entry) flow.account_id.reset();
  tx.update_flow(flow);
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

  std::unique_ptr<StoreTx> tx = app_.store().begin();
  std::optional<FlowRecord> loaded;
  if (!request.session_digest.empty()) loaded = tx->flow_by_session(request.session_digest);
  if (!loaded) {
    count_step(app_, step_wire_name(step), "session_expired");
    result.error = ErrorCode::session_expired;
    return result;
  }
  FlowRecord flow = std::move(*loaded);
  const FlowState before = flow.state;

  if (!csrf_matches(flow, request.csrf_token)) {
    AuditRecord a = flow_audit_row(flow, origin, step_wire_name(step), "forbidden", now, "customer");
    a.detail = "csrf token missing or wrong";
    tx->append_audit(a);
    // Only the log row: the flow is left as it was.
    commit_or_throw(*tx);
    count_step(app_, step_wire_name(step), "forbidden");
    result.error = ErrorCode::forbidden;
    return result;
  }

  // 1. The facts: the event, with what the records say when the screen is the
  // one that asks.
  std::optional<std::int64_t> lock_account;  // the account whose lock this step reads
  std::optional<CustomerInfo> typed;         // ②'s normalized values (for the log)
  std::optional<ErrorCode> refusal;          // refused before the core is asked
  std::string refusal_detail;                // why, for the operation log
  // The app switched off (SPEC §8a): every step but the ways out answers
  // service_unavailable, from /authorize (which started the flow so that the
  // page can lead back to the app) to 許可する.
  if (step != FlowStep::cancel && step != FlowStep::leave) {
    std::optional<ClientRecord> client = tx->find_client(flow.client_id);
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
          IdentityAnswer answer = records_->check_identity(*tx, *before.account, *typed);
          if (answer.unavailable) {
            refusal = answer.unavailable;
            refusal_detail = "records source unavailable";
          } else {
            e.check = answer.check;
            if (answer.account_id && e.check != IdentityCheck::account_not_eligible) {
              lock_account = answer.account_id;
              e.lock = tx->load_lock(*lock_account);
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
        std::optional<std::string> number = pick_call_number(*tx, pool, flow, now);
        if (number) {
          e.dialled_number = std::move(*number);
        } else {
          // Every number waits for this phone's other flows. Told apart from
          // load shedding in the log and the metrics: many flows for one phone
          // at once is what someone holding a victim's ② data would do.
          refusal = ErrorCode::busy;
          refusal_detail = "every pool number waits for another flow of this phone";
          app_.metrics().count("renkei_call_pool_exhausted_total");
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
        if (form.ok()) {  // only a well-formed PIN goes to the records
          PinAnswer answer = records_->check_pin(*tx, *flow.account_id, form.value(Field::pin));
          if (answer.unavailable) {
            refusal = answer.unavailable;
            refusal_detail = "records source unavailable";
          } else if (!answer.eligible) {
            refusal = ErrorCode::account_not_eligible;  // closed or moved since ②
          } else {
            lock_account = flow.account_id;
            e.lock = tx->load_lock(*lock_account);
            e.check = answer.check;
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
  const FlowOutcome& outcome = t.outcome;

  // 3. Persist.
  Applied applied = apply(*tx, flow, event, t, lock_account, leave_with, now);

  const std::string outcome_code = outcome_name(outcome.error);
  const std::string_view step_name =
      step == FlowStep::leave ? step_wire_name(step) : event_wire_name(event);
  AuditRecord audit = flow_audit_row(flow, origin, step_name, outcome_code, now, "customer");
  if (leave_with) audit.detail = "reason=" + request.leave_reason + " error=" + std::string(*leave_with);
  if (before.account) audit.account = account_key(*before.account);
  if (typed) {  // ② as typed (normalized): the log records every attempt
    audit.name_kana = typed->name_kana;
    audit.masked_phone = mask_phone(typed->phone);
  } else if (!before.phone.empty()) {
    audit.masked_phone = mask_phone(before.phone);
    audit.name_kana = before.name_kana;
  }
  if (outcome.lock_update && outcome.lock_update->locked_until) {
    audit.detail = "locked until " + format_jst(*outcome.lock_update->locked_until);
  }
  if (!refusal_detail.empty()) audit.detail = refusal_detail;
  tx->append_audit(audit);
  commit_or_throw(*tx);
  tx.reset();

  if (applied.mail_enqueued) app_.notify_mail();
  count_step(app_, step_name, outcome_code);
  if (outcome.error == ErrorCode::locked_now) app_.metrics().count("renkei_lockouts_total");
  if (flow.state.screen == Screen::completed) app_.metrics().count("renkei_flows_completed_total");

  result.error = outcome.error;
  result.field_errors = outcome.field_errors;
  result.show_required_dialog = outcome.show_required_dialog;
  result.view = flow_view_json(flow.state, now);
  if (outcome.error == ErrorCode::out_of_hours) result.service = service_hours_json(app_, now);
  if (!applied.new_session.empty()) {
    result.new_session = std::move(applied.new_session);
    result.csrf_token = flow.csrf_token;
  }
  result.redirect_to = std::move(applied.redirect_to);
  return result;
}

// ---------- ④'s incoming call ----------

CallMatch FlowService::incoming_call(const CallRequest& call) {
  const UnixSeconds now = app_.now();
  const FlowConfig config = app_.flow_config();
  std::unique_ptr<StoreTx> tx = app_.store().begin();

  if (std::optional<CallEventRecord> seen = tx->find_call_event(call.call_id)) {
    app_.metrics().count("renkei_telephony_calls_total", "outcome=\"duplicate\"");
    return CallMatch{!seen->flow_id.empty(), seen->outcome};
  }

  const FlowEvent event = IncomingCall{call.caller, call.dialled};
  // Every flow this call would verify. pick_call_number gives one phone's flows
  // different numbers, so there is at most one; should there still be more
  // (the pool was shrunk under waiting flows), a real call cannot say which of
  // them it is for: it verifies none, and the operation log says why. Only the
  // simulator, which stands in for one session's own call, names its flow.
  std::vector<std::pair<FlowRecord, FlowTransition>> accepting;
  for (FlowRecord& flow : tx->flows_waiting_for_call(call.dialled, now)) {
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
  const bool ambiguous = accepting.size() > 1;
  std::optional<FlowRecord> matched;
  if (accepting.size() == 1) {
    auto& [flow, t] = accepting.front();
    apply(*tx, flow, event, t, std::nullopt, std::nullopt, now);  // the same write as a step
    matched = std::move(flow);
  }
  CallMatch answer;
  answer.matched = matched.has_value();
  answer.outcome = matched        ? std::string("ok")
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
  record.outcome = answer.outcome;
  if (!tx->insert_call_event(record)) {
    // Cannot happen inside one serializable transaction after find_call_event;
    // answer like a duplicate rather than verify twice.
    return CallMatch{false, std::string(wire_name(ErrorCode::call_not_matched))};
  }

  // Operation log: masked numbers only.
  AuditRecord a;
  if (matched) {
    a = flow_audit_row(*matched, call.origin, "incoming_call", answer.outcome, now, "telephony");
  } else {
    a.at = now;
    a.step = "incoming_call";
    a.outcome = answer.outcome;
    a.ip = call.origin.ip;
    a.user_agent = call.origin.user_agent;
    a.actor = "telephony";
  }
  a.masked_phone = call.caller ? mask_phone(*call.caller) : std::string();
  a.detail = "call_id=" + call.call_id + " dialled=" + mask_phone(call.dialled) +
             (call.caller ? "" : " withheld") + call.note;
  if (ambiguous) {
    a.detail += " ambiguous: " + std::to_string(accepting.size()) +
                " flows for this phone wait on this number; none verified (flows";
    for (const auto& [flow, t] : accepting) a.detail += " " + flow.flow_id;
    a.detail += ")";
    app_.metrics().count("renkei_telephony_ambiguous_calls_total");
  }
  tx->append_audit(a);
  commit_or_throw(*tx);

  app_.metrics().count("renkei_telephony_calls_total", "outcome=\"" + answer.outcome + "\"");
  return answer;
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

// The customer's screens ①–⑥ over HTTP (docs/http-api.md "Customer flow").
// Each POST is one call of renkei::step inside one storage transaction: the
// flow, the records the step needs, the account's lock state, the audit row
// and (on consent) the grant and the result mail are read and written
// together, so the lockout count stays exact under parallel attempts.
#include <stdexcept>
#include <type_traits>
#include <variant>

#include "ops/crypto.h"
#include "flow/flow_session.h"
#include "http/http_util.h"
#include "ops/mail.h"
#include "oauth/oauth.h"
#include "records/records.h"
#include "records/records_source.h"
#include "renkei/lockout_policy.h"
#include "renkei/case_runner.h"
#include "renkei/json.h"
#include "renkei/ui_text.h"
#include "http/routes.h"
#include "flow/telephony.h"

namespace renkei::server {
namespace {

using nlohmann::json;

// The POST endpoints of the six screens, and leave: 連携元画面へ from a screen
// where the customer cannot go on (SPEC §8a).
enum class FlowStep { account, customer, phone, confirm_call, pin, consent, cancel, leave };

// Why the customer leaves for the app (POST /api/flow/leave {"reason"}), and
// the RFC 6749 §4.1.2.1 error the app receives for it.
std::optional<std::string_view> leave_error(std::string_view reason) {
  if (reason == wire_name(ErrorCode::out_of_hours) ||
      reason == wire_name(ErrorCode::service_unavailable) ||
      reason == wire_name(ErrorCode::busy)) {
    return "temporarily_unavailable";
  }
  if (reason == wire_name(ErrorCode::system_error)) return "server_error";
  return std::nullopt;
}

// What a request body said, before any record was consulted.
struct StepInput {
  AccountForm account;
  CustomerForm customer;
  PinForm pin;
  ConsentForm consent;
  std::string leave_reason;  // one of leave_error()'s reasons
};

// The body's members for the step; nullopt for members of the wrong type
// (bad_request). Missing members are empty: the core reports them as required.
std::optional<StepInput> parse_step_input(FlowStep step, const json& body) {
  StepInput in;
  switch (step) {
    case FlowStep::account: {
      auto form = account_form_from_json(body);
      if (!form) return std::nullopt;
      in.account = std::move(*form);
      break;
    }
    case FlowStep::customer: {
      auto form = customer_form_from_json(body);
      if (!form) return std::nullopt;
      in.customer = std::move(*form);
      break;
    }
    case FlowStep::pin: {
      auto it = body.find("pin");
      if (it != body.end()) {
        if (!it->is_string()) return std::nullopt;
        in.pin.pin = it->get<std::string>();
      }
      break;
    }
    case FlowStep::consent: {
      auto it = body.find("consent");
      if (it != body.end()) {
        if (!it->is_boolean()) return std::nullopt;
        in.consent.consent = it->get<bool>();
      }
      break;
    }
    case FlowStep::leave: {
      auto it = body.find("reason");
      if (it == body.end() || !it->is_string()) return std::nullopt;
      in.leave_reason = it->get<std::string>();
      if (!leave_error(in.leave_reason)) return std::nullopt;
      break;
    }
    case FlowStep::phone:
    case FlowStep::confirm_call:
    case FlowStep::cancel:
      break;
  }
  return in;
}

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

// The handler of a screen's event (the core's screens table names the event).
std::optional<FlowStep> step_of_event(std::string_view event) {
  for (FlowStep step : {FlowStep::account, FlowStep::customer, FlowStep::phone,
                        FlowStep::confirm_call, FlowStep::pin, FlowStep::consent}) {
    if (step_wire_name(step) == event) return step;
  }
  return std::nullopt;
}

std::string outcome_name(const std::optional<ErrorCode>& error) {
  return error ? std::string(wire_name(*error)) : std::string("ok");
}

// One operation-log row (SPEC §9). Only masked phone numbers; never the PIN.
AuditRecord audit_row(const FlowRecord& flow, const httplib::Request& req, std::string_view step,
                      std::string outcome, UnixSeconds now) {
  AuditRecord a;
  a.at = now;
  a.flow_id = flow.flow_id;
  a.step = std::string(step);
  a.outcome = std::move(outcome);
  a.account = flow.state.account ? account_key(*flow.state.account) : std::string();
  a.name_kana = flow.state.name_kana;
  a.masked_phone = flow.state.phone.empty() ? std::string() : mask_phone(flow.state.phone);
  a.client_id = flow.client_id;
  a.ip = client_ip(req);
  a.user_agent = header_for_log(req, "User-Agent");
  a.actor = "customer";
  return a;
}

void count_step(App& app, std::string_view step, const std::string& outcome) {
  app.metrics().count("renkei_flow_steps_total",
                      "step=\"" + std::string(step) + "\",outcome=\"" + outcome + "\"");
}

// While the service is closed: when it opens again (SPEC §8a), as instants
// for the page's WASM core and as the core's sentence; null while open.
// `gateway_reopens_at`: the core-banking gateway is in maintenance and said
// when it reopens (records_source.h), whatever our own calendar says.
json service_hours_json(const App& app, UnixSeconds now,
                        std::optional<UnixSeconds> gateway_reopens_at = std::nullopt) {
  const ServiceCalendar calendar = app.calendar();
  if (gateway_reopens_at && *gateway_reopens_at > now) {
    return json{{"at", format_jst(now)},
                {"reopens_at", format_jst(*gateway_reopens_at)},
                {"reopening", reopening_message_ja(now, *gateway_reopens_at)}};
  }
  if (calendar.is_open(now)) return nullptr;
  const UnixSeconds reopens = calendar.next_open(now);
  return json{{"at", format_jst(now)},
              {"reopens_at", format_jst(reopens)},
              {"reopening", reopening_message_ja(now, reopens)}};
}

// An error answer: the envelope plus the flow's public view (and, for
// out_of_hours, when the service opens again).
void send_flow_error(const App& app, httplib::Response& res, ErrorCode code,
                     const FlowState& state, UnixSeconds now,
                     const std::vector<FieldError>& fields = {},
                     bool show_required_dialog = false,
                     std::optional<UnixSeconds> gateway_reopens_at = std::nullopt) {
  json body = error_envelope(code, fields, show_required_dialog);
  body["flow"] = flow_view_json(state, now);
  if (code == ErrorCode::out_of_hours) {
    body["service"] = service_hours_json(app, now, gateway_reopens_at);
  }
  send_json(res, http_status(code), body);
}

// ①'s 科目 as the core names them (the page draws ① before its catalog).
json account_types_json() {
  json out = json::array();
  for (AccountType t : kAccountTypes) {
    out.push_back(json{{"type", account_type_wire_name(t)}, {"label", account_type_label_ja(t)}});
  }
  return out;
}

json profile_json(const InstitutionProfile& p) {
  return json{{"name", p.name},
              {"terms_url", p.terms_url},
              {"faq_url", p.faq_url},
              {"contact_phone", p.contact_phone},
              {"contact_hours", p.contact_hours},
              {"copyright", p.copyright}};
}

// GET /api/flow
void get_flow(App& app, const httplib::Request& req, httplib::Response& res) {
  const UnixSeconds now = app.now();
  std::unique_ptr<StoreTx> tx = app.store().begin();
  std::optional<FlowRecord> flow = load_session_flow(app, *tx, req);
  if (!flow) {
    // The page still needs the institution's name, links and contact number to
    // show the message (e.g. /flow/?error=out_of_hours arrives without a flow).
    json body = error_envelope(ErrorCode::session_expired);
    body["profile"] = profile_json(app.config().profile);
    body["service"] = service_hours_json(app, now);
    send_json(res, http_status(ErrorCode::session_expired), body);
    return;
  }
  // The core's rule 2 (flow.h): a flow idle longer than the timeout is over.
  if (is_idle_expired(flow->state, now, app.flow_config())) {
    flow->state.screen = Screen::expired;
    flow->updated_at = now;
    tx->update_flow(*flow);
    tx->append_audit(audit_row(*flow, req, "view", "session_expired", now));
    if (!tx->commit()) throw StorageError("commit failed");
    send_flow_error(app, res, ErrorCode::session_expired, flow->state, now);
    return;
  }
  std::optional<ClientRecord> client = tx->find_client(flow->client_id);
  json body{{"flow", flow_view_json(flow->state, now)},
            {"csrf_token", flow->csrf_token},
            {"client", json{{"id", flow->client_id},
                            {"display_name", client ? client->display_name : flow->client_id}}},
            {"profile", profile_json(app.config().profile)},
            {"authorization_days", app.config().authorization_days},
            {"call_window_seconds", app.config().call_window_seconds},
            {"account_types", account_types_json()},
            {"dev_mode", app.config().dev_mode},
            {"service", service_hours_json(app, now)}};
  send_json(res, 200, body);
}

// What the records said for this step, asked BEFORE the step's transaction
// (records_source.h): a remote gateway may take up to its timeout, and no
// store transaction (SQLite: the one writer) may wait on it. The step's
// transaction then uses the answer only if the flow is still where it was
// when the records were asked.
struct RecordsAnswers {
  bool asked = false;
  Screen screen = Screen::account_entry;  // the flow's screen when asked
  std::optional<AccountRef> account;      // and its account
  std::optional<RecordsResult<IdentityAnswer>> identity;  // ②
  std::optional<RecordsFailure> failure;                  // ⑤: the records could not answer
  bool eligible = false;                                  // ⑤: still eligible
  std::optional<PinCheck> pin;                            // ⑤: the PIN check (never cached)
};

RecordsAnswers ask_records(App& app, const httplib::Request& req, FlowStep step,
                           const StepInput& input, UnixSeconds now) {
  RecordsAnswers out;
  if (step != FlowStep::customer && step != FlowStep::pin) return out;
  std::optional<FlowRecord> flow;
  LockState lock;
  {
    std::unique_ptr<StoreTx> tx = app.store().begin();
    flow = load_session_flow(app, *tx, req);
    if (!flow || !csrf_valid(req, *flow)) return out;
    std::optional<ClientRecord> client = tx->find_client(flow->client_id);
    if (!client || !client->enabled) return out;
    if (step == FlowStep::pin && flow->account_id) lock = tx->load_lock(*flow->account_id);
  }  // rolled back: nothing was written
  const FlowState& state = flow->state;
  if (!state.account) return out;
  if (step == FlowStep::customer && state.screen == Screen::customer_entry) {
    FormResult form = validate_customer_form(input.customer, jst_date(now));
    if (!form.ok()) return out;
    out.asked = true;
    out.identity = app.records().check_identity(*state.account, customer_info_from(form));
  } else if (step == FlowStep::pin && state.screen == Screen::pin_entry && flow->account_id) {
    FormResult form = validate_pin_form(input.pin);
    if (!form.ok()) return out;
    out.asked = true;
    // A locked account's PIN is not sent anywhere: the core answers locked.
    if (LockoutPolicy(app.config().lockout_limit).is_locked(lock, now)) {
      out.eligible = true;
      out.pin = PinCheck::mismatch;
    } else {
      RecordsResult<bool> eligible = app.records().still_eligible(*state.account);
      if (!eligible.ok()) {
        out.failure = eligible.failure();
      } else if ((out.eligible = eligible.value())) {
        std::string pin = form.value(Field::pin);
        RecordsResult<PinCheck> check = app.records().verify_pin(*state.account, pin);
        wipe(pin);
        if (check.ok()) {
          out.pin = check.value();
        } else {
          out.failure = check.failure();
        }
      }
    }
    for (auto& [field, value] : form.values) wipe(value);
  }
  out.screen = state.screen;
  out.account = state.account;
  return out;
}

// One POST of screens ①–⑥ once the body has been parsed.
void run_step(App& app, const httplib::Request& req, httplib::Response& res, FlowStep step,
              StepInput input) {
  const UnixSeconds now = app.now();
  const FlowConfig config = app.flow_config();
  const RecordsAnswers records = ask_records(app, req, step, input, now);
  std::unique_ptr<StoreTx> tx = app.store().begin();

  std::optional<FlowRecord> loaded = load_session_flow(app, *tx, req);
  if (!loaded) {
    count_step(app, step_wire_name(step), "session_expired");
    send_error(res, ErrorCode::session_expired);
    return;
  }
  FlowRecord flow = std::move(*loaded);
  const FlowState before = flow.state;

  if (!csrf_valid(req, flow)) {
    AuditRecord a = audit_row(flow, req, step_wire_name(step), "forbidden", now);
    a.detail = "csrf token missing or wrong";
    tx->append_audit(a);
    // Only the log row: the flow is left as it was. A log row that cannot be
    // written is a system_error, never a silent gap in the operation log.
    if (!tx->commit()) throw StorageError("commit failed");
    count_step(app, step_wire_name(step), "forbidden");
    send_error(res, ErrorCode::forbidden);
    return;
  }

  // The event, with what the records say when the screen is the one that asks.
  std::optional<std::int64_t> lock_account;  // the account whose lock this step reads
  std::optional<CustomerInfo> typed;         // ②'s normalized values (for the log)
  std::optional<ErrorCode> refusal;          // refused before the core is asked
  std::string refusal_detail;                // why, for the operation log
  std::optional<UnixSeconds> gateway_reopens_at;  // the records in maintenance
  // The records could not answer: the step is refused with the failure's
  // code, the flow stays where it was, nothing counts toward the lock.
  auto records_failed = [&](const RecordsFailure& f) {
    refusal = error_code_of(f);
    refusal_detail = "records " + std::string(records_failure_wire_name(f.kind)) +
                     (f.detail.empty() ? "" : ": " + f.detail);
    if (f.kind == RecordsFailureKind::maintenance) gateway_reopens_at = f.reopens_at;
    app.metrics().count("renkei_records_failures_total",
                        "kind=\"" + std::string(records_failure_wire_name(f.kind)) + "\"");
  };
  // The flow moved (another request of the same session) while the records
  // were asked: the answer is not for this state.
  const bool records_current =
      records.asked && records.screen == before.screen && records.account == before.account;
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
      event = SubmitAccount{std::move(input.account)};
      break;
    case FlowStep::customer: {
      SubmitCustomer e{std::move(input.customer), IdentityCheck::mismatch, {}};
      if (before.screen == Screen::customer_entry && before.account) {
        FormResult form = validate_customer_form(e.form, jst_date(now));
        if (form.ok()) typed = customer_info_from(form);
        if (form.ok() && !refusal) {
          if (!records_current || !records.identity) {
            refusal = ErrorCode::busy;
            refusal_detail = "the flow changed while the records were asked";
          } else if (!records.identity->ok()) {
            records_failed(records.identity->failure());
          } else {
            const IdentityAnswer& answer = records.identity->value();
            e.check = answer.check;
            if (answer.account && e.check != IdentityCheck::account_not_eligible) {
              lock_account = local_account_id(*tx, *answer.account);
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
        const std::vector<std::string>& pool = app.config().call_pool;
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
          app.metrics().count("renkei_call_pool_exhausted_total");
        }
      }
      event = std::move(e);
      break;
    }
    case FlowStep::confirm_call:
      event = ConfirmCall{};
      break;
    case FlowStep::pin: {
      SubmitPin e{std::move(input.pin), PinCheck::mismatch, {}};
      if (before.screen == Screen::pin_entry && flow.account_id) {
        FormResult form = validate_pin_form(e.form);
        for (auto& [field, value] : form.values) wipe(value);
        if (form.ok() && !refusal) {
          if (!records_current) {
            refusal = ErrorCode::busy;
            refusal_detail = "the flow changed while the records were asked";
          } else if (records.failure) {
            records_failed(*records.failure);
          } else if (!records.eligible || !records.pin) {
            refusal = ErrorCode::account_not_eligible;  // closed or moved since ②
          } else {
            lock_account = *flow.account_id;
            e.lock = tx->load_lock(*flow.account_id);
            e.check = *records.pin;
          }
        }
      }
      event = std::move(e);
      break;
    }
    case FlowStep::consent:
      event = SubmitConsent{input.consent};
      break;
    case FlowStep::cancel:
    case FlowStep::leave:  // the core's Cancel: the flow ends; only the app's error differs
      event = Cancel{};
      break;
  }

  FlowTransition t{before, {}};
  if (refusal) {
    t.outcome.error = refusal;
  } else {
    t = renkei::step(before, event, now, config);
  }
  const FlowOutcome& outcome = t.outcome;
  flow.state = t.state;
  flow.updated_at = now;

  if (outcome.lock_update && lock_account) tx->save_lock(*lock_account, *outcome.lock_update);

  std::string new_session;  // set when ② rotated the session id
  std::string redirect_to;
  bool mail_enqueued = false;
  if (outcome.accepted) {
    if (std::holds_alternative<SubmitCustomer>(event)) {
      flow.account_id = lock_account;
      new_session = random_token();
      flow.session_digest = secret_digest(new_session);
      flow.csrf_token = random_token();
    } else if (std::holds_alternative<SubmitConsent>(event)) {
      if (!flow.account_id) throw std::logic_error("consent without a verified account");
      std::optional<ClientRecord> client = tx->find_client(flow.client_id);
      redirect_to = issue_authorization(*tx, app, flow, *flow.account_id, now);
      enqueue_result_mail(*tx, app, flow, client ? client->display_name : flow.client_id, now);
      mail_enqueued = true;
    } else if (step == FlowStep::leave) {
      redirect_to = error_redirect(app, flow, *leave_error(input.leave_reason));
    } else if (std::holds_alternative<Cancel>(event)) {
      redirect_to = denial_redirect(app, flow);
    }
  }
  // Back on ① (call_expired): nothing established so far carries over.
  if (flow.state.screen == Screen::account_entry) flow.account_id.reset();

  const std::string outcome_code = outcome_name(outcome.error);
  const std::string_view step_name =
      step == FlowStep::leave ? step_wire_name(step) : event_wire_name(event);
  AuditRecord audit = audit_row(flow, req, step_name, outcome_code, now);
  if (step == FlowStep::leave) {
    audit.detail = "reason=" + input.leave_reason + " error=" +
                   std::string(*leave_error(input.leave_reason));
  }
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

  tx->update_flow(flow);
  tx->append_audit(audit);
  if (!tx->commit()) throw StorageError("commit failed");
  tx.reset();

  if (mail_enqueued) app.notify_mail();
  count_step(app, step_name, outcome_code);
  if (outcome.error == ErrorCode::locked_now) app.metrics().count("renkei_lockouts_total");
  if (flow.state.screen == Screen::completed) app.metrics().count("renkei_flows_completed_total");

  if (auto* pin = std::get_if<SubmitPin>(&event)) wipe(pin->form.pin);
  wipe(input.pin.pin);
  if (outcome.error) {
    send_flow_error(app, res, *outcome.error, flow.state, now, outcome.field_errors,
                    outcome.show_required_dialog, gateway_reopens_at);
    return;
  }
  json body{{"flow", flow_view_json(flow.state, now)}};
  if (!new_session.empty()) {
    set_cookie(res, session_cookie_name(app), new_session, session_cookie_options(app));
    body["csrf_token"] = flow.csrf_token;
  }
  if (!redirect_to.empty()) body["redirect_to"] = redirect_to;
  send_json(res, 200, body);
}

void post_step(App& app, const httplib::Request& req, httplib::Response& res, FlowStep step) {
  add_security_headers(res, true);
  if (!origin_allowed(app, req)) {
    count_step(app, step_wire_name(step), "forbidden");
    send_error(res, ErrorCode::forbidden);
    return;
  }
  std::optional<json> body = json_body(req, res);
  if (!body) {
    count_step(app, step_wire_name(step), "bad_request");
    return;
  }
  std::optional<StepInput> input = parse_step_input(step, *body);
  if (!input) {
    count_step(app, step_wire_name(step), "bad_request");
    send_error(res, ErrorCode::bad_request);
    return;
  }
  try {
    run_step(app, req, res, step, std::move(*input));
  } catch (const std::exception&) {
    // Storage or an internal failure: the transaction rolled back; no details out.
    count_step(app, step_wire_name(step), "system_error");
    send_error(res, ErrorCode::system_error);
  }
}

// GET /api/catalog: the core's "catalog" case (every code's message, the
// field labels, the screens, the button labels and the エラー dialog), for a
// page that cannot run its WASM core (WebAssembly disabled, as in iOS Lockdown
// Mode, or a CSP without 'wasm-unsafe-eval' refused by an older WebKit). The
// native core's run_case answers it: the same bytes the WASM build gives
// (tests/parity), one source. The same for every customer and free of personal
// data, so it may be cached: revalidated by its ETag each time (a new server
// build may change a message), answered 304 when unchanged.
void get_catalog(const httplib::Request& req, httplib::Response& res) {
  static const std::string body = run_case(R"({"kind":"catalog"})");
  static const std::string etag = "\"" + sha256_hex(body).substr(0, 32) + "\"";
  res.set_header("ETag", etag);
  res.set_header("Cache-Control", std::string(kCatalogCacheControl));
  res.set_header("Vary", "Accept-Encoding");
  const std::string match = req.get_header_value("If-None-Match");
  if (!match.empty() && (match == "*" || match.find(etag) != std::string::npos)) {
    res.status = 304;
    return;
  }
  res.status = 200;
  res.set_content(body, "application/json; charset=utf-8");
}

}  // namespace

void register_flow_routes(httplib::Server& server, App& app) {
  server.Get("/api/catalog", [](const httplib::Request& req, httplib::Response& res) {
    get_catalog(req, res);
  });
  server.Get("/api/flow", [&app](const httplib::Request& req, httplib::Response& res) {
    add_security_headers(res, true);
    try {
      get_flow(app, req, res);
    } catch (const std::exception&) {
      send_error(res, ErrorCode::system_error);
    }
  });
  // Each screen's POST as the core's screens table names it (endpoint and
  // event), then the two ways out that every screen has.
  std::vector<std::pair<std::string, FlowStep>> posts;
  for (int i = 0; i < kScreenCount; ++i) {
    const ScreenFlow& flow = screen_flow(static_cast<Screen>(i));
    if (flow.endpoint.empty()) continue;
    std::optional<FlowStep> step = step_of_event(flow.event);
    if (!step) throw std::logic_error("no handler for the core's event " + std::string(flow.event));
    posts.emplace_back(std::string(flow.endpoint), *step);
  }
  posts.emplace_back("/api/flow/cancel", FlowStep::cancel);
  posts.emplace_back("/api/flow/leave", FlowStep::leave);
  for (const auto& [path, step] : posts) {
    server.Post(path, [&app, step = step](const httplib::Request& req, httplib::Response& res) {
      post_step(app, req, res, step);
    });
  }
}

}  // namespace renkei::server

// The customer's screens ①–⑥ over HTTP (docs/http-api.md "Customer flow"):
// each handler parses the request (Origin, JSON body, session cookie, CSRF
// header) into a StepRequest, calls the flow service (flow_service.h), which
// runs the step in one storage transaction, and writes its answer.
#include <memory>
#include <stdexcept>

#include "flow/flow_service.h"
#include "flow/flow_session.h"
#include "http/http_util.h"
#include "http/routes.h"
#include "oauth/oauth.h"
#include "ops/crypto.h"
#include "renkei/case_runner.h"
#include "renkei/json.h"
#include "renkei/ui_text.h"

namespace renkei::server {
namespace {

using nlohmann::json;

// The body's members for the step; nullopt for members of the wrong type
// (bad_request). Missing members are empty: the core reports them as required.
std::optional<StepRequest> parse_step_input(FlowStep step, const json& body) {
  StepRequest in;
  in.step = step;
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

// Whether the request is the page's own fetch of its state (flow.js, or the
// page's preload of it): only that may issue a completed flow's code again,
// which withdraws the app's pending one (SPEC §8a; oauth.h). Not a HEAD (its
// answer is thrown away), not a navigation or a prefetch, which another site
// can start with the customer's cookie (SameSite=Lax goes with a top-level
// navigation): Fetch Metadata (Sec-Fetch-Site, Sec-Fetch-Mode) tells them
// apart; a browser without it sends neither header and is served as before.
bool is_the_pages_own_fetch(const httplib::Request& req) {
  if (req.method != "GET") return false;
  const std::string site = req.get_header_value("Sec-Fetch-Site");
  const std::string mode = req.get_header_value("Sec-Fetch-Mode");
  return (site.empty() || site == "same-origin") &&
         (mode.empty() || mode == "cors" || mode == "same-origin") &&
         !req.has_header("Sec-Purpose") && !req.has_header("Purpose");
}

// GET /api/flow
void get_flow(App& app, FlowService& service, const httplib::Request& req,
              httplib::Response& res) {
  const UnixSeconds now = app.now();
  FlowLookup found = service.look_up(session_digest_of(app, req), request_origin(req), now,
                                     is_the_pages_own_fetch(req));
  if (found.error && found.flow) {  // expired just now: the page shows where it stood
    json body = error_envelope(*found.error);
    body["flow"] = flow_view_json(found.flow->state, now);
    // SPEC §8a: 連携元画面へ, the app told error=access_denied with state and iss.
    body["redirect_to"] = outcome_redirect(app, *found.flow);
    send_json(res, http_status(*found.error), body);
    return;
  }
  if (found.error) {
    // The page still needs the institution's name, links and contact number to
    // show the message (e.g. /flow/?error=out_of_hours arrives without a flow).
    json body = error_envelope(*found.error);
    body["profile"] = profile_json(app.config().profile);
    body["service"] = service_hours_json(app, now);
    send_json(res, http_status(*found.error), body);
    return;
  }
  const FlowRecord& flow = *found.flow;
  json body{{"flow", flow_view_json(flow.state, now)},
            {"csrf_token", flow.csrf_token},
            {"client", json{{"id", flow.client_id}, {"display_name", found.client_display_name}}},
            {"profile", profile_json(app.config().profile)},
            {"authorization_days", app.config().authorization_days},
            {"call_window_seconds", app.config().call_window_seconds},
            {"account_types", account_types_json()},
            {"dev_mode", app.config().dev_mode},
            {"service", service_hours_json(app, now)}};
  // An ended flow (cancelled, expired) offers its outcome again: a page
  // reloaded before 連携元画面へ was followed still leads the app to it.
  const std::string outcome = outcome_redirect(app, flow);
  if (!outcome.empty()) body["redirect_to"] = outcome;
  // A completed flow whose code was not exchanged: a new code (the old one
  // withdrawn), so that the app still learns the outcome (SPEC §8a).
  if (!found.redirect_to.empty()) body["redirect_to"] = found.redirect_to;
  // ② or ⑤ of a locked account: the page disables the form, as after the
  // refused attempt (SPEC §8a), also after a reload.
  if (found.lock_notice) body["locked"] = error_envelope(*found.lock_notice)["error"];
  send_json(res, 200, body);
}

// The service's answer to one POST.
void send_step_result(App& app, httplib::Response& res, const StepResult& r) {
  if (r.error) {
    json body = error_envelope(*r.error, r.field_errors, r.show_required_dialog);
    if (!r.view.is_null()) body["flow"] = r.view;
    if (!r.service.is_null() || *r.error == ErrorCode::out_of_hours) body["service"] = r.service;
    if (!r.redirect_to.empty()) body["redirect_to"] = r.redirect_to;  // an ended flow's way back
    send_json(res, http_status(*r.error), body);
    return;
  }
  json body{{"flow", r.view}};
  if (!r.new_session.empty()) {
    set_cookie(res, session_cookie_name(app), r.new_session, session_cookie_options(app));
    body["csrf_token"] = r.csrf_token;
  }
  if (!r.redirect_to.empty()) body["redirect_to"] = r.redirect_to;
  // ① 次へ (or ④ 確定する) onto ② (⑤) of a locked account: the form is
  // disabled at once (SPEC §8a), as GET /api/flow says after a reload.
  if (r.lock_notice) body["locked"] = error_envelope(*r.lock_notice)["error"];
  send_json(res, 200, body);
}

void post_step(App& app, FlowService& service, const httplib::Request& req,
               httplib::Response& res, FlowStep step) {
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
  std::optional<StepRequest> input = parse_step_input(step, *body);
  if (!input) {
    count_step(app, step_wire_name(step), "bad_request");
    send_error(res, ErrorCode::bad_request);
    return;
  }
  input->session_digest = session_digest_of(app, req);
  input->csrf_token = csrf_header(req);
  input->origin = request_origin(req);
  input->now = app.now();
  try {
    send_step_result(app, res, service.run(*input));
  } catch (const std::exception& e) {
    log_caught_exception(req, e.what());  // a 500 never unexplained
    // Storage or an internal failure: the transaction rolled back; no details
    // out. An outage of the store answers 503 with Retry-After (send_failure).
    count_step(app, step_wire_name(step), "system_error");
    send_failure(res, e);
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

void register_flow_routes(Router& server, App& app) {
  // One service for every flow route: it holds the records source.
  auto service = std::make_shared<FlowService>(app);
  server.Get("/api/catalog", [](const httplib::Request& req, httplib::Response& res) {
    get_catalog(req, res);
  });
  server.Get("/api/flow", [&app, service](const httplib::Request& req, httplib::Response& res) {
    add_security_headers(res, true);
    try {
      get_flow(app, *service, req, res);
    } catch (const std::exception& e) {
      log_caught_exception(req, e.what());  // a 500 never unexplained
      send_failure(res, e);
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
    server.Post(path, [&app, service, step = step](const httplib::Request& req,
                                                    httplib::Response& res) {
      post_step(app, *service, req, res, step);
    });
  }
}

}  // namespace renkei::server

#include "console_app.h"

#include <renkei/error.h>
#include <renkei/fields.h>
#include <renkei/service_calendar.h>
#include <renkei/time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "imgui.h"

namespace renkei::console {

using nlohmann::json;

namespace {

constexpr double kRefreshSeconds = 3.0;
// Clicking a field selects its text, so typing replaces it (an account number
// looked up before, a reason used before).
constexpr ImGuiInputTextFlags kEditFlags = ImGuiInputTextFlags_AutoSelectAll;
constexpr float kNavWidth = 190.0f;

struct ViewInfo {
  View view;
  const char* key;    // probe name "nav:<key>"
  const char* label;  // shown to staff
};
constexpr ViewInfo kViews[kViewCount] = {
    {View::funnel, "funnel", "ファネル・稼働状況"},
    {View::accounts, "accounts", "口座・ロック"},
    {View::grants, "grants", "連携（認可）"},
    {View::clients, "clients", "接続アプリ"},
    {View::audit, "audit", "操作ログ"},
    {View::calendar, "calendar", "サービスカレンダー"},
    {View::outbox, "outbox", "送信メール"},
    {View::dev, "dev", "開発モード"},
};

struct Period {
  const char* label;
  long long seconds;
};
constexpr Period kFunnelPeriods[] = {
    {"直近1時間", 3600}, {"直近24時間", 86400}, {"直近7日", 7 * 86400}, {"直近30日", 30 * 86400}};

constexpr const char* kTypeWire[] = {"ordinary", "savings"};
constexpr const char* kProfiles[] = {"oauth", "fapi2"};  // the admin API's client profiles

const ImVec4 kRed(0.95f, 0.35f, 0.35f, 1.0f);
const ImVec4 kGreen(0.40f, 0.85f, 0.45f, 1.0f);
const ImVec4 kAmber(0.95f, 0.75f, 0.30f, 1.0f);
const ImVec4 kGrey(0.65f, 0.65f, 0.65f, 1.0f);

// "2026-11-25T10:00:00+09:00" → "2026-11-25 10:00:00" (all instants are JST).
std::string short_time(const std::string& iso) {
  if (iso.empty()) return "—";
  std::string s = iso;
  if (s.size() > 10 && s[10] == 'T') s[10] = ' ';
  if (s.size() > 6 && s.compare(s.size() - 6, 6, "+09:00") == 0) s.resize(s.size() - 6);
  return s;
}

std::string short_time(const json& v) {
  return v.is_string() ? short_time(v.get<std::string>()) : std::string("—");
}

// The catalog's text for an error code, when it is one ("cancelled" etc. too).
std::string code_text(const std::string& code) {
  if (std::optional<ErrorCode> c = error_code_from_wire(code)) {
    return code + "  " + std::string(message_ja(*c));
  }
  return code;
}

void text(const std::string& s) { ImGui::TextUnformatted(s.c_str()); }

void cell(const std::string& s) {
  ImGui::TableNextColumn();
  ImGui::TextUnformatted(s.c_str());
}

void cell_wrapped(const std::string& s) {
  ImGui::TableNextColumn();
  ImGui::PushTextWrapPos(0.0f);
  ImGui::TextUnformatted(s.c_str());
  ImGui::PopTextWrapPos();
}

// Columns as wide as their content; the last one takes the rest of the width
// (details, error texts), so no column is squeezed to a letter a line.
constexpr ImGuiTableFlags kTableFlags = ImGuiTableFlags_Borders | ImGuiTableFlags_RowBg |
                                        ImGuiTableFlags_SizingFixedFit |
                                        ImGuiTableFlags_ScrollY;

bool begin_table(const char* id, int columns, std::initializer_list<const char*> headers,
                 float height = 0.0f) {
  if (!ImGui::BeginTable(id, columns, kTableFlags, ImVec2(0.0f, height))) return false;
  ImGui::TableSetupScrollFreeze(0, 1);
  int i = 0;
  for (const char* h : headers) {
    const bool last = ++i == static_cast<int>(headers.size());
    ImGui::TableSetupColumn(h, last ? ImGuiTableColumnFlags_WidthStretch : ImGuiTableColumnFlags_None);
  }
  ImGui::TableHeadersRow();
  return true;
}

void panel_state(const char* what, bool loading, const std::string& error) {
  if (!error.empty()) {
    ImGui::TextColored(kRed, "%s: %s", what, error.c_str());
  } else if (loading) {
    ImGui::TextColored(kGrey, "%s: 読み込み中…", what);
  }
}

// Redirect URIs as typed, one per line: blanks around each and empty lines
// dropped; the server checks each URI.
std::vector<std::string> split_lines(const char* text) {
  std::vector<std::string> lines;
  std::string line;
  auto flush = [&] {
    const std::size_t a = line.find_first_not_of(" \t\r");
    if (a != std::string::npos) lines.push_back(line.substr(a, line.find_last_not_of(" \t\r") - a + 1));
    line.clear();
  };
  for (const char* c = text; *c; ++c) {
    if (*c == '\n') {
      flush();
    } else {
      line += *c;
    }
  }
  flush();
  return lines;
}

std::string join_lines(const json& list) {
  std::string out;
  for (const json& u : list) {
    if (!u.is_string()) continue;
    if (!out.empty()) out += "\n";
    out += u.get<std::string>();
  }
  return out;
}

// A JWK Set typed or pasted by staff: null when the text is empty, the parsed
// object, or a discarded value when it is not a JSON object (the key rules
// themselves are the server's: its refusal is shown as it comes).
json read_jwks(const char* text) {
  if (split_lines(text).empty()) return nullptr;
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return json(json::value_t::discarded);
  return j;
}

// Grey help text wrapped at the window's edge (the forms are half a view wide).
void hint(const std::string& s, const ImVec4& colour = kGrey) {
  ImGui::PushStyleColor(ImGuiCol_Text, colour);
  ImGui::PushTextWrapPos(0.0f);
  ImGui::TextUnformatted(s.c_str());
  ImGui::PopTextWrapPos();
  ImGui::PopStyleColor();
}

void copy_to(char* buf, std::size_t size, const std::string& s) {
  std::snprintf(buf, size, "%s", s.c_str());
}

}  // namespace

ConsoleApp::ConsoleApp(AdminClient& api) : api_(api) {}

void ConsoleApp::probe(const std::string& name) {
  const ImVec2 a = ImGui::GetItemRectMin();
  const ImVec2 b = ImGui::GetItemRectMax();
  probes_[name] = Rect{a.x, a.y, b.x, b.y};
}

long long ConsoleApp::server_now() const { return num(status_.data, "now_unix", 0); }

void ConsoleApp::select(View v) {
  view_ = v;
  last_refresh_ = -1e9;  // fetch the new view's data at once
}

// ---------- data ----------

void ConsoleApp::load(Panel& panel, const std::string& path) {
  if (panel.loading) return;
  panel.loading = true;
  api_.get(path, [this, &panel](const ApiResult& r) {
    panel.loading = false;
    panel.fetched_at = now_;
    if (r.status == 401) {  // the token stopped working (server restarted with another)
      logged_in_ = false;
      login_error_ = r.describe();
      return;
    }
    panel.error = r.describe();
    if (r.ok()) panel.data = r.body;
  });
}

std::string ConsoleApp::account_query() const {
  return "branch=" + url_encode(branch_buf_) + "&type=" + kTypeWire[type_index_] +
         "&number=" + url_encode(number_buf_);
}

void ConsoleApp::refresh(double now, bool force) {
  if (!logged_in_) return;
  if (!force && now - last_refresh_ < kRefreshSeconds) return;
  last_refresh_ = now;
  load(status_, "status");
  switch (view_) {
    case View::funnel: {
      std::string q = "funnel";
      const long long t = server_now();
      if (t > 0) {
        q += "?from=" + url_encode(format_jst(t - kFunnelPeriods[funnel_period_].seconds)) +
             "&to=" + url_encode(format_jst(t));
      }
      load(funnel_, q);
      break;
    }
    case View::accounts:
      if (account_chosen_) load(account_, "accounts?" + account_query());
      break;
    case View::grants:
      if (account_chosen_) load(grants_, "grants?" + account_query());
      break;
    case View::clients:
      load(clients_, "clients");
      break;
    case View::audit:
      load(audit_, audit_query_.empty() ? std::string("audit?limit=100") : audit_query_);
      break;
    case View::calendar:
      load(windows_, "calendar/windows");
      break;
    case View::outbox:
      load(outbox_, "outbox?limit=200");
      break;
    case View::dev: {
      // Flows that reached the call screen in the last 15 minutes (the audit
      // log has no step filter: outcome=ok rows, filtered here).
      std::string q = "audit?outcome=ok&limit=500";
      const long long t = server_now();
      if (t > 0) q += "&from=" + url_encode(format_jst(t - 15 * 60));
      load(dev_flows_, q);
      break;
    }
  }
}

void ConsoleApp::act(const std::string& name, const std::string& method, const std::string& path,
                     const json& body, std::function<void(const ApiResult&)> on_ok) {
  last_action_.name = name;
  last_action_.pending = true;
  last_action_.ok = false;
  last_action_.message = "送信中…";
  auto done = [this, name, on_ok = std::move(on_ok)](const ApiResult& r) {
    if (r.ok() && on_ok) on_ok(r);
    last_action_.name = name;
    last_action_.pending = false;
    last_action_.ok = r.ok();
    last_action_.message = r.ok() ? "完了しました" : r.describe();
    last_action_.count += 1;
    if (r.ok() && name == "dev_call") dev_flows_.fetched_at = -1e9;
    after_action(name);
  };
  if (method == "DELETE") {
    api_.del(path, body, done);
  } else {
    api_.post(path, body, done);
  }
}

void ConsoleApp::after_action(const std::string& name) {
  (void)name;
  refresh(now_, true);
}

// ---------- frame ----------

void ConsoleApp::frame(double now, float width, float height) {
  now_ = now;
  probes_.clear();
  if (!logged_in_) {
    draw_login(width, height);
    return;
  }
  refresh(now, false);
  draw_navigation(height);
  draw_view(width, height);
}

void ConsoleApp::draw_login(float width, float height) {
  const ImVec2 size(440.0f, 250.0f);
  ImGui::SetNextWindowPos(ImVec2((width - size.x) * 0.5f, std::max(20.0f, (height - size.y) * 0.4f)));
  ImGui::SetNextWindowSize(size);
  ImGui::Begin("Renkei 管理コンソール — ログイン", nullptr,
               ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoCollapse);
  text("管理APIのトークンと担当者名を入力してください。");
  text("(Admin token and staff name; kept in memory only.)");
  ImGui::Spacing();
  ImGui::SetNextItemWidth(260.0f);
  ImGui::InputText("トークン##token", token_buf_, sizeof token_buf_, kEditFlags | ImGuiInputTextFlags_Password);
  probe("login_token");
  ImGui::SetNextItemWidth(260.0f);
  ImGui::InputText("担当者名##staff", staff_buf_, sizeof staff_buf_, kEditFlags);
  probe("login_staff");
  ImGui::TextColored(kGrey, "担当者名: 半角英数字 (操作ログに記録されます)");
  ImGui::Spacing();
  const bool ready = token_buf_[0] != '\0' && staff_buf_[0] != '\0' && !logging_in_;
  ImGui::BeginDisabled(!ready);
  if (ImGui::Button("ログイン##login", ImVec2(120.0f, 0.0f))) {
    logging_in_ = true;
    login_error_.clear();
    api_.set_credentials(token_buf_, staff_buf_);
    api_.get("status", [this](const ApiResult& r) {
      logging_in_ = false;
      if (r.ok()) {
        logged_in_ = true;
        status_.data = r.body;
        status_.error.clear();
        std::memset(token_buf_, 0, sizeof token_buf_);
        select(View::funnel);
      } else {
        api_.clear_credentials();
        login_error_ = r.describe();
      }
    });
  }
  probe("login_button");
  ImGui::EndDisabled();
  if (!login_error_.empty()) ImGui::TextColored(kRed, "%s", login_error_.c_str());
  ImGui::End();
}

void ConsoleApp::draw_navigation(float height) {
  ImGui::SetNextWindowPos(ImVec2(0.0f, 0.0f));
  ImGui::SetNextWindowSize(ImVec2(kNavWidth, height));
  ImGui::Begin("##nav", nullptr,
               ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoTitleBar |
                   ImGuiWindowFlags_NoCollapse);
  text("Renkei 管理コンソール");
  ImGui::TextColored(kGrey, "担当: %s", api_.staff().c_str());
  ImGui::Separator();
  const bool dev_mode = flag(status_.data, "dev_mode");
  for (const ViewInfo& v : kViews) {
    if (v.view == View::dev && !dev_mode) continue;
    const bool current = view_ == v.view;
    if (current) ImGui::PushStyleColor(ImGuiCol_Button, ImGui::GetStyleColorVec4(ImGuiCol_ButtonActive));
    if (ImGui::Button((std::string(v.label) + "##nav_" + v.key).c_str(),
                      ImVec2(kNavWidth - 16.0f, 28.0f))) {
      select(v.view);
    }
    if (current) ImGui::PopStyleColor();
    probe(std::string("nav:") + v.key);
  }
  ImGui::Separator();
  if (ImGui::Button("ログアウト##logout", ImVec2(kNavWidth - 16.0f, 0.0f))) {
    logged_in_ = false;
    forget_secret();
    api_.clear_credentials();
  }
  probe("logout");
  ImGui::SetCursorPosY(height - 48.0f);
  ImGui::TextColored(kGrey, "通信中: %d", api_.in_flight());
  ImGui::TextColored(kGrey, "%.0f fps", static_cast<double>(ImGui::GetIO().Framerate));
  ImGui::End();
}

void ConsoleApp::draw_status_line() {
  const json& s = status_.data;
  if (s.is_object()) {
    const bool open = flag(s, "open");
    ImGui::TextColored(open ? kGreen : kRed, "%s", open ? "● サービス提供中" : "● サービス休止中");
    ImGui::SameLine();
    text("  サーバー時刻 " + short_time(str(s, "now")));
    if (flag(s, "movable_clock")) {
      ImGui::SameLine();
      ImGui::TextColored(kAmber, "  (時計オフセット %llds)", num(s, "clock_offset_seconds"));
    }
    if (flag(s, "dev_mode")) {
      ImGui::SameLine();
      ImGui::TextColored(kAmber, "  開発モード");
    }
  } else {
    panel_state("状態", status_.loading, status_.error);
  }
  if (!last_action_.name.empty()) {
    const ImVec4 c = last_action_.pending ? kGrey : last_action_.ok ? kGreen : kRed;
    ImGui::TextColored(c, "操作 %s: %s", last_action_.name.c_str(), last_action_.message.c_str());
  } else {
    ImGui::TextColored(kGrey, "操作はまだありません");
  }
  ImGui::Separator();
}

void ConsoleApp::draw_view(float width, float height) {
  ImGui::SetNextWindowPos(ImVec2(kNavWidth, 0.0f));
  ImGui::SetNextWindowSize(ImVec2(width - kNavWidth, height));
  const char* title = "";
  for (const ViewInfo& v : kViews) {
    if (v.view == view_) title = v.label;
  }
  ImGui::Begin((std::string(title) + "###view").c_str(), nullptr,
               ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoCollapse);
  draw_status_line();
  switch (view_) {
    case View::funnel: draw_funnel(); break;
    case View::accounts: draw_accounts(); break;
    case View::grants: draw_grants(); break;
    case View::clients: draw_clients(); break;
    case View::audit: draw_audit(); break;
    case View::calendar: draw_calendar(); break;
    case View::outbox: draw_outbox(); break;
    case View::dev: draw_dev(); break;
  }
  ImGui::End();
}

// ---------- views ----------

void ConsoleApp::draw_funnel() {
  ImGui::SetNextItemWidth(160.0f);
  const char* labels[4];
  for (int i = 0; i < 4; ++i) labels[i] = kFunnelPeriods[i].label;
  if (ImGui::Combo("期間##funnel_period", &funnel_period_, labels, 4)) last_refresh_ = -1e9;
  probe("funnel_period");
  const json& f = funnel_.data;
  panel_state("ファネル", funnel_.loading && !f.is_object(), funnel_.error);
  if (!f.is_object()) return;
  ImGui::SameLine();
  text("  " + short_time(str(f, "from")) + " 〜 " + short_time(str(f, "to")));
  ImGui::Text("開始 %lld   フロー %lld   完了 %lld   中止 %lld   期限切れ %lld%s", num(f, "started"),
              num(f, "flows"), num(f, "completed"), num(f, "cancelled"), num(f, "expired"),
              flag(f, "truncated") ? "   (一部のみ集計)" : "");
  const json& screens = member(f, "screens");
  if (!screens.is_array()) return;
  std::vector<float> reached, left;
  float top = 1.0f;
  for (const json& s : screens) {
    reached.push_back(static_cast<float>(num(s, "reached")));
    left.push_back(static_cast<float>(num(s, "left")));
    top = std::max(top, reached.back());
  }
  const float plot_w = (ImGui::GetContentRegionAvail().x - 10.0f) * 0.5f;
  ImGui::PlotHistogram("##reached", reached.data(), static_cast<int>(reached.size()), 0,
                       "到達 (①〜⑥)", 0.0f, top * 1.1f, ImVec2(plot_w, 110.0f));
  probe("funnel_plot");
  ImGui::SameLine();
  ImGui::PlotHistogram("##left", left.data(), static_cast<int>(left.size()), 0,
                       "離脱 (①〜⑥)", 0.0f, top * 1.1f, ImVec2(plot_w, 110.0f));
  if (begin_table("funnel_table", 6, {"画面", "到達", "離脱", "到達率", "離脱の理由", "エラー (件数)"})) {
    static const char* kCircled[] = {"①", "②", "③", "④", "⑤", "⑥"};
    int i = 0;
    const long long first = screens.empty() ? 0 : num(screens[0], "reached");
    for (const json& s : screens) {
      ImGui::TableNextRow();
      // Unwrapped: fixed-fit sizing makes the column as wide as the title.
      cell(std::string(i < 6 ? kCircled[i] : "") + " " + str(s, "screen_id") + " " +
           str(s, "title"));
      cell(std::to_string(num(s, "reached")));
      cell(std::to_string(num(s, "left")));
      std::string errors, stopped;
      for (const auto& [code, n] : member(s, "errors").items()) {
        errors += code_text(code) + " ×" + std::to_string(n.is_number() ? n.get<long long>() : 0) + "\n";
      }
      for (const auto& [code, n] : member(s, "stopped_by").items()) {
        stopped += code + " ×" + std::to_string(n.is_number() ? n.get<long long>() : 0) + "\n";
      }
      char pct[32];
      std::snprintf(pct, sizeof pct, "%.0f%%",
                    first > 0 ? 100.0 * static_cast<double>(num(s, "reached")) / static_cast<double>(first) : 0.0);
      cell(pct);
      cell(stopped.empty() ? "—" : stopped);
      cell_wrapped(errors.empty() ? "—" : errors);
      ++i;
    }
    ImGui::EndTable();
  }
  const json& refused = member(f, "authorize_refused");
  if (refused.is_object() && !refused.empty()) {
    text("認可要求の拒否:");
    for (const auto& [code, n] : refused.items()) {
      text("  " + code_text(code) + " ×" + std::to_string(n.is_number() ? n.get<long long>() : 0));
    }
  }
}

void ConsoleApp::draw_account_picker(const char* probe_prefix) {
  const std::string p = probe_prefix;
  ImGui::SetNextItemWidth(70.0f);
  ImGui::InputText(("店番##" + p + "branch").c_str(), branch_buf_, sizeof branch_buf_,
                   kEditFlags | ImGuiInputTextFlags_CharsDecimal);
  probe(p + "branch");
  ImGui::SameLine();
  // Radio buttons rather than a combo: one click each, nothing pops up.
  ImGui::RadioButton(("普通預金##" + p + "ordinary").c_str(), &type_index_, 0);
  probe(p + "ordinary");
  ImGui::SameLine();
  ImGui::RadioButton(("貯蓄預金##" + p + "savings").c_str(), &type_index_, 1);
  probe(p + "savings");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(100.0f);
  ImGui::InputText(("口座番号##" + p + "number").c_str(), number_buf_, sizeof number_buf_,
                   kEditFlags | ImGuiInputTextFlags_CharsDecimal);
  probe(p + "number");
  ImGui::SameLine();
  // The core's field rules say whether the account reference is well-formed
  // before anything is sent.
  const bool valid = check_branch(branch_buf_).ok() && check_account_number(number_buf_).ok();
  ImGui::BeginDisabled(!valid);
  if (ImGui::Button(("照会##" + p + "lookup").c_str())) {
    account_chosen_ = true;
    account_.data = nullptr;
    grants_.data = nullptr;
    last_refresh_ = -1e9;
  }
  probe(p + "lookup");
  ImGui::EndDisabled();
  if (!valid && (branch_buf_[0] || number_buf_[0])) {
    ImGui::SameLine();
    ImGui::TextColored(kGrey, "店番3桁・口座番号7桁");
  }
}

void ConsoleApp::draw_accounts() {
  draw_account_picker("acct_");
  if (!account_chosen_) {
    text("口座を指定して照会してください。");
    return;
  }
  const json& a = account_.data;
  panel_state("口座", account_.loading && !a.is_object(), account_.error);
  if (!a.is_object()) return;
  const json& acc = member(a, "account");
  const json& lock = member(a, "lock");
  ImGui::Separator();
  text("口座: " + str(acc, "branch") + "-" + str(acc, "type_label") + "-" + str(acc, "number") +
       "   状態: " + str(acc, "status") + "   キャッシュカード: " +
       (flag(acc, "cash_card_issued") ? "発行済" : "未発行"));
  text("お名前（カナ）: " + str(acc, "name_kana"));
  std::string phones;
  for (const json& p : member(acc, "masked_phones")) {
    if (p.is_string()) phones += p.get<std::string>() + "  ";
  }
  text("電話番号: " + (phones.empty() ? std::string("—") : phones));
  ImGui::Separator();
  const bool locked = flag(lock, "locked");
  ImGui::TextColored(locked ? kRed : kGreen, "%s", locked ? "ロック中" : "ロックなし");
  probe("lock_state");
  ImGui::SameLine();
  ImGui::Text("  認証失敗 %lld / %lld 回", num(lock, "failures"), num(lock, "limit"));
  if (locked) text("解除予定: " + short_time(member(lock, "lifts_at")));
  ImGui::Spacing();
  ImGui::SetNextItemWidth(320.0f);
  ImGui::InputTextWithHint("理由##lift_reason", "例: 本人から電話で依頼", lift_reason_,
                           sizeof lift_reason_, kEditFlags);
  probe("lift_reason");
  ImGui::SameLine();
  const bool can_lift = (locked || num(lock, "failures") > 0) && lift_reason_[0] != '\0';
  ImGui::BeginDisabled(!can_lift);
  if (ImGui::Button("ロックを解除##lift")) {
    act("lift_lock", "POST", "accounts/lock/lift",
        json{{"branch", str(acc, "branch")},
             {"type", str(acc, "type")},
             {"number", str(acc, "number")},
             {"reason", std::string(lift_reason_)}});
    lift_reason_[0] = '\0';
  }
  probe("lift_button");
  ImGui::EndDisabled();
  ImGui::Separator();
  const json& grants = member(a, "grants");
  ImGui::Text("連携中のアプリ: %d 件（「連携（認可）」で取消）", grants.is_array() ? static_cast<int>(grants.size()) : 0);
}

void ConsoleApp::draw_grants() {
  draw_account_picker("grant_");
  if (!account_chosen_) {
    text("口座を指定して照会してください。");
    return;
  }
  const json& g = grants_.data;
  panel_state("連携", grants_.loading && !g.is_object(), grants_.error);
  if (!g.is_object()) return;
  const json& acc = member(g, "account");
  text("口座: " + str(acc, "branch") + "-" + str(acc, "type_label") + "-" + str(acc, "number"));
  ImGui::SetNextItemWidth(320.0f);
  ImGui::InputTextWithHint("取消の理由##grant_reason", "例: 本人から解約の依頼", grant_reason_,
                           sizeof grant_reason_, kEditFlags);
  probe("grant_reason");
  const json& list = member(g, "grants");
  if (begin_table("grants_table", 7, {"アプリ", "範囲", "連携日時", "有効期限", "最終利用", "状態", "操作"})) {
    int i = 0;
    for (const json& row : list) {
      ImGui::TableNextRow();
      cell_wrapped(str(row, "client_name") + "\n(" + str(row, "client_id") + ")");
      cell(str(row, "scope"));
      cell(short_time(member(row, "created_at")));
      cell(short_time(member(row, "expires_at")));
      cell(short_time(member(row, "last_used_at")));
      const std::string status = str(row, "status");
      ImGui::TableNextColumn();
      ImGui::TextColored(status == "active" ? kGreen : kGrey, "%s", status.c_str());
      if (status == "revoked") ImGui::TextColored(kGrey, "%s", str(row, "revoked_by").c_str());
      ImGui::TableNextColumn();
      ImGui::BeginDisabled(status != "active" || grant_reason_[0] == '\0');
      if (ImGui::Button(("取消##revoke" + std::to_string(i)).c_str())) {
        act("revoke_grant", "POST", "grants/" + url_encode(str(row, "id")) + "/revoke",
            json{{"reason", std::string(grant_reason_)}});
        grant_reason_[0] = '\0';
      }
      probe("revoke:" + std::to_string(i));
      ImGui::EndDisabled();
      ++i;
    }
    ImGui::EndTable();
  }
  if (list.is_array() && list.empty()) text("この口座に連携はありません。");
}

void ConsoleApp::draw_clients() {
  const json& c = clients_.data;
  panel_state("アプリ", clients_.loading && !c.is_object(), clients_.error);
  ImGui::SetNextItemWidth(320.0f);
  ImGui::InputTextWithHint("理由##client_reason", "停止・再開・登録・変更の理由",
                           client_reason_, sizeof client_reason_, kEditFlags);
  probe("client_reason");
  if (!c.is_object()) return;
  if (begin_table("clients_table", 5, {"ID", "表示名", "リダイレクトURI", "プロファイル・認証", "状態・操作"},
                  230.0f)) {
    for (const json& row : member(c, "clients")) {
      const std::string id = str(row, "id");
      ImGui::TableNextRow();
      cell(id);
      cell(str(row, "display_name"));
      cell(join_lines(member(row, "redirect_uris")));  // unwrapped: the column fits the URIs
      const std::string profile = str(row, "profile", "oauth");
      const bool has_keys = member(row, "jwks").is_object();
      cell(profile == "fapi2" ? "FAPI 2.0\nprivate_key_jwt"
           : has_keys         ? "OAuth\nprivate_key_jwt"
           : flag(row, "confidential") ? "OAuth\nconfidential (secret)"
                                       : "OAuth\npublic (PKCE)");
      ImGui::TableNextColumn();
      const bool enabled = flag(row, "enabled");
      ImGui::TextColored(enabled ? kGreen : kRed, "%s", enabled ? "有効" : "停止中");
      ImGui::SameLine();
      ImGui::BeginDisabled(client_reason_[0] == '\0');
      if (ImGui::Button(((enabled ? "停止する##toggle_" : "再開する##toggle_") + id).c_str())) {
        act(enabled ? "disable_client" : "enable_client", "POST",
            "clients/" + url_encode(id) + (enabled ? "/disable" : "/enable"),
            json{{"reason", std::string(client_reason_)}});
        client_reason_[0] = '\0';
      }
      probe("client_toggle:" + id);
      ImGui::EndDisabled();
      ImGui::SameLine();
      if (ImGui::Button(("変更##client_edit_" + id).c_str())) start_edit(row);
      probe("client_edit:" + id);
    }
    ImGui::EndTable();
  }
  ImGui::Spacing();
  const float half = (ImGui::GetContentRegionAvail().x - 16.0f) * 0.5f;
  ImGui::BeginChild("##client_register", ImVec2(half, 0.0f), true);
  draw_client_register();
  ImGui::EndChild();
  ImGui::SameLine();
  ImGui::BeginChild("##client_edit", ImVec2(0.0f, 0.0f), true);
  draw_client_edit();
  ImGui::EndChild();
}

void ConsoleApp::forget_secret() {
  std::memset(secret_buf_, 0, sizeof secret_buf_);
  secret_client_.clear();
}

void ConsoleApp::draw_client_register() {
  text("アプリの新規登録");
  const float field_w = ImGui::GetContentRegionAvail().x - 110.0f;
  ImGui::SetNextItemWidth(field_w);
  ImGui::InputTextWithHint("ID##client_new_id", "英数字と . _ - (64文字まで)", reg_id_, sizeof reg_id_,
                           kEditFlags);
  probe("client_new_id");
  ImGui::SetNextItemWidth(field_w);
  ImGui::InputText("表示名##client_new_name", reg_name_, sizeof reg_name_, kEditFlags);
  probe("client_new_name");
  ImGui::InputTextMultiline("リダイレクトURI##client_new_uris", reg_uris_, sizeof reg_uris_,
                            ImVec2(field_w, ImGui::GetTextLineHeight() * 3.6f));
  probe("client_new_uris");
  hint("1行に1つ、https://… (http は 127.0.0.1 / localhost のみ)");
  ImGui::RadioButton("OAuth##client_profile_oauth", &reg_profile_, 0);
  probe("client_profile_oauth");
  ImGui::SameLine();
  ImGui::RadioButton("FAPI 2.0##client_profile_fapi2", &reg_profile_, 1);
  probe("client_profile_fapi2");
  const bool fapi = reg_profile_ == 1;
  ImGui::SameLine();
  ImGui::BeginDisabled(fapi);
  // FAPI 2.0 clients authenticate with their keys only (private_key_jwt).
  bool confidential = reg_confidential_ && !fapi;
  if (ImGui::Checkbox("confidential (シークレット発行)##client_new_confidential", &confidential)) {
    reg_confidential_ = confidential;
  }
  probe("client_new_confidential");
  ImGui::EndDisabled();
  ImGui::InputTextMultiline("JWKS##client_new_jwks", reg_jwks_, sizeof reg_jwks_,
                            ImVec2(field_w, ImGui::GetTextLineHeight() * 5.0f));
  probe("client_new_jwks");
  const json jwks = read_jwks(reg_jwks_);
  const std::vector<std::string> uris = split_lines(reg_uris_);
  // Why the button is off, if it is; everything else is the server's to say.
  std::string missing;
  if (reg_id_[0] == '\0') {
    missing = "IDを入力してください";
  } else if (reg_name_[0] == '\0') {
    missing = "表示名を入力してください";
  } else if (uris.empty()) {
    missing = "リダイレクトURIを入力してください";
  } else if (jwks.is_discarded()) {
    missing = "JWKSがJSONのオブジェクトではありません";
  } else if (fapi && jwks.is_null()) {
    missing = "FAPI 2.0 には公開鍵 (JWKS) が必要です";
  }
  hint(missing.empty() ? "公開鍵の JWK Set（JSON）を貼り付け。FAPI 2.0 は必須" : missing);
  ImGui::BeginDisabled(!missing.empty());
  if (ImGui::Button("登録する##client_register")) {
    json body{{"id", std::string(reg_id_)},
              {"display_name", std::string(reg_name_)},
              {"redirect_uris", uris},
              {"profile", kProfiles[reg_profile_]}};
    if (!jwks.is_null()) body["jwks"] = jwks;
    if (!fapi) body["confidential"] = reg_confidential_;
    if (client_reason_[0] != '\0') body["reason"] = std::string(client_reason_);
    forget_secret();
    act("register_client", "POST", "clients", body, [this](const ApiResult& r) {
      // Accepted: the form is emptied; a confidential client's secret is
      // held here until staff close it (the server keeps only its digest).
      secret_client_ = str(member(r.body, "client"), "id");
      copy_to(secret_buf_, sizeof secret_buf_, str(r.body, "client_secret"));
      if (secret_buf_[0] == '\0') secret_client_.clear();
      reg_id_[0] = reg_name_[0] = reg_uris_[0] = reg_jwks_[0] = '\0';
      reg_confidential_ = false;
      client_reason_[0] = '\0';
    });
  }
  probe("client_register");
  ImGui::EndDisabled();
  ImGui::SameLine();
  if (ImGui::Button("入力を消去##client_form_clear")) {
    reg_id_[0] = reg_name_[0] = reg_uris_[0] = reg_jwks_[0] = '\0';
    reg_confidential_ = false;
  }
  probe("client_form_clear");
  if (!secret_client_.empty()) {
    ImGui::Separator();
    ImGui::TextColored(kAmber, "%s のクライアントシークレット:", secret_client_.c_str());
    ImGui::SetNextItemWidth(field_w);
    ImGui::InputText("##client_secret", secret_buf_, sizeof secret_buf_,
                     ImGuiInputTextFlags_ReadOnly | ImGuiInputTextFlags_AutoSelectAll);
    probe("client_secret");
    hint("この画面でのみ表示します。閉じると二度と表示できません（サーバーは保存していません）。", kAmber);
    if (ImGui::Button("控えたので閉じる##client_secret_close")) forget_secret();
    probe("client_secret_close");
  }
}

void ConsoleApp::start_edit(const json& client) {
  edit_id_ = str(client, "id");
  edit_orig_name_ = str(client, "display_name");
  edit_orig_uris_ = join_lines(member(client, "redirect_uris"));
  const json& keys = member(client, "jwks");
  edit_orig_jwks_ = keys.is_object() ? keys.dump(2) : "";
  copy_to(edit_name_, sizeof edit_name_, edit_orig_name_);
  copy_to(edit_uris_, sizeof edit_uris_, edit_orig_uris_);
  copy_to(edit_jwks_, sizeof edit_jwks_, edit_orig_jwks_);
}

void ConsoleApp::draw_client_edit() {
  if (edit_id_.empty()) {
    text("アプリの変更");
    hint("表の「変更」で選んだアプリの表示名・リダイレクトURI・公開鍵を変更できます。");
    hint("設定ファイルにあるアプリの表示名とURIは設定ファイルで変更します。");
    return;
  }
  text("アプリの変更: " + edit_id_);
  const float field_w = ImGui::GetContentRegionAvail().x - 110.0f;
  ImGui::SetNextItemWidth(field_w);
  ImGui::InputText("表示名##client_edit_name", edit_name_, sizeof edit_name_, kEditFlags);
  probe("client_edit_name");
  ImGui::InputTextMultiline("リダイレクトURI##client_edit_uris", edit_uris_, sizeof edit_uris_,
                            ImVec2(field_w, ImGui::GetTextLineHeight() * 3.6f));
  probe("client_edit_uris");
  ImGui::InputTextMultiline("JWKS##client_edit_jwks", edit_jwks_, sizeof edit_jwks_,
                            ImVec2(field_w, ImGui::GetTextLineHeight() * 5.0f));
  probe("client_edit_jwks");
  // Only what changed is sent: a client from the configuration file may
  // still get new keys although its name and URIs are the file's.
  json body = json::object();
  std::string problem;
  if (edit_orig_name_ != edit_name_) body["display_name"] = std::string(edit_name_);
  const std::vector<std::string> uris = split_lines(edit_uris_);
  if (uris != split_lines(edit_orig_uris_.c_str())) {
    if (uris.empty()) problem = "リダイレクトURIを入力してください";
    body["redirect_uris"] = uris;
  }
  if (edit_orig_jwks_ != edit_jwks_) {
    const json jwks = read_jwks(edit_jwks_);
    if (jwks.is_discarded()) problem = "JWKSがJSONのオブジェクトではありません";
    body["jwks"] = jwks;  // null (emptied) removes the keys
  }
  if (body.empty() && problem.empty()) problem = "変更がありません";
  hint(problem.empty() ? "JWKSを空にすると公開鍵を削除します" : problem);
  ImGui::BeginDisabled(!problem.empty());
  if (ImGui::Button("変更する##client_update")) {
    if (client_reason_[0] != '\0') body["reason"] = std::string(client_reason_);
    act("update_client", "POST", "clients/" + url_encode(edit_id_) + "/update", body,
        [this](const ApiResult&) {
          edit_id_.clear();
          client_reason_[0] = '\0';
        });
  }
  probe("client_update");
  ImGui::EndDisabled();
  ImGui::SameLine();
  if (ImGui::Button("やめる##client_edit_cancel")) edit_id_.clear();
  probe("client_edit_cancel");
}

void ConsoleApp::draw_audit() {
  ImGui::SetNextItemWidth(150.0f);
  ImGui::InputTextWithHint("口座##audit_account", "001-ordinary-1234567", audit_account_,
                           sizeof audit_account_, kEditFlags);
  probe("audit_account");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(150.0f);
  ImGui::InputText("フロー##audit_flow", audit_flow_, sizeof audit_flow_, kEditFlags);
  probe("audit_flow");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(110.0f);
  ImGui::InputTextWithHint("結果##audit_outcome", "ok / locked …", audit_outcome_,
                           sizeof audit_outcome_, kEditFlags);
  probe("audit_outcome");
  ImGui::SetNextItemWidth(200.0f);
  ImGui::InputTextWithHint("から##audit_from", "2026-01-01T00:00:00+09:00", audit_from_,
                           sizeof audit_from_, kEditFlags);
  ImGui::SameLine();
  ImGui::SetNextItemWidth(200.0f);
  ImGui::InputTextWithHint("まで##audit_to", "2026-12-31T23:59:59+09:00", audit_to_,
                           sizeof audit_to_, kEditFlags);
  ImGui::SameLine();
  auto query = [this](long long before) {
    std::string q = "audit?limit=100";
    const std::pair<const char*, const char*> params[] = {{"account", audit_account_},
                                                          {"flow", audit_flow_},
                                                          {"outcome", audit_outcome_},
                                                          {"from", audit_from_},
                                                          {"to", audit_to_}};
    for (const auto& [k, v] : params) {
      if (v[0] != '\0') q += std::string("&") + k + "=" + url_encode(v);
    }
    if (before > 0) q += "&before=" + std::to_string(before);
    return q;
  };
  if (ImGui::Button("検索##audit_search")) {
    audit_pages_.clear();
    audit_query_ = query(0);
    audit_.data = nullptr;
    last_refresh_ = -1e9;
  }
  probe("audit_search");
  const json& a = audit_.data;
  const long long next = num(a, "next_before", 0);
  ImGui::SameLine();
  ImGui::BeginDisabled(next <= 0);
  if (ImGui::Button("より古い##audit_older")) {
    audit_pages_.push_back(next);
    audit_query_ = query(next);
    last_refresh_ = -1e9;
  }
  ImGui::EndDisabled();
  panel_state("操作ログ", audit_.loading && !a.is_object(), audit_.error);
  if (!a.is_object()) return;
  const json& records = member(a, "records");
  // Related fields share a cell (one per line) so that the details keep a
  // readable width.
  if (begin_table("audit_table", 5,
                  {"日時", "ステップ・結果", "口座・お名前（カナ）・電話", "アプリ・実行者", "詳細・フロー"})) {
    for (const json& r : records) {
      ImGui::TableNextRow();
      cell(short_time(member(r, "at")));
      ImGui::TableNextColumn();
      text(str(r, "step"));
      const std::string outcome = str(r, "outcome");
      ImGui::TextColored(outcome == "ok" ? kGreen : kAmber, "%s", outcome.c_str());
      if (ImGui::IsItemHovered() && outcome != "ok") ImGui::SetTooltip("%s", code_text(outcome).c_str());
      ImGui::TableNextColumn();
      text(str(r, "account", "—"));
      if (!str(r, "name_kana").empty()) text(str(r, "name_kana"));
      if (!str(r, "masked_phone").empty()) text(str(r, "masked_phone"));
      ImGui::TableNextColumn();
      if (!str(r, "client_id").empty()) text(str(r, "client_id"));
      text(str(r, "actor"));
      cell_wrapped(str(r, "detail") + (str(r, "flow_id").empty() ? "" : "\nflow " + str(r, "flow_id")));
    }
    ImGui::EndTable();
  }
}

void ConsoleApp::draw_calendar() {
  const json& s = status_.data;
  const long long now = server_now();
  // The core's calendar over the configured and announced windows: the same
  // rules the server applies, so the console can list closures ahead itself.
  std::vector<MaintenanceWindow> extra;
  const json& windows = member(windows_.data, "windows");
  for (const json& w : windows) {
    std::optional<UnixSeconds> a = parse_iso_instant(str(w, "start"));
    std::optional<UnixSeconds> b = parse_iso_instant(str(w, "end"));
    if (a && b) extra.push_back(MaintenanceWindow{*a, *b, str(w, "label")});
  }
  const ServiceCalendar calendar(extra);
  const bool open = flag(s, "open");
  ImGui::TextColored(open ? kGreen : kRed, "%s", open ? "現在: 提供中" : "現在: 休止中");
  probe("calendar_open");
  if (!open) {
    ImGui::SameLine();
    text("  再開予定 " + short_time(str(s, "next_open")));
  }
  if (now > 0 && windows_.data.is_object() && calendar.is_open(now) != open) {
    ImGui::TextColored(kAmber, "（コンソールの計算とサーバーの判定が異なります）");
  }
  text("今後14日間の休止:");
  if (now > 0 && begin_table("closures", 4, {"種類", "開始", "終了", "名称"}, 190.0f)) {
    for (const Closure& c : calendar.closures_between(now, now + 14 * 86400)) {
      ImGui::TableNextRow();
      cell(std::string(closure_kind_wire_name(c.kind)));
      cell(short_time(format_jst(c.start)));
      cell(short_time(format_jst(c.end)));
      cell(c.label);
    }
    ImGui::EndTable();
  }
  ImGui::Separator();
  text("臨時メンテナンス（追加・削除）:");
  panel_state("メンテナンス", windows_.loading && !windows_.data.is_object(), windows_.error);
  ImGui::SetNextItemWidth(210.0f);
  ImGui::InputTextWithHint("開始##window_start", "2026-12-01T01:00:00+09:00", window_start_,
                           sizeof window_start_, kEditFlags);
  probe("window_start");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(210.0f);
  ImGui::InputTextWithHint("終了##window_end", "2026-12-01T03:00:00+09:00", window_end_,
                           sizeof window_end_, kEditFlags);
  probe("window_end");
  ImGui::SetNextItemWidth(260.0f);
  ImGui::InputText("名称##window_label", window_label_, sizeof window_label_, kEditFlags);
  probe("window_label");
  ImGui::SameLine();
  const bool valid = parse_iso_instant(window_start_) && parse_iso_instant(window_end_);
  ImGui::BeginDisabled(!valid);
  if (ImGui::Button("追加##window_add")) {
    act("add_window", "POST", "calendar/windows",
        json{{"start", std::string(window_start_)},
             {"end", std::string(window_end_)},
             {"label", std::string(window_label_)}});
  }
  probe("window_add");
  ImGui::EndDisabled();
  if (begin_table("windows", 5, {"ID", "開始", "終了", "名称", "出所・操作"})) {
    for (const json& w : windows) {
      ImGui::TableNextRow();
      const std::string id = str(w, "id");
      cell(id.empty() ? "—" : id);
      cell(short_time(member(w, "start")));
      cell(short_time(member(w, "end")));
      cell(str(w, "label"));
      ImGui::TableNextColumn();
      const std::string source = str(w, "source");
      text(source == "config" ? "設定ファイル" : "告知");
      if (source == "announced" && !id.empty()) {
        ImGui::SameLine();
        if (ImGui::SmallButton(("削除##window_remove" + id).c_str())) {
          act("remove_window", "DELETE", "calendar/windows/" + id, nullptr);
        }
        probe("window_remove:" + id);
      }
    }
    ImGui::EndTable();
  }
}

void ConsoleApp::draw_outbox() {
  const json& o = outbox_.data;
  panel_state("送信メール", outbox_.loading && !o.is_object(), outbox_.error);
  if (!o.is_object()) return;
  const json& mails = member(o, "mails");
  int counts[3] = {0, 0, 0};
  for (const json& m : mails) {
    const std::string st = str(m, "state");
    counts[st == "sent" ? 1 : st == "failed" ? 2 : 0] += 1;
  }
  ImGui::Text("未送信 %d   送信済 %d   失敗 %d", counts[0], counts[1], counts[2]);
  if (begin_table("outbox_table", 8, {"ID", "宛先", "件名", "作成", "次回試行", "試行", "状態", "操作"})) {
    for (const json& m : mails) {
      const std::string id = str(m, "id");
      const std::string st = str(m, "state");
      ImGui::TableNextRow();
      cell(id);
      cell(str(m, "to"));
      cell_wrapped(str(m, "subject"));
      cell(short_time(member(m, "created_at")));
      cell(st == "sent" ? short_time(member(m, "sent_at")) : short_time(member(m, "next_attempt_at")));
      cell(std::to_string(num(m, "attempts")));
      ImGui::TableNextColumn();
      ImGui::TextColored(st == "sent" ? kGreen : st == "failed" ? kRed : kAmber, "%s", st.c_str());
      if (!str(m, "last_error").empty() && ImGui::IsItemHovered()) {
        ImGui::SetTooltip("%s", str(m, "last_error").c_str());
      }
      ImGui::TableNextColumn();
      if (st != "sent") {
        if (ImGui::SmallButton(("再送##retry" + id).c_str())) {
          act("retry_mail", "POST", "outbox/" + id + "/retry", json::object());
        }
        probe("retry:" + id);
      }
    }
    ImGui::EndTable();
  }
}

void ConsoleApp::draw_dev() {
  if (!flag(status_.data, "dev_mode")) {
    text("開発モードではありません。");
    return;
  }
  text("着信のシミュレーション（④ 電話番号認証で待っているフロー）");
  ImGui::SetNextItemWidth(300.0f);
  ImGui::InputText("フローID##dev_flow", flow_id_buf_, sizeof flow_id_buf_, kEditFlags);
  probe("dev_flow");
  ImGui::SameLine();
  ImGui::BeginDisabled(flow_id_buf_[0] == '\0');
  if (ImGui::Button("着信させる##dev_call")) {
    act("dev_call", "POST", "dev/calls", json{{"flow_id", std::string(flow_id_buf_)}});
  }
  probe("dev_call");
  ImGui::EndDisabled();
  // Candidates for a call: flows whose newest accepted step is ③'s
  // confirm_phone (rows come newest first), i.e. now waiting on ④.
  std::vector<std::pair<std::string, std::string>> waiting;  // flow id, time and masked phone
  std::set<std::string> seen;
  for (const json& r : member(dev_flows_.data, "records")) {
    const std::string flow = str(r, "flow_id");
    if (flow.empty() || !seen.insert(flow).second) continue;
    if (str(r, "step") != "confirm_phone" || str(r, "actor").rfind("staff:", 0) == 0) continue;
    waiting.emplace_back(flow, short_time(member(r, "at")) + "  " + str(r, "masked_phone"));
  }
  text("④で着信を待っているフロー（直近15分）:");
  if (begin_table("dev_flows", 3, {"フローID", "確認日時・電話", "操作"}, 150.0f)) {
    int i = 0;
    for (const auto& [flow, info] : waiting) {
      ImGui::TableNextRow();
      cell(flow);
      cell(info);
      ImGui::TableNextColumn();
      if (ImGui::SmallButton(("着信##dev_call_row" + std::to_string(i)).c_str())) {
        std::snprintf(flow_id_buf_, sizeof flow_id_buf_, "%s", flow.c_str());
        act("dev_call", "POST", "dev/calls", json{{"flow_id", flow}});
      }
      probe("dev_call_row:" + std::to_string(i));
      ++i;
    }
    ImGui::EndTable();
  }
  ImGui::Separator();
  const json& s = status_.data;
  text("サーバーの時計: " + short_time(str(s, "now")));
  if (!flag(s, "movable_clock")) {
    ImGui::TextColored(kGrey, "時計は固定です（movable_clock で起動すると動かせます）。");
    return;
  }
  ImGui::Text("オフセット %lld 秒", num(s, "clock_offset_seconds"));
  const std::pair<const char*, long long> steps[] = {
      {"+1分##clk1", 60}, {"+10分##clk2", 600}, {"+1時間##clk3", 3600}, {"+1日##clk4", 86400}, {"-1時間##clk5", -3600}};
  int i = 0;
  for (const auto& [label, secs] : steps) {
    if (i++) ImGui::SameLine();
    if (ImGui::Button(label)) act("advance_clock", "POST", "dev/clock", json{{"advance_seconds", secs}});
    probe(std::string("clock:") + std::to_string(secs));
  }
  ImGui::SetNextItemWidth(230.0f);
  ImGui::InputTextWithHint("時刻##clock_set", "2026-12-01T09:00:00+09:00", clock_set_,
                           sizeof clock_set_, kEditFlags);
  ImGui::SameLine();
  ImGui::BeginDisabled(!parse_iso_instant(clock_set_));
  if (ImGui::Button("設定##clock_set_button")) {
    act("set_clock", "POST", "dev/clock", json{{"set", std::string(clock_set_)}});
  }
  ImGui::EndDisabled();
}

// ---------- probes ----------

std::string ConsoleApp::probe_json() const {
  json items = json::object();
  for (const auto& [name, r] : probes_) items[name] = json::array({r.x0, r.y0, r.x1, r.y1});
  const char* view = "";
  for (const ViewInfo& v : kViews) {
    if (v.view == view_) view = v.key;
  }
  return json{{"logged_in", logged_in_},
              {"login_error", login_error_},
              {"view", view},
              {"font", font_state_},
              {"in_flight", api_.in_flight()},
              {"mouse",
               {ImGui::GetIO().MousePos.x, ImGui::GetIO().MousePos.y, ImGui::GetIO().MouseDown[0]}},
              {"typing", ImGui::GetIO().WantTextInput},
              {"dev_mode", flag(status_.data, "dev_mode")},
              {"client_secret_shown", !secret_client_.empty()},
              {"client_editing", edit_id_},
              {"last_action",
               {{"name", last_action_.name},
                {"ok", last_action_.ok},
                {"pending", last_action_.pending},
                {"message", last_action_.message},
                {"count", last_action_.count}}},
              {"loaded",
               {{"funnel", funnel_.data.is_object()},
                {"account", account_.data.is_object()},
                {"grants", grants_.data.is_object()},
                {"clients", clients_.data.is_object()},
                {"audit", audit_.data.is_object()},
                {"calendar", windows_.data.is_object()},
                {"outbox", outbox_.data.is_object()},
                {"dev", dev_flows_.data.is_object()}}},
              {"items", std::move(items)}}
      .dump();
}

}  // namespace renkei::console

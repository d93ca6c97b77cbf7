// The operator and developer console's drawing code and view models (issue 5).
// Platform-free: it sees only Dear ImGui and an AdminClient; the GLFW/WebGL
// glue, the main loop and the browser's fetch live in console/backends/.
//
// Layout is fixed (a navigation column at the left, the current view filling
// the rest, no moving or resizing) so that staff always find things in the
// same place, and so that a browser test can click what probe_json() names.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "admin_client.h"

namespace renkei::console {

enum class View { funnel, accounts, grants, clients, audit, calendar, outbox, dev };
inline constexpr int kViewCount = 8;

class ConsoleApp {
 public:
  explicit ConsoleApp(AdminClient& api);

  // Draws one frame; call between ImGui::NewFrame() and ImGui::Render().
  // `now` is a monotonic time in seconds (for the refresh every few seconds);
  // width/height the display size in pixels.
  void frame(double now, float width, float height);

  // Whether the Japanese font is in the atlas (the glue loads it after start).
  void set_font_state(std::string state) { font_state_ = std::move(state); }

  // Read-only state for tests and diagnostics: the view, whether logged in,
  // the last action's outcome, and the screen rectangle of each named widget
  // drawn in the last frame ("nav:grants", "lift_button", …) so that a test
  // can click it like a person would.
  std::string probe_json() const;

 private:
  struct Rect {
    float x0, y0, x1, y1;
  };
  struct Panel {  // one resource fetched from the API and refreshed
    nlohmann::json data;
    std::string error;
    bool loading = false;
    double fetched_at = -1e9;
  };

  void draw_login(float width, float height);
  void draw_navigation(float height);
  void draw_view(float width, float height);
  void draw_status_line();
  void draw_funnel();
  void draw_account_picker(const char* probe_prefix);
  void draw_accounts();
  void draw_grants();
  void draw_clients();
  void draw_client_register();
  void draw_client_edit();
  void start_edit(const nlohmann::json& client);
  void forget_secret();
  void draw_audit();
  void draw_calendar();
  void draw_outbox();
  void draw_dev();

  void refresh(double now, bool force);
  void load(Panel& panel, const std::string& path);
  // `on_ok` (optional) sees the answer of an accepted action (the client
  // secret of a registration).
  void act(const std::string& name, const std::string& method, const std::string& path,
           const nlohmann::json& body, std::function<void(const ApiResult&)> on_ok = nullptr);
  void after_action(const std::string& name);
  void probe(const std::string& name);
  std::string account_query() const;
  long long server_now() const;
  void select(View v);

  AdminClient& api_;
  bool logged_in_ = false;
  bool logging_in_ = false;
  std::string login_error_;
  View view_ = View::funnel;
  double now_ = 0;
  double last_refresh_ = -1e9;
  std::string font_state_ = "loading";

  Panel status_, funnel_, account_, grants_, clients_, audit_, windows_, outbox_, dev_flows_;

  // Inputs (ImGui edits fixed buffers).
  char token_buf_[256] = "";
  char staff_buf_[65] = "";
  int funnel_period_ = 1;  // index into kFunnelPeriods
  char branch_buf_[8] = "";
  int type_index_ = 0;  // ordinary, savings
  char number_buf_[12] = "";
  bool account_chosen_ = false;
  char lift_reason_[256] = "";
  char grant_reason_[256] = "";
  char client_reason_[256] = "";
  // Clients (issue 13): the registration form, the secret shown once after a
  // confidential registration (cleared when closed, at logout and at the next
  // registration), and the change form of the client chosen in the table.
  char reg_id_[65] = "";
  char reg_name_[201] = "";
  char reg_uris_[4096] = "";  // one redirect URI per line
  int reg_profile_ = 0;       // index into kProfiles: oauth, fapi2
  bool reg_confidential_ = false;
  char reg_jwks_[8192] = "";  // a JWK Set as JSON
  char secret_buf_[128] = "";
  std::string secret_client_;  // the client the shown secret belongs to
  std::string edit_id_;        // "" when no client is being changed
  char edit_name_[201] = "";
  char edit_uris_[4096] = "";
  char edit_jwks_[8192] = "";
  std::string edit_orig_name_, edit_orig_uris_, edit_orig_jwks_;  // as loaded
  char audit_account_[64] = "";
  char audit_flow_[130] = "";
  char audit_outcome_[64] = "";
  char audit_from_[40] = "";
  char audit_to_[40] = "";
  std::string audit_query_;  // the search last run (refresh repeats it)
  std::vector<long long> audit_pages_;  // "before" ids of the pages shown before this one
  char window_start_[40] = "";
  char window_end_[40] = "";
  char window_label_[128] = "";
  char flow_id_buf_[130] = "";
  char clock_set_[40] = "";

  struct ActionOutcome {
    std::string name;
    bool ok = false;
    bool pending = false;
    std::string message;
    int count = 0;  // actions finished so far (tests wait for it to change)
  } last_action_;

  std::map<std::string, Rect> probes_;
};

}  // namespace renkei::console

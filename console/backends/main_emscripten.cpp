// The console's platform glue: GLFW on a WebGL canvas (emscripten's built-in
// GLFW 3, no ports), the browser-driven main loop, the Japanese font fetched
// after start, and the read-only probe for tests. The drawing lives in
// console/app/ (ConsoleApp), as in imgui's own examples.
#include <GLFW/glfw3.h>
#include <emscripten.h>
#include <emscripten/fetch.h>
#include <emscripten/html5.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "admin_client.h"
#include "console_app.h"
#include "fetch_transport.h"
#include "imgui.h"
#include "imgui_impl_glfw.h"
#include "imgui_impl_opengl3.h"

namespace {

using renkei::console::AdminClient;
using renkei::console::ConsoleApp;
using renkei::console::FetchTransport;

constexpr const char* kCanvas = "#canvas";
// The subset IPAGothic (scripts/subset-font.sh), served beside the module.
constexpr const char* kFontUrl = "/static/wasm/renkei_console_font.ttf";
constexpr float kFontPixels = 15.0f;

GLFWwindow* g_window = nullptr;
FetchTransport* g_transport = nullptr;
AdminClient* g_api = nullptr;
ConsoleApp* g_app = nullptr;
int g_width = 0;
int g_height = 0;

// What the subset font may hold: ASCII and Latin-1, punctuation, arrows,
// circled numbers, shapes, kana and CJK punctuation, the CJK ideographs (only
// those in the subset exist; ImGui skips code points the font lacks), the
// full-width forms and half-width kana.
const ImWchar kGlyphRanges[] = {
    0x0020, 0x00FF, 0x2010, 0x2027, 0x2190, 0x2193, 0x2460, 0x2473, 0x25A0, 0x25CF,
    0x3000, 0x30FF, 0x4E00, 0x9FFF, 0xFF01, 0xFF9F, 0,
};

void on_font(emscripten_fetch_t* fetch) {
  if (fetch->status != 200 || fetch->numBytes == 0) {
    std::fprintf(stderr, "console: font %s: HTTP %d\n", kFontUrl, fetch->status);
    g_app->set_font_state("missing");
    emscripten_fetch_close(fetch);
    return;
  }
  // The atlas frees what it owns with IM_FREE: hand it an IM_ALLOC copy.
  const auto size = static_cast<int>(fetch->numBytes);
  void* data = IM_ALLOC(static_cast<size_t>(size));
  std::memcpy(data, fetch->data, static_cast<size_t>(size));
  emscripten_fetch_close(fetch);
  ImGuiIO& io = ImGui::GetIO();
  io.Fonts->Clear();
  ImFontConfig config;
  config.OversampleH = 1;  // smaller atlas; the console is not scaled
  config.OversampleV = 1;
  config.PixelSnapH = true;
  if (!io.Fonts->AddFontFromMemoryTTF(data, size, kFontPixels, &config, kGlyphRanges)) {
    io.Fonts->AddFontDefault();
    g_app->set_font_state("invalid");
  } else {
    g_app->set_font_state("loaded");
  }
  // Rebuilt between frames (fetch callbacks run outside the main loop).
  ImGui_ImplOpenGL3_DestroyFontsTexture();
  ImGui_ImplOpenGL3_CreateFontsTexture();
}

void load_font() {
  emscripten_fetch_attr_t attr;
  emscripten_fetch_attr_init(&attr);
  std::strcpy(attr.requestMethod, "GET");
  attr.attributes = EMSCRIPTEN_FETCH_LOAD_TO_MEMORY;
  attr.onsuccess = on_font;
  attr.onerror = on_font;
  emscripten_fetch(&attr, kFontUrl);
}

// The canvas fills the page (web/static/console.css); its drawing buffer
// follows its CSS size. Not through glfwSetWindowSize: emscripten's GLFW takes
// a size equal to the screen's as a request for full screen and then changes
// nothing (a maximized browser window, a headless one), so the buffer is sized
// here and ImGui is told the size each frame.
void fit_canvas() {
  double w = 0, h = 0;
  emscripten_get_element_css_size(kCanvas, &w, &h);
  const int iw = static_cast<int>(w), ih = static_cast<int>(h);
  if (iw > 0 && ih > 0 && (iw != g_width || ih != g_height)) {
    g_width = iw;
    g_height = ih;
    emscripten_set_canvas_element_size(kCanvas, iw, ih);
  }
}

void main_loop() {
  fit_canvas();
  glfwPollEvents();
  ImGui_ImplOpenGL3_NewFrame();
  ImGui_ImplGlfw_NewFrame();
  ImGuiIO& io = ImGui::GetIO();
  io.DisplaySize = ImVec2(static_cast<float>(g_width), static_cast<float>(g_height));
  io.DisplayFramebufferScale = ImVec2(1.0f, 1.0f);
  ImGui::NewFrame();
  const ImVec2 display = ImGui::GetIO().DisplaySize;
  g_app->frame(emscripten_get_now() / 1000.0, display.x, display.y);
  ImGui::Render();
  glViewport(0, 0, g_width, g_height);
  glClearColor(0.10f, 0.11f, 0.13f, 1.0f);
  glClear(GL_COLOR_BUFFER_BIT);
  ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
}

}  // namespace

// Read-only: the console's state as JSON for tests (web/static/console.js
// exposes it as window.renkeiConsoleProbe()). Performs nothing.
extern "C" EMSCRIPTEN_KEEPALIVE const char* renkei_console_probe() {
  static std::string last;
  last = g_app ? g_app->probe_json() : std::string("{}");
  return last.c_str();
}

int main() {
  if (!glfwInit()) {
    std::fprintf(stderr, "console: glfwInit failed\n");
    return 1;
  }
  glfwWindowHint(GLFW_CLIENT_API, GLFW_OPENGL_ES_API);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 2);  // "#version 100" shaders, WebGL 1 or 2
  g_window = glfwCreateWindow(1280, 800, "Renkei console", nullptr, nullptr);
  if (!g_window) {
    std::fprintf(stderr, "console: no WebGL context\n");
    return 1;
  }
  glfwMakeContextCurrent(g_window);

  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;  // no file system; the layout is fixed anyway
  io.ConfigFlags |= ImGuiConfigFlags_NavEnableKeyboard;
  ImGui::StyleColorsDark();
  ImGui::GetStyle().WindowRounding = 0.0f;
  ImGui_ImplGlfw_InitForOpenGL(g_window, true);
  ImGui_ImplOpenGL3_Init("#version 100");

  g_transport = new FetchTransport();
  g_api = new AdminClient(*g_transport);
  g_app = new ConsoleApp(*g_api);
  load_font();
  fit_canvas();
  emscripten_set_main_loop(main_loop, 0, true);
  return 0;
}

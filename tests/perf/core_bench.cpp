// Micro-benchmarks of the core's hot paths, natively. wasm_bench.cjs beside this
// file times the same work through the WASM module's runCase for comparison.
//
//   build/native/tests/renkei_core_bench
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "renkei/case_runner.h"
#include "renkei/flow.h"
#include "renkei/forms.h"
#include "renkei/service_calendar.h"
#include "renkei/time.h"

namespace {

// A complete screen-② form as an IME types it: hiragana name with a full-width
// space, full-width digits, a hyphenated phone, full-width e-mail characters.
renkei::CustomerForm typed_customer_form() {
  renkei::CustomerForm f;
  f.name_kana = "でーた　さとる";
  f.birth_year = "１９８５";
  f.birth_month = "０４";
  f.birth_day = "１２";
  f.phone = "０９０－１２３４－５６７８";
  f.email = "ｓａｔｏｒｕ．ｄａｔａ＠ｅｘａｍｐｌｅ．ｃｏ．ｊｐ";
  f.email_confirm = "satoru.data@example.co.jp";
  return f;
}

// Noon JST on a Wednesday: the service is open.
const renkei::UnixSeconds kOpenNoon = renkei::from_jst({2026, 11, 25}, 12, 0, 0);

void BM_ValidateCustomerForm(benchmark::State& state) {
  const renkei::CustomerForm form = typed_customer_form();
  const renkei::CivilDate today{2026, 11, 25};
  for (auto _ : state) {
    renkei::FormResult r = renkei::validate_customer_form(form, today);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ValidateCustomerForm);

void BM_FlowStep(benchmark::State& state) {
  const renkei::FlowConfig config;
  renkei::FlowState s = renkei::start_flow(kOpenNoon - 60);
  s.screen = renkei::Screen::customer_entry;
  s.account = renkei::AccountRef{"115", renkei::AccountType::ordinary, "1100026"};
  s.last_activity = kOpenNoon - 30;
  renkei::SubmitCustomer submit;
  submit.form = typed_customer_form();
  submit.check = renkei::IdentityCheck::match;
  const renkei::FlowEvent event = submit;
  for (auto _ : state) {
    renkei::FlowTransition t = renkei::step(s, event, kOpenNoon, config);
    benchmark::DoNotOptimize(t);
  }
}
BENCHMARK(BM_FlowStep);

void BM_CalendarIsOpen(benchmark::State& state) {
  const renkei::ServiceCalendar calendar;
  // Instants spread over 1990–2100, with a stride that visits every time of day.
  std::vector<renkei::UnixSeconds> instants;
  const renkei::UnixSeconds first = renkei::from_jst({1990, 1, 1});
  const renkei::UnixSeconds last = renkei::from_jst({2100, 12, 31});
  const renkei::UnixSeconds stride = (last - first) / 1021 + 7;
  for (renkei::UnixSeconds t = first; t < last; t += stride) instants.push_back(t);
  std::size_t i = 0;
  for (auto _ : state) {
    bool open = calendar.is_open(instants[i]);
    benchmark::DoNotOptimize(open);
    if (++i == instants.size()) i = 0;
  }
}
BENCHMARK(BM_CalendarIsOpen);

// The same work as JSON lines through run_case, as the WASM module and the CLI
// do it. tests/perf/wasm_bench.cjs times these exact lines through runCase.
const char* const kFieldLine =
    R"({"kind":"field","field":"name_kana","value":"でーた　さとる"})";
const char* const kFormLine =
    R"({"kind":"form","screen":"customer","today":"2026-11-25","form":{"name_kana":"でーた　さとる","birth_year":"１９８５","birth_month":"０４","birth_day":"１２","phone":"０９０－１２３４－５６７８","email":"ｓａｔｏｒｕ．ｄａｔａ＠ｅｘａｍｐｌｅ．ｃｏ．ｊｐ","email_confirm":"satoru.data@example.co.jp"}})";
const char* const kFlowLine =
    R"({"kind":"flow","now":"2026-11-25T12:00:00+09:00","state":{"screen":"customer_entry","started_at":"2026-11-25T11:59:00+09:00","last_activity":"2026-11-25T11:59:30+09:00","account":{"branch":"115","type":"ordinary","number":"1100026"}},"event":{"type":"submit_customer","check":"match","form":{"name_kana":"でーた　さとる","birth_year":"１９８５","birth_month":"０４","birth_day":"１２","phone":"０９０－１２３４－５６７８","email":"ｓａｔｏｒｕ．ｄａｔａ＠ｅｘａｍｐｌｅ．ｃｏ．ｊｐ","email_confirm":"satoru.data@example.co.jp"}}})";
const char* const kCalendarLine = R"({"kind":"calendar","at":"2026-12-13T06:30:00+09:00"})";

void run_case_loop(benchmark::State& state, const std::string& line) {
  for (auto _ : state) {
    std::string out = renkei::run_case(line);
    benchmark::DoNotOptimize(out);
  }
}

void BM_RunCaseField(benchmark::State& state) { run_case_loop(state, kFieldLine); }
BENCHMARK(BM_RunCaseField);
void BM_RunCaseForm(benchmark::State& state) { run_case_loop(state, kFormLine); }
BENCHMARK(BM_RunCaseForm);
void BM_RunCaseFlow(benchmark::State& state) { run_case_loop(state, kFlowLine); }
BENCHMARK(BM_RunCaseFlow);
void BM_RunCaseCalendar(benchmark::State& state) { run_case_loop(state, kCalendarLine); }
BENCHMARK(BM_RunCaseCalendar);

}  // namespace

BENCHMARK_MAIN();

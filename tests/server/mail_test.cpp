// The result mail: its text, its RFC 5322 form, maildir delivery, the worker's
// retries with backoff, and real SMTP delivery to Debian's aiosmtpd.
#include "ops/mail.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "ops/clock.h"
#include "renkei/json.h"
#include "test_server.h"

extern char** environ;

namespace renkei::server {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr UnixSeconds kNow = 1795568400;  // 2026-11-25T10:00:00+09:00

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0) continue;  // '=', CR, LF
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A fresh, empty folder under the test temp dir.
fs::path fresh_dir(const std::string& name) {
  fs::path p =
      fs::path(::testing::TempDir()) / ("renkei_mail_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

std::vector<fs::path> files_in(const fs::path& dir, const std::string& ext = "") {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (ext.empty() || e.path().extension() == ext) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

MailRecord sample_mail() {
  MailRecord m;
  m.id = 42;
  m.to = "data.satoru@example.jp";
  m.subject = "API連携認証完了のお知らせ";
  m.body = "ﾃﾞｰﾀ ｻﾄﾙ 様\n\nミレ信用組合です。\n";
  m.flow_id = "flow-1";
  m.created_at = kNow;
  m.next_attempt_at = kNow;
  return m;
}

// ---------- render_rfc5322 ----------

// The header block, unfolded (continuation lines joined), by name.
std::map<std::string, std::string> headers_of(const std::string& message) {
  std::map<std::string, std::string> h;
  std::string head = message.substr(0, message.find("\r\n\r\n"));
  std::string unfolded;
  for (std::size_t i = 0; i < head.size(); ++i) {
    if (head.compare(i, 3, "\r\n ") == 0) {
      unfolded += ' ';
      i += 2;
    } else {
      unfolded += head[i];
    }
  }
  std::istringstream lines(unfolded);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto colon = line.find(": ");
    if (colon != std::string::npos) h[line.substr(0, colon)] = line.substr(colon + 2);
  }
  return h;
}

// Decodes a header made of =?UTF-8?B?…?= words separated by spaces.
std::string decode_words(const std::string& value) {
  std::string out;
  std::size_t pos = 0;
  while ((pos = value.find("=?UTF-8?B?", pos)) != std::string::npos) {
    std::size_t end = value.find("?=", pos + 10);
    out += base64_decode(value.substr(pos + 10, end - pos - 10));
    pos = end + 2;
  }
  return out;
}

TEST(RenderRfc5322, HeadersAndBase64Body) {
  std::string text = render_rfc5322(sample_mail(), "noreply@renkei.invalid", kNow);
  auto h = headers_of(text);
  EXPECT_EQ(h["Date"], "Wed, 25 Nov 2026 10:00:00 +0900");
  EXPECT_EQ(h["From"], "noreply@renkei.invalid");
  EXPECT_EQ(h["To"], "data.satoru@example.jp");
  EXPECT_EQ(h["MIME-Version"], "1.0");
  EXPECT_EQ(h["Content-Type"], "text/plain; charset=UTF-8");
  EXPECT_EQ(h["Content-Transfer-Encoding"], "base64");
  EXPECT_EQ(h["Message-ID"], "<renkei-mail-42-1795568400@renkei.invalid>");
  EXPECT_EQ(decode_words(h["Subject"]), "API連携認証完了のお知らせ");

  std::string body = text.substr(text.find("\r\n\r\n") + 4);
  EXPECT_EQ(base64_decode(body), "ﾃﾞｰﾀ ｻﾄﾙ 様\r\n\r\nミレ信用組合です。\r\n");
  // Every line ends with CRLF, none is longer than 78 characters, no bare LF.
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find("\r\n", start);
    ASSERT_NE(end, std::string::npos);
    EXPECT_LE(end - start, 78u);
    EXPECT_EQ(text.substr(start, end - start).find('\n'), std::string::npos);
    start = end + 2;
  }
  EXPECT_TRUE(text.size() >= 2 && text.substr(text.size() - 2) == "\r\n");
}

TEST(RenderRfc5322, LongSubjectIsSplitIntoShortWordsOnCharacterBoundaries) {
  MailRecord m = sample_mail();
  m.subject = "API連携認証完了のお知らせ（デモ家計簿アプリ・ミレ信用組合・とても長い件名の試験）";
  std::string text = render_rfc5322(m, "a@b.example", kNow);
  std::string head = text.substr(0, text.find("\r\n\r\n"));
  auto subject_at = head.find("Subject: ");
  std::string raw = head.substr(subject_at);
  raw = raw.substr(0, raw.find("\r\nMessage-ID"));
  // Each encoded word is at most 75 characters (RFC 2047) and decodes alone.
  std::size_t pos = 0;
  int words = 0;
  while ((pos = raw.find("=?UTF-8?B?", pos)) != std::string::npos) {
    std::size_t end = raw.find("?=", pos + 10);
    EXPECT_LE(end + 2 - pos, 75u);
    std::string piece = base64_decode(raw.substr(pos + 10, end - pos - 10));
    // A piece never ends inside a UTF-8 sequence.
    ASSERT_FALSE(piece.empty());
    unsigned char last_lead = 0;
    for (std::size_t i = piece.size(); i-- > 0;) {
      if ((static_cast<unsigned char>(piece[i]) & 0xC0) != 0x80) {
        last_lead = static_cast<unsigned char>(piece[i]);
        std::size_t len = last_lead < 0x80 ? 1 : last_lead >= 0xF0 ? 4 : last_lead >= 0xE0 ? 3 : 2;
        EXPECT_EQ(piece.size() - i, len);
        break;
      }
    }
    pos = end + 2;
    ++words;
  }
  EXPECT_GE(words, 2);
  EXPECT_EQ(decode_words(headers_of(text)["Subject"]), m.subject);
}

TEST(RenderRfc5322, NoHeaderInjection) {
  MailRecord m = sample_mail();
  m.to = "victim@example.jp\r\nBcc: attacker@example.com";
  m.subject = "x\r\nBcc: attacker@example.com";
  std::string text = render_rfc5322(m, "a@b.example", kNow);
  EXPECT_FALSE(contains(text, "\r\nBcc:"));
}

// ---------- enqueue_result_mail ----------

class MailStoreTest : public ::testing::Test {
 protected:
  MailStoreTest() {
    ServerConfig config = testing::test_config();
    config.mail_max_attempts = 4;
    config.profile.name = "ミレ信用組合";
    config.profile.contact_phone = "06-6374-3021";
    config.profile.contact_hours = "平日の9時～17時";
    clock_ = std::make_shared<ManualClock>(kNow);
    app_ = std::make_unique<App>(config, open_sqlite_store(":memory:"), clock_);
  }

  FlowRecord completed_flow() {
    FlowRecord f;
    f.flow_id = "flow-abc";
    f.client_id = "demo-app";
    f.state.screen = Screen::completed;
    f.state.account = AccountRef{"115", AccountType::ordinary, "1100026"};
    f.state.name_kana = "ﾃﾞｰﾀ ｻﾄﾙ";
    f.state.email = "data.satoru@example.jp";
    f.state.phone = "09011113333";
    return f;
  }

  std::int64_t enqueue_one() {
    {
      auto tx = app_->store().begin();
      enqueue_result_mail(*tx, *app_, completed_flow(), "デモ家計簿アプリ", clock_->now());
      EXPECT_TRUE(tx->commit());
    }
    auto tx2 = app_->store().begin();
    auto mails = tx2->list_mails(10);
    EXPECT_FALSE(mails.empty());
    return mails.empty() ? 0 : mails.front().id;
  }

  MailRecord mail(std::int64_t id) {
    auto tx = app_->store().begin();
    auto m = tx->mail_by_id(id);
    EXPECT_TRUE(m.has_value());
    return m.value_or(MailRecord{});
  }

  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<App> app_;
};

TEST_F(MailStoreTest, ResultMailNamesAppPeriodAndContactButNoSecrets) {
  std::int64_t id = enqueue_one();
  MailRecord m = mail(id);
  EXPECT_EQ(m.to, "data.satoru@example.jp");
  EXPECT_EQ(m.subject, "API連携認証完了のお知らせ");
  EXPECT_EQ(m.flow_id, "flow-abc");
  EXPECT_EQ(m.state, MailState::pending);
  EXPECT_EQ(m.attempts, 0);
  EXPECT_EQ(m.next_attempt_at, kNow);
  const std::string& b = m.body;
  EXPECT_TRUE(contains(b, "ミレ信用組合")) << b;
  EXPECT_TRUE(contains(b, "デモ家計簿アプリ")) << b;
  EXPECT_TRUE(contains(b, "30日")) << b;
  EXPECT_TRUE(contains(b, "2026年12月25日")) << b;  // 30 days after 2026-11-25
  EXPECT_TRUE(contains(b, "***0026")) << b;
  EXPECT_TRUE(contains(b, "普通預金")) << b;
  EXPECT_TRUE(contains(b, "06-6374-3021")) << b;
  EXPECT_TRUE(contains(b, "平日の9時～17時")) << b;
  EXPECT_FALSE(contains(b, "1100026")) << "full account number";
  EXPECT_FALSE(contains(b, "09011113333")) << "full phone number";
  EXPECT_FALSE(contains(b, "3333")) << "not even the masked phone";
}

TEST_F(MailStoreTest, NoMailWithoutAnAddress) {
  FlowRecord f = completed_flow();
  f.state.email.clear();
  {
    auto tx = app_->store().begin();
    enqueue_result_mail(*tx, *app_, f, "デモ家計簿アプリ", kNow);
    ASSERT_TRUE(tx->commit());
  }
  auto tx2 = app_->store().begin();
  EXPECT_TRUE(tx2->list_mails(10).empty());
}

// ---------- maildir ----------

TEST(MaildirTransport, DeliversAtomicallyIntoNewWithUniqueNames) {
  fs::path dir = fresh_dir("maildir");
  auto t = make_maildir_transport(dir.string());
  std::string error;
  ASSERT_TRUE(t->send(sample_mail(), "noreply@renkei.invalid", &error)) << error;
  ASSERT_TRUE(t->send(sample_mail(), "noreply@renkei.invalid", &error)) << error;
  auto delivered = files_in(dir / "new");
  ASSERT_EQ(delivered.size(), 2u);
  EXPECT_NE(delivered[0].filename(), delivered[1].filename());
  EXPECT_TRUE(files_in(dir / "tmp").empty());
  EXPECT_TRUE(fs::is_directory(dir / "cur"));
  EXPECT_EQ(read_file(delivered[0]), render_rfc5322(sample_mail(), "noreply@renkei.invalid", kNow));
  fs::remove_all(dir);
}

TEST(MaildirTransport, FailsWithoutAFolderOrWhenItCannotBeCreated) {
  std::string error;
  EXPECT_FALSE(make_maildir_transport("")->send(sample_mail(), "a@b.example", &error));
  EXPECT_FALSE(error.empty());
  error.clear();
  EXPECT_FALSE(make_maildir_transport("/proc/renkei-no-such/mail")
                   ->send(sample_mail(), "a@b.example", &error));
  EXPECT_FALSE(error.empty());
}

TEST(MaildirTransport, MakeDurableSyncsNewAndFailsWhenNewIsGone) {
  fs::path dir = fresh_dir("durable");
  auto t = make_maildir_transport(dir.string());
  std::string error;
  ASSERT_TRUE(t->send(sample_mail(), "a@b.example", &error)) << error;
  EXPECT_TRUE(t->make_durable(&error)) << error;
  fs::remove_all(dir);
  EXPECT_FALSE(t->make_durable(&error));
  EXPECT_TRUE(contains(error, "new/")) << error;
}

TEST(MakeTransport, FollowsTheConfiguration) {
  ServerConfig c;
  fs::path dir = fresh_dir("make");
  c.mail_transport = "maildir";
  c.maildir = dir.string();
  std::string error;
  ASSERT_TRUE(make_transport(c)->send(sample_mail(), "a@b.example", &error)) << error;
  EXPECT_EQ(files_in(dir / "new").size(), 1u);
  c.mail_transport = "smtp";
  c.smtp_url = "smtp://127.0.0.1:1";
  EXPECT_FALSE(make_transport(c)->send(sample_mail(), "a@b.example", &error));
  EXPECT_TRUE(contains(error, "smtp")) << error;
  fs::remove_all(dir);
}

// ---------- the worker ----------

// Fails the first `failures` sends, then succeeds; records what it was given.
// make_durable() fails its first `durable_failures` calls.
class FakeTransport final : public MailTransport {
 public:
  explicit FakeTransport(int failures, int durable_failures = 0)
      : failures_(failures), durable_failures_(durable_failures) {}
  bool make_durable(std::string* error) override {
    ++durable_calls;
    if (durable_calls <= durable_failures_) {
      *error = "disk full (fake)";
      return false;
    }
    return true;
  }
  bool send(const MailRecord& mail, const std::string& from, std::string* error) override {
    ++calls;
    last_from = from;
    last_to = mail.to;
    if (failures_ < 0 || calls <= failures_) {
      *error = "connection refused (fake)";
      return false;
    }
    return true;
  }
  std::atomic<int> calls{0};
  std::atomic<int> durable_calls{0};
  std::string last_from, last_to;

 private:
  int failures_;  // -1: always
  int durable_failures_;
};

TEST_F(MailStoreTest, WorkerSendsDueMailOnce) {
  std::int64_t id = enqueue_one();
  auto fake = std::make_unique<FakeTransport>(0);
  FakeTransport* f = fake.get();
  MailWorker worker(*app_, std::move(fake));
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(worker.run_once(), 1);
  EXPECT_EQ(worker.run_once(), 0);
  ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(f->calls, 1);
  EXPECT_EQ(f->last_from, app_->config().mail_from);
  EXPECT_EQ(f->last_to, "data.satoru@example.jp");
  MailRecord m = mail(id);
  EXPECT_EQ(m.state, MailState::sent);
  EXPECT_EQ(m.attempts, 1);
  ASSERT_TRUE(m.sent_at.has_value());
  EXPECT_EQ(*m.sent_at, kNow);
}

TEST_F(MailStoreTest, NoMailIsRecordedAsSentBeforeItsDeliveryIsDurable) {
  const std::int64_t first = enqueue_one();
  const std::int64_t second = enqueue_one();
  ASSERT_NE(first, second);
  auto fake = std::make_unique<FakeTransport>(0, 1);
  FakeTransport* f = fake.get();
  MailWorker worker(*app_, std::move(fake));
  ::testing::internal::CaptureStderr();
  // Both delivered; the first delivery could not be made durable: a failed
  // attempt, to be sent again after the first backoff. The second could.
  EXPECT_EQ(worker.run_once(), 1);
  EXPECT_EQ(f->calls, 2);
  EXPECT_EQ(f->durable_calls, 2) << "one sync per delivery";
  const std::int64_t failed = mail(first).state == MailState::sent ? second : first;
  const std::int64_t durable = failed == first ? second : first;
  MailRecord m = mail(failed);
  EXPECT_EQ(m.state, MailState::pending);
  EXPECT_EQ(m.attempts, 1);
  EXPECT_FALSE(m.sent_at.has_value());
  EXPECT_EQ(m.last_error, "disk full (fake)");
  EXPECT_EQ(m.next_attempt_at, kNow + 30);
  EXPECT_EQ(mail(durable).state, MailState::sent);
  clock_->advance(30);
  EXPECT_EQ(worker.run_once(), 1);
  EXPECT_EQ(f->calls, 3);
  EXPECT_EQ(f->durable_calls, 3);
  m = mail(failed);
  EXPECT_EQ(m.state, MailState::sent);
  EXPECT_EQ(m.attempts, 2);
  EXPECT_TRUE(m.last_error.empty());
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(contains(log, "retry in 30 s: disk full (fake)")) << log;
}

TEST_F(MailStoreTest, WorkerRetriesWithDoublingBackoffThenGivesUp) {
  std::int64_t id = enqueue_one();
  auto fake = std::make_unique<FakeTransport>(-1);
  FakeTransport* f = fake.get();
  MailWorker worker(*app_, std::move(fake));
  ::testing::internal::CaptureStderr();

  // mail_max_attempts = 4: attempts at +0, +30, +90 (30+60), +210 (…+120).
  const UnixSeconds expected_backoff[] = {30, 60, 120};
  for (int attempt = 1; attempt <= 3; ++attempt) {
    EXPECT_EQ(worker.run_once(), 0);
    MailRecord m = mail(id);
    EXPECT_EQ(m.attempts, attempt);
    EXPECT_EQ(m.state, MailState::pending);
    EXPECT_EQ(m.last_error, "connection refused (fake)");
    EXPECT_EQ(m.next_attempt_at, clock_->now() + expected_backoff[attempt - 1]);
    // Not due a second earlier.
    clock_->advance(expected_backoff[attempt - 1] - 1);
    EXPECT_EQ(worker.run_once(), 0);
    EXPECT_EQ(f->calls, attempt);
    clock_->advance(1);
  }
  EXPECT_EQ(worker.run_once(), 0);
  MailRecord m = mail(id);
  EXPECT_EQ(m.attempts, 4);
  EXPECT_EQ(m.state, MailState::failed);
  EXPECT_FALSE(m.sent_at.has_value());
  // Failed mail stays listed for staff and is not tried again.
  clock_->advance(365 * kSecondsPerDay);
  EXPECT_EQ(worker.run_once(), 0);
  EXPECT_EQ(f->calls, 4);
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(contains(log, "retry in 30 s")) << log;
  EXPECT_FALSE(contains(log, "data.satoru@example.jp")) << "addresses are not logged";
}

TEST_F(MailStoreTest, BackoffIsCappedAtOneHour) {
  ServerConfig config = testing::test_config();
  config.mail_max_attempts = 20;
  App app(config, open_sqlite_store(":memory:"), clock_);
  {
    auto tx = app.store().begin();
    enqueue_result_mail(*tx, app, completed_flow(), "デモ家計簿アプリ", clock_->now());
    ASSERT_TRUE(tx->commit());
  }
  MailWorker worker(app, std::make_unique<FakeTransport>(-1));
  ::testing::internal::CaptureStderr();
  UnixSeconds last_gap = 0;
  for (int i = 0; i < 10; ++i) {
    worker.run_once();
    auto tx = app.store().begin();
    MailRecord m = tx->list_mails(1).front();
    last_gap = m.next_attempt_at - clock_->now();
    clock_->set(m.next_attempt_at);
  }
  ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(last_gap, 3600);  // 30·2^9 would be 15360
}

TEST_F(MailStoreTest, ThreadDeliversWhenWoken) {
  std::int64_t id = enqueue_one();
  auto fake = std::make_unique<FakeTransport>(0);
  MailWorker worker(*app_, std::move(fake));
  ::testing::internal::CaptureStderr();
  worker.start();
  worker.wake();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (mail(id).state != MailState::sent && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  worker.stop();
  ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(mail(id).state, MailState::sent);
}

// ---------- real SMTP (aiosmtpd) ----------

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool port_open(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// tests/server/smtp_sink.py under Debian's python3 (which has aiosmtpd).
class SmtpSink {
 public:
  SmtpSink(int port, fs::path dir) : port_(port), dir_(std::move(dir)) {
    const char* root = std::getenv("RENKEI_SOURCE_DIR");
    std::string script = std::string(root ? root : ".") + "/tests/server/smtp_sink.py";
    std::string port_arg = std::to_string(port);
    std::string dir_arg = dir_.string();
    std::vector<char*> argv = {const_cast<char*>("/usr/bin/python3"),
                               script.data(),
                               const_cast<char*>("--port"),
                               port_arg.data(),
                               const_cast<char*>("--dir"),
                               dir_arg.data(),
                               nullptr};
    if (posix_spawn(&pid_, "/usr/bin/python3", nullptr, nullptr, argv.data(), environ) != 0) {
      pid_ = -1;
      return;
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!port_open(port_) && std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;  // exited: aiosmtpd missing or the port taken
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ready_ = port_open(port_);
  }
  ~SmtpSink() { stop(); }
  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }
  bool ready() const { return ready_; }

  // The JSON records of received messages, waiting up to `timeout` for `n`.
  std::vector<json> wait_for(std::size_t n,
                             std::chrono::seconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<fs::path> found;
    while ((found = files_in(dir_, ".json")).size() < n &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::vector<json> out;
    for (const auto& p : found) {
      auto j = parse_json(read_file(p));
      if (j) out.push_back(*j);
    }
    return out;
  }

 private:
  int port_;
  fs::path dir_;
  pid_t pid_ = -1;
  bool ready_ = false;
};

TEST_F(MailStoreTest, SmtpDeliveryToARealServer) {
  fs::path dir = fresh_dir("smtp");
  int port = free_port();
  SmtpSink sink(port, dir);
  ASSERT_TRUE(sink.ready()) << "aiosmtpd did not start (python3-aiosmtpd installed?)";

  std::int64_t id = enqueue_one();
  MailWorker worker(*app_, make_smtp_transport("smtp://127.0.0.1:" + std::to_string(port)));
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(worker.run_once(), 1);
  ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(mail(id).state, MailState::sent);

  auto received = sink.wait_for(1);
  ASSERT_EQ(received.size(), 1u);
  const json& r = received[0];
  EXPECT_EQ(r["mail_from"], app_->config().mail_from);
  EXPECT_EQ(r["rcpt_tos"], json::array({"data.satoru@example.jp"}));
  EXPECT_EQ(r["to"], "data.satoru@example.jp");
  // Decoded by Python's e-mail package, independently of our encoder.
  EXPECT_EQ(r["subject"], "API連携認証完了のお知らせ");
  EXPECT_EQ(r["content_type"], "text/plain");
  EXPECT_EQ(r["charset"], "utf-8");
  EXPECT_EQ(r["defects"], json::array());
  std::string body = r["body"].get<std::string>();
  EXPECT_TRUE(contains(body, "デモ家計簿アプリ")) << body;
  EXPECT_TRUE(contains(body, "ミレ信用組合")) << body;
  fs::remove_all(dir);
}

TEST_F(MailStoreTest, SmtpServerDownIsRetriedNotLost) {
  fs::path dir = fresh_dir("smtp_down");
  int port = free_port();  // nobody listens yet
  std::int64_t id = enqueue_one();
  MailWorker worker(*app_, make_smtp_transport("smtp://127.0.0.1:" + std::to_string(port)));
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(worker.run_once(), 0);
  ::testing::internal::GetCapturedStderr();
  MailRecord m = mail(id);
  EXPECT_EQ(m.state, MailState::pending);
  EXPECT_EQ(m.attempts, 1);
  EXPECT_TRUE(contains(m.last_error, "smtp")) << m.last_error;
  EXPECT_EQ(m.next_attempt_at, kNow + 30);

  SmtpSink sink(port, dir);
  ASSERT_TRUE(sink.ready());
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(worker.run_once(), 0);  // not due yet
  clock_->advance(30);
  EXPECT_EQ(worker.run_once(), 1);
  ::testing::internal::GetCapturedStderr();
  m = mail(id);
  EXPECT_EQ(m.state, MailState::sent);
  EXPECT_EQ(m.attempts, 2);
  auto received = sink.wait_for(1);
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0]["subject"], "API連携認証完了のお知らせ");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace renkei::server

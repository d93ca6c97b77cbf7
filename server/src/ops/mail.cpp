// The result mail: composed in the flow's completing transaction (outbox
// pattern), delivered later by MailWorker through a MailTransport. A mail that
// cannot be delivered is retried with backoff and finally marked failed; the
// customer's flow never depends on it.
#include "ops/mail.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "renkei/fields.h"
#include "renkei/forms.h"
#include "renkei/time.h"

namespace renkei::server {
namespace {

constexpr const char* kSubject = "API連携認証完了のお知らせ";
constexpr UnixSeconds kFirstBackoffSeconds = 30;
constexpr UnixSeconds kMaxBackoffSeconds = 3600;
// A mail taken by a worker is not due again for this long (another worker or
// server instance must not send it twice while the first is still trying).
constexpr UnixSeconds kClaimSeconds = 300;
constexpr int kBatch = 20;
// The worker also looks for due mail this often without being woken (retries).
constexpr std::chrono::seconds kPollInterval{5};

std::string jst_text(UnixSeconds t) {
  JstDateTime d = to_jst(t);
  char buf[128];
  std::snprintf(buf, sizeof buf, "%d年%d月%d日 %02d時%02d分", d.date.year, d.date.month, d.date.day,
                d.hour, d.minute);
  return buf;
}

// "***0026": all but the last 4 digits hidden.
std::string mask_account_number(const std::string& number) {
  if (number.size() <= 4) return std::string(number.size(), '*');
  return std::string(number.size() - 4, '*') + number.substr(number.size() - 4);
}

// Header values come from configuration and validated input; still, no CR/LF
// may ever reach a header line.
std::string header_safe(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != '\r' && c != '\n') out += c;
  }
  return out;
}

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// RFC 2047 B-encoded words of at most 75 characters, split on UTF-8 character
// boundaries, folded onto continuation lines.
std::string encode_header_words(std::string_view text) {
  if (is_ascii(text)) return std::string(text);
  constexpr std::size_t kMaxChunk = 45;  // 45 bytes → 60 base64 chars + 12 = 72
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = std::min(text.size(), pos + kMaxChunk);
    while (end < text.size() && end > pos &&
           (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
      --end;  // do not cut a character
    }
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64(text.substr(pos, end - pos)) + "?=";
    pos = end;
  }
  return out;
}

// RFC 5322 date-time in JST.
std::string rfc5322_date(UnixSeconds t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  JstDateTime d = to_jst(t);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s, %d %s %04d %02d:%02d:%02d +0900", kDays[d.weekday],
                d.date.day, kMonths[d.date.month - 1], d.date.year, d.hour, d.minute, d.second);
  return buf;
}

std::string domain_of(const std::string& address) {
  auto at = address.rfind('@');
  return at == std::string::npos ? std::string("renkei.invalid") : address.substr(at + 1);
}

// ---------- transports ----------

class MaildirTransport final : public MailTransport {
 public:
  explicit MaildirTransport(std::string dir) : dir_(std::move(dir)) {}

  bool send(const MailRecord& mail, const std::string& from, std::string* error) override {
    if (dir_.empty()) return fail(error, "maildir: no folder configured");
    namespace fs = std::filesystem;
    std::error_code ec;
    for (const char* sub : {"tmp", "new", "cur"}) {
      fs::create_directories(fs::path(dir_) / sub, ec);
      if (ec) return fail(error, "maildir: cannot create " + dir_ + ": " + ec.message());
    }
    std::string name = unique_name();
    fs::path tmp = fs::path(dir_) / "tmp" / name;
    fs::path dest = fs::path(dir_) / "new" / name;
    std::string text = render_rfc5322(mail, from, mail.created_at);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return fail(error, std::string("maildir: open: ") + std::strerror(errno));
    std::size_t done = 0;
    while (done < text.size()) {
      ssize_t n = ::write(fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fd);
        ::unlink(tmp.c_str());
        return fail(error, std::string("maildir: write: ") + std::strerror(errno));
      }
      done += static_cast<std::size_t>(n);
    }
    bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (!synced || ::rename(tmp.c_str(), dest.c_str()) != 0) {
      ::unlink(tmp.c_str());
      return fail(error, std::string("maildir: deliver: ") + std::strerror(errno));
    }
    return true;
  }

  // The file's fsync made its content durable, but a rename is an entry of
  // the directory: until new/ is synced, a power loss can take the mail back
  // to tmp/ (or lose it) although the outbox already says sent.
  bool make_durable(std::string* error) override {
    const std::string dir = (std::filesystem::path(dir_) / "new").string();
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fail(error, std::string("maildir: open new/: ") + std::strerror(errno));
    const bool synced = ::fsync(fd) == 0;
    const int saved = errno;
    ::close(fd);
    if (!synced) return fail(error, std::string("maildir: sync new/: ") + std::strerror(saved));
    return true;
  }

 private:
  static bool fail(std::string* error, std::string message) {
    if (error) *error = std::move(message);
    return false;
  }
  // time.M<usec>P<pid>Q<counter>.<host>: unique per process and delivery.
  std::string unique_name() {
    auto now = std::chrono::system_clock::now().time_since_epoch();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
    char host[256] = "localhost";
    ::gethostname(host, sizeof host - 1);
    std::string h;
    for (const char* p = host; *p; ++p) h += (*p == '/' || *p == ':') ? '_' : *p;
    return std::to_string(us / 1000000) + ".M" + std::to_string(us % 1000000) + "P" +
           std::to_string(::getpid()) + "Q" + std::to_string(++counter_) + "." + h;
  }
  std::string dir_;
  std::atomic<std::uint64_t> counter_{0};
};

struct UploadSource {
  std::string_view data;
  std::size_t pos = 0;
};

std::size_t read_upload(char* buffer, std::size_t size, std::size_t nitems, void* userp) {
  auto* src = static_cast<UploadSource*>(userp);
  std::size_t n = std::min(size * nitems, src->data.size() - src->pos);
  std::memcpy(buffer, src->data.data() + src->pos, n);
  src->pos += n;
  return n;
}

class SmtpTransport final : public MailTransport {
 public:
  explicit SmtpTransport(std::string url) : url_(std::move(url)) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  }

  bool send(const MailRecord& mail, const std::string& from, std::string* error) override {
    std::string text = render_rfc5322(mail, from, mail.created_at);
    CURL* curl = curl_easy_init();
    if (!curl) {
      if (error) *error = "smtp: curl_easy_init failed";
      return false;
    }
    UploadSource src{text};
    std::string mail_from = "<" + header_safe(from) + ">";
    curl_slist* rcpt = curl_slist_append(nullptr, ("<" + header_safe(mail.to) + ">").c_str());
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, mail_from.c_str());
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_upload);
    curl_easy_setopt(curl, CURLOPT_READDATA, &src);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(text.size()));
    // STARTTLS when the server offers it (smtps:// is TLS from the start).
    curl_easy_setopt(curl, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_TRY));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // worker thread: no SIGALRM
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) {
      if (error) *error = std::string("smtp: ") + (errbuf[0] ? errbuf : curl_easy_strerror(rc));
      return false;
    }
    return true;
  }

 private:
  std::string url_;
};

void log_line(const std::string& text) {
  std::string line = "renkei: mail: " + text + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace

void enqueue_result_mail(MailOutboxRepository& tx, const App& app, const FlowRecord& flow,
                         const std::string& client_display_name, UnixSeconds now) {
  const FlowState& s = flow.state;
  if (s.email.empty()) return;  // nothing to send to (cannot happen after ②)
  const ServerConfig& c = app.config();
  const InstitutionProfile& p = c.profile;
  UnixSeconds until = now + static_cast<UnixSeconds>(c.authorization_days) * kSecondsPerDay;

  std::string account;
  if (s.account) {
    account = "店番 " + s.account->branch + " " +
              std::string(account_type_label_ja(s.account->type)) + " 口座番号 " +
              mask_account_number(s.account->number);
  }
  std::string body;
  if (!s.name_kana.empty()) body += s.name_kana + " 様\n\n";
  body += p.name + "をご利用いただき、ありがとうございます。\n\n";
  body += "以下の内容で、API連携認証が完了しましたのでお知らせいたします。\n\n";
  body += "■連携先アプリ：" + client_display_name + "\n";
  if (!account.empty()) body += "■対象口座：" + account + "\n";
  body += "■許可した内容：口座情報・明細情報へのアクセス\n";
  body +=
      "■認可期間：" + std::to_string(c.authorization_days) + "日（" + jst_text(until) + "まで）\n";
  body += "■認証日時：" + jst_text(now) + "\n\n";
  body += "認可期間が過ぎると、アプリから口座情報を参照するには、再度API連携認証が必要です。\n";
  body +=
      "お心当たりのない場合や、連携を停止したい場合は、下記のお問い合わせ先までご連絡下さい。\n\n";
  body += p.name + "\n";
  if (!p.contact_phone.empty()) {
    body += "お問い合わせ先：" + p.contact_phone;
    if (!p.contact_hours.empty()) body += "（" + p.contact_hours + "）";
    body += "\n";
  }
  body += "\n※このメールは送信専用です。ご返信いただいてもお答えできません。\n";

  MailRecord m;
  m.to = s.email;
  m.subject = kSubject;
  m.body = std::move(body);
  m.flow_id = flow.flow_id;
  m.created_at = now;
  m.next_attempt_at = now;
  m.state = MailState::pending;
  tx.enqueue_mail(m);
}

std::string render_rfc5322(const MailRecord& mail, const std::string& from, UnixSeconds now) {
  std::string body = mail.body;
  // Canonical CRLF line ends inside the encoded body.
  std::string crlf;
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r')) crlf += '\r';
    crlf += body[i];
  }
  std::string encoded = base64(crlf);
  std::string out;
  out += "Date: " + rfc5322_date(now) + "\r\n";
  out += "From: " + header_safe(from) + "\r\n";
  out += "To: " + header_safe(mail.to) + "\r\n";
  out += "Subject: " + encode_header_words(header_safe(mail.subject)) + "\r\n";
  // Stable per mail: a retried delivery is the same message.
  out += "Message-ID: <renkei-mail-" + std::to_string(mail.id) + "-" +
         std::to_string(mail.created_at) + "@" + header_safe(domain_of(from)) + ">\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=UTF-8\r\n";
  out += "Content-Transfer-Encoding: base64\r\n";
  out += "\r\n";
  for (std::size_t i = 0; i < encoded.size(); i += 76) {
    out += encoded.substr(i, 76) + "\r\n";
  }
  return out;
}

std::unique_ptr<MailTransport> make_maildir_transport(const std::string& dir) {
  return std::make_unique<MaildirTransport>(dir);
}

std::unique_ptr<MailTransport> make_smtp_transport(const std::string& url) {
  return std::make_unique<SmtpTransport>(url);
}

std::unique_ptr<MailTransport> make_transport(const ServerConfig& config) {
  if (config.mail_transport == "smtp") return make_smtp_transport(config.smtp_url);
  return make_maildir_transport(config.maildir);
}

// ---------- MailWorker ----------

MailWorker::MailWorker(App& app, std::unique_ptr<MailTransport> transport)
    : app_(app), transport_(std::move(transport)) {}

MailWorker::~MailWorker() {
  stop();
}

void MailWorker::start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = false;
  }
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
      woken_ = false;
      lock.unlock();
      try {
        run_once();
      } catch (const std::exception& e) {
        log_line(std::string("worker: ") + e.what());
      }
      lock.lock();
      cv_.wait_for(lock, kPollInterval, [this] { return stopping_ || woken_; });
    }
  });
}

void MailWorker::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MailWorker::wake() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    woken_ = true;
  }
  cv_.notify_all();
}

int MailWorker::run_once() {
  const ServerConfig& config = app_.config();
  const UnixSeconds now = app_.now();
  // Claim what is due (one transaction), then deliver outside any transaction:
  // the store's single writer is never held during network I/O.
  // A failed claim throws (StorageError, after with_transaction's retries of
  // conflicts): the worker's loop logs it and tries again later.
  const std::vector<MailRecord> due =
      with_transaction(app_.store(), TxMode::read_write, [&](StoreTx& tx) {
        std::vector<MailRecord> claimed = tx.due_mails(now, kBatch);
        for (const MailRecord& m : claimed) {
          MailRecord c = m;
          c.next_attempt_at = now + kClaimSeconds;
          tx.update_mail(c);
        }
        return claimed;
      });
  if (due.empty()) return 0;
  // One mail at a time: delivered, made durable, recorded. (Recording a
  // batch's outcomes in one transaction, after one sync of new/, was tried:
  // 1.2 times the server CPU per flow in scripts/bench-cpu-ab.sh, the
  // maildir's file operations, inode allocation above all, taking about 2.5
  // times as long; a sync of new/ per mail costs nothing measurable.)
  int sent = 0;
  for (MailRecord m : due) {
    std::string error;
    bool ok = false;
    try {
      // Nothing is recorded as sent before its delivery is durable.
      ok = transport_->send(m, config.mail_from, &error) && transport_->make_durable(&error);
    } catch (const std::exception& e) {
      error = e.what();
    }
    const UnixSeconds done = app_.now();
    m.attempts += 1;
    if (ok) {
      m.state = MailState::sent;
      m.sent_at = done;
      m.last_error.clear();
      ++sent;
      log_line("mail " + std::to_string(m.id) + " sent");
    } else {
      m.last_error = error.substr(0, 300);
      if (m.attempts >= config.mail_max_attempts) {
        m.state = MailState::failed;
        log_line("mail " + std::to_string(m.id) + " failed after " + std::to_string(m.attempts) +
                 " attempts: " + m.last_error);
      } else {
        // 30 s, 60 s, 120 s … capped at 1 h.
        UnixSeconds backoff = kFirstBackoffSeconds;
        for (int i = 1; i < m.attempts && backoff < kMaxBackoffSeconds; ++i) backoff *= 2;
        backoff = std::min(backoff, kMaxBackoffSeconds);
        m.next_attempt_at = done + backoff;
        m.state = MailState::pending;
        log_line("mail " + std::to_string(m.id) + " attempt " + std::to_string(m.attempts) +
                 " failed, retry in " + std::to_string(backoff) + " s: " + m.last_error);
      }
    }
    try {
      with_transaction(app_.store(), TxMode::read_write,
                       [&](MailOutboxRepository& outbox) { outbox.update_mail(m); });
    } catch (const StorageError& e) {
      // The mail stays claimed until kClaimSeconds pass, then is attempted
      // again: a sent mail may go out twice, but none is lost.
      log_line("mail " + std::to_string(m.id) + ": its state could not be stored: " + e.what());
    }
  }
  return sent;
}

}  // namespace renkei::server

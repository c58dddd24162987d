#include "kubeapi/http_server.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <deque>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "berth/log.h"

namespace berth::kubeapi {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string HttpRequest::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

std::string HttpRequest::Query(const std::string& key, const std::string& fallback) const {
  auto it = query.find(key);
  return it == query.end() ? fallback : it->second;
}

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = absl::ascii_tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string UrlDecode(absl::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && HexValue(in[i + 1]) >= 0 && HexValue(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(in[i + 1]) * 16 + HexValue(in[i + 2])));
      i += 2;
    } else if (plus_is_space && in[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

// An SSL_CTX that asks for (but does not require) a client certificate, rebuilt when the TLS
// files change so a rotated certificate needs no restart.
class ServerTls {
 public:
  ServerTls(TlsFiles files, std::string front_proxy_ca)
      : files_(std::move(files)), front_proxy_ca_file_(std::move(front_proxy_ca)) {}

  absl::StatusOr<std::shared_ptr<asio::ssl::context>> Get() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    absl::Time now = absl::Now();
    if (ctx_ && now - checked_ < absl::Seconds(files_.reload_seconds)) return ctx_;
    checked_ = now;
    std::string stamp = Stamp();
    if (ctx_ && stamp == stamp_) return ctx_;
    auto built = Build();
    if (!built.ok()) {
      if (ctx_) return ctx_;  // keep serving with the previous pair (a half-rotated one)
      return built.status();
    }
    ctx_ = *std::move(built);
    stamp_ = stamp;
    return ctx_;
  }

  // Whether `cert` was issued by the front-proxy CA (signature checked).
  bool IsFrontProxy(X509* cert) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    if (!front_proxy_ca_) return false;
    EVP_PKEY* key = X509_get0_pubkey(front_proxy_ca_.get());
    return key && X509_check_issued(front_proxy_ca_.get(), cert) == X509_V_OK &&
           X509_verify(cert, key) == 1;
  }

 private:
  std::string Stamp() const {
    std::string out;
    for (const std::string& f : {files_.ca, files_.cert, files_.key, front_proxy_ca_file_}) {
      struct stat st {};
      if (!f.empty() && ::stat(f.c_str(), &st) == 0) {
        absl::StrAppend(&out, st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".",
                        st.st_mtim.tv_nsec, ";");
      }
    }
    return out;
  }

  absl::StatusOr<std::shared_ptr<asio::ssl::context>> Build() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    boost::system::error_code ec;
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1);
    if (ctx->use_certificate_chain_file(files_.cert, ec); ec) {
      return absl::InvalidArgumentError(absl::StrCat(files_.cert, ": ", ec.message()));
    }
    if (ctx->use_private_key_file(files_.key, asio::ssl::context::pem, ec); ec) {
      return absl::InvalidArgumentError(absl::StrCat(files_.key, ": ", ec.message()));
    }
    if (ctx->load_verify_file(files_.ca, ec); ec) {
      return absl::InvalidArgumentError(absl::StrCat(files_.ca, ": ", ec.message()));
    }
    front_proxy_ca_.reset();
    if (!front_proxy_ca_file_.empty()) {
      if (ctx->load_verify_file(front_proxy_ca_file_, ec); ec) {
        return absl::InvalidArgumentError(absl::StrCat(front_proxy_ca_file_, ": ", ec.message()));
      }
      FILE* f = std::fopen(front_proxy_ca_file_.c_str(), "r");
      if (f) {
        front_proxy_ca_.reset(PEM_read_X509(f, nullptr, nullptr, nullptr));
        std::fclose(f);
      }
      if (!front_proxy_ca_) {
        return absl::InvalidArgumentError(
            absl::StrCat(front_proxy_ca_file_, ": not a PEM certificate"));
      }
    }
    // Ask for a certificate; a client without one still connects (bearer tokens, browsers).
    ctx->set_verify_mode(asio::ssl::verify_peer);
    SSL_CTX_set_session_id_context(ctx->native_handle(),
                                   reinterpret_cast<const unsigned char*>("berth-kube-api"), 14);
    return ctx;
  }

  struct X509Free {
    void operator()(X509* x) const { X509_free(x); }
  };
  const TlsFiles files_;
  const std::string front_proxy_ca_file_;
  absl::Mutex mu_;
  std::shared_ptr<asio::ssl::context> ctx_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<X509, X509Free> front_proxy_ca_ ABSL_GUARDED_BY(mu_);
  std::string stamp_ ABSL_GUARDED_BY(mu_);
  absl::Time checked_ ABSL_GUARDED_BY(mu_);
};

std::optional<PeerCert> PeerCertOf(SSL* ssl, ServerTls& tls) {
  X509* cert = SSL_get_peer_certificate(ssl);
  if (!cert) return std::nullopt;
  PeerCert out;
  X509_NAME* subject = X509_get_subject_name(cert);
  for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0;) {
    ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
    out.subject_cn.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                          ASN1_STRING_length(s));
  }
  for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_organizationName, i)) >= 0;) {
    ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
    out.subject_o.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                               ASN1_STRING_length(s));
  }
  out.front_proxy = tls.IsFrontProxy(cert);
  X509_free(cert);
  return out;
}

}  // namespace

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options, HttpHandler handler)
      : options_(std::move(options)), handler_(std::move(handler)) {
    work_.emplace(asio::make_work_guard(ioc_));
    if (options_.tls) tls_.emplace(*options_.tls, options_.front_proxy_ca_file);
  }

  absl::Status Start();
  void Stop();
  void Accept(int fd);

  HttpServerOptions options_;
  HttpHandler handler_;
  std::optional<ServerTls> tls_;
  std::vector<std::thread> threads_;
  std::unique_ptr<net::Listener> listener_;
  std::atomic<size_t> streams_{0};
  // Last, so it is destroyed first: the sessions its pending handlers own go while the members
  // above (which they use) still exist.
  asio::io_context ioc_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
};

namespace {

// One connection: reads requests one after another (keep-alive) and writes each reply; a
// The bytes a stream's producer has queued but the client has not yet taken: emit blocks above
// `limit` (downloads), so a slow client slows the producer instead of filling memory.
class Flow {
 public:
  size_t limit = 0;  // 0: never block
  // Accounts for n more bytes, first waiting for room; false once the session is closed.
  bool Take(size_t n) {
    absl::MutexLock l(&mu_);
    if (limit > 0) {
      auto room = [this] { return closed_ || queued_ <= limit; };
      mu_.Await(absl::Condition(&room));
    }
    if (closed_) return false;
    queued_ += n;
    return true;
  }
  void Give(size_t n) {
    absl::MutexLock l(&mu_);
    queued_ -= std::min(n, queued_);
  }
  void Close() {
    absl::MutexLock l(&mu_);
    closed_ = true;
  }

 private:
  absl::Mutex mu_;
  size_t queued_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

// Stream reply turns the connection into a chunked stream until it ends.
template <class AsyncStream>
class Session : public std::enable_shared_from_this<Session<AsyncStream>> {
 public:
  Session(HttpServer::Impl& server, AsyncStream stream, std::string peer_ip)
      : server_(server),
        stream_(std::move(stream)),
        peer_ip_(std::move(peer_ip)),
        timer_(stream_.get_executor()) {}

  ~Session() {
    if (watch_) server_.streams_--;
  }

  void Run(std::optional<PeerCert> cert) {
    cert_ = std::move(cert);
    ReadRequest();
  }

  AsyncStream& stream() { return stream_; }

 private:
  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }

  void ReadRequest() {
    parser_.emplace();
    parser_->body_limit(server_.options_.max_body_bytes);
    parser_->header_limit(64 << 10);
    Tcp().expires_after(
        std::chrono::milliseconds(absl::ToInt64Milliseconds(server_.options_.idle_timeout)));
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, this->shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t) {
    if (ec == http::error::body_limit) {
      HttpResponse r{413,
                     "application/json",
                     absl::StrCat("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                                  "\"status\":\"Failure\",\"message\":\"Request entity too large: "
                                  "limit is ",
                                  server_.options_.max_body_bytes,
                                  "\",\"reason\":\"RequestEntityTooLarge\",\"code\":413}"),
                     {}};
      return Write(std::move(r), /*keep_alive=*/false);
    }
    if (ec) return Close();
    HttpRequest req = ToRequest(parser_->get());
    bool keep_alive = parser_->get().keep_alive();
    HttpReply reply = server_.handler_(req);
    if (auto* resp = std::get_if<HttpResponse>(&reply)) {
      return Write(std::move(*resp), keep_alive, req.method == "HEAD");
    }
    StartStream(std::move(std::get<std::unique_ptr<Stream>>(reply)));
  }

  HttpRequest ToRequest(http::request<http::string_body>& in) {
    HttpRequest r;
    r.method = std::string(in.method_string());
    r.target = std::string(in.target());
    absl::string_view target(in.target().data(), in.target().size());
    size_t q = target.find('?');
    r.path = UrlDecode(target.substr(0, q), false);
    if (q != absl::string_view::npos) {
      for (absl::string_view kv : absl::StrSplit(target.substr(q + 1), '&', absl::SkipEmpty())) {
        size_t eq = kv.find('=');
        std::string key = UrlDecode(kv.substr(0, eq), true);
        r.query[key] = eq == absl::string_view::npos ? "" : UrlDecode(kv.substr(eq + 1), true);
      }
    }
    for (const auto& field : in) {
      r.headers.emplace(absl::AsciiStrToLower(std::string(field.name_string())),
                        std::string(field.value()));
    }
    r.body = std::move(in.body());
    r.peer_ip = peer_ip_;
    r.cert = cert_;
    return r;
  }

  // `head`: the reply to a HEAD request, whose headers are those of the GET (Content-Length
  // too) without the body.
  void Write(HttpResponse r, bool keep_alive, bool head = false) {
    auto res =
        std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.code), 11);
    res->set(http::field::content_type, r.content_type);
    res->set(http::field::cache_control, "no-cache, private");
    for (auto& [k, v] : r.headers) res->set(k, v);
    res->keep_alive(keep_alive);
    if (r.code == 304 || r.code == 204) {
      // No body and no Content-Length (RFC 9110 8.6): a 304's would have to be the GET's.
    } else if (head) {
      res->content_length(r.body.size());
    } else {
      res->body() = std::move(r.body);
      res->prepare_payload();
    }
    Tcp().expires_after(std::chrono::seconds(60));
    http::async_write(
        stream_, *res,
        [self = this->shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
          if (ec || !keep_alive) return self->Close();
          self->ReadRequest();
        });
  }

  void StartStream(std::unique_ptr<Stream> watch) {
    watch_ = std::move(watch);
    server_.streams_++;
    flow_ = std::make_shared<Flow>();
    flow_->limit = watch_->block_above_bytes;
    header_.emplace(static_cast<http::status>(watch_->code), 11);
    header_->set(http::field::content_type, watch_->content_type);
    header_->set(http::field::cache_control, "no-cache, private");
    for (const auto& [name, value] : watch_->headers) header_->set(name, value);
    if (watch_->content_length) {
      header_->content_length(*watch_->content_length);
    } else {
      header_->chunked(true);
    }
    header_->keep_alive(false);
    serializer_.emplace(*header_);
    Tcp().expires_after(std::chrono::seconds(60));
    writing_ = true;
    http::async_write_header(stream_, *serializer_,
                             [self = this->shared_from_this()](beast::error_code ec, size_t) {
                               self->writing_ = false;
                               if (ec) return self->Close();
                               self->Tcp().expires_never();
                               self->WatchForHangUp();
                               self->ArmTimers(self->watch_->heartbeat);
                               std::weak_ptr<Session> weak = self;
                               auto exec = self->stream_.get_executor();
                               std::shared_ptr<Flow> flow = self->flow_;
                               self->watch_->Start(
                                   [weak, exec, flow](std::string chunk) {
                                     if (!flow->Take(chunk.size())) return;
                                     asio::post(exec, [weak, chunk = std::move(chunk)]() mutable {
                                       if (auto s = weak.lock()) s->Enqueue(std::move(chunk));
                                     });
                                   },
                                   [weak, exec] {
                                     asio::post(exec, [weak] {
                                       if (auto s = weak.lock()) s->EndStream();
                                     });
                                   });
                               self->Flush();
                             });
    deadline_ = absl::Now() + watch_->timeout;
  }

  // A watch client sends nothing more; a read that completes means it went away.
  void WatchForHangUp() {
    stream_.async_read_some(asio::buffer(scratch_),
                            [self = this->shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->Close();
                              self->WatchForHangUp();
                            });
  }

  void ArmTimers(absl::Duration heartbeat) {
    absl::Duration next = std::min(heartbeat, deadline_ - absl::Now());
    timer_.expires_after(
        std::chrono::milliseconds(std::max<int64_t>(1, absl::ToInt64Milliseconds(next))));
    timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      if (absl::Now() >= self->deadline_) return self->EndStream();
      if (std::string beat = self->watch_->Heartbeat(); !beat.empty()) {
        self->Enqueue(std::move(beat));
      }
      self->ArmTimers(self->watch_->heartbeat);
    });
  }

  void Enqueue(std::string chunk) {
    if (closed_ || ending_) return;
    if (queue_.size() >= watch_->max_queued) {
      berth::log::Warning("kube-api: dropping a watch that does not read",
                          {{"peer", peer_ip_}, {"queued", std::to_string(queue_.size())}});
      return Close();
    }
    queue_.push_back(std::move(chunk));
    Flush();
  }

  void EndStream() {
    if (closed_ || ending_) return;
    ending_ = true;
    Flush();
  }

  void Flush() {
    if (writing_ || closed_ || !serializer_) return;
    if (queue_.empty()) {
      if (!ending_) return;
      if (watch_->content_length) return Close();  // a plain body has no last chunk
      writing_ = true;
      Tcp().expires_after(std::chrono::seconds(30));
      asio::async_write(stream_, http::make_chunk_last(),
                        [self = this->shared_from_this()](beast::error_code, size_t) {
                          self->writing_ = false;
                          self->Close();
                        });
      return;
    }
    auto data = std::make_shared<std::string>(std::move(queue_.front()));
    queue_.pop_front();
    writing_ = true;
    // A client that stops reading for this long is dropped.
    Tcp().expires_after(std::chrono::seconds(60));
    auto done = [self = this->shared_from_this(), data](beast::error_code ec, size_t) {
      self->writing_ = false;
      self->flow_->Give(data->size());
      if (ec) return self->Close();
      self->Tcp().expires_never();
      self->Flush();
    };
    if (watch_->content_length) {
      asio::async_write(stream_, asio::buffer(*data), std::move(done));
    } else {
      asio::async_write(stream_, http::make_chunk(asio::buffer(*data)), std::move(done));
    }
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    if (flow_) flow_->Close();  // a producer blocked in emit returns before the stream goes
    timer_.cancel();
    watch_.reset();  // unsubscribes
    beast::error_code ec;
    Tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
    Tcp().close();
  }

  HttpServer::Impl& server_;
  AsyncStream stream_;
  std::string peer_ip_;
  asio::steady_timer timer_;
  std::optional<PeerCert> cert_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  // Streaming state, touched only on the session's strand.
  std::unique_ptr<Stream> watch_;
  std::shared_ptr<Flow> flow_;
  std::optional<http::response<http::empty_body>> header_;
  std::optional<http::response_serializer<http::empty_body>> serializer_;
  std::deque<std::string> queue_;
  bool writing_ = false;
  bool ending_ = false;
  bool closed_ = false;
  absl::Time deadline_;
  char scratch_[256];
};

}  // namespace

void HttpServer::Impl::Accept(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  tcp protocol = ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4();
  std::string peer = net::PeerIp(fd);
  tcp::socket socket(asio::make_strand(ioc_));
  boost::system::error_code ec;
  socket.assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  socket.set_option(tcp::no_delay(true), ec);
  beast::tcp_stream tcp_stream(std::move(socket));
  if (!tls_) {
    auto s = std::make_shared<Session<beast::tcp_stream>>(*this, std::move(tcp_stream), peer);
    asio::dispatch(s->stream().get_executor(), [s] { s->Run(std::nullopt); });
    return;
  }
  auto ctx = tls_->Get();
  if (!ctx.ok()) {
    berth::log::Warning("kube-api: no TLS context",
                        {{"error", std::string(ctx.status().message())}});
    return;  // tcp_stream closes the socket
  }
  using Tls = beast::ssl_stream<beast::tcp_stream>;
  auto s = std::make_shared<Session<Tls>>(*this, Tls(std::move(tcp_stream), **ctx), peer);
  // The context must outlive the SSL object the stream holds: SSL_new took a reference.
  asio::dispatch(s->stream().get_executor(), [this, s] {
    beast::get_lowest_layer(s->stream()).expires_after(std::chrono::seconds(10));
    s->stream().async_handshake(asio::ssl::stream_base::server, [this, s](beast::error_code ec) {
      if (ec) return;
      s->Run(PeerCertOf(s->stream().native_handle(), *tls_));
    });
  });
}

absl::Status HttpServer::Impl::Start() {
  if (tls_) {
    if (auto ctx = tls_->Get(); !ctx.ok()) return ctx.status();
  }
  net::ListenerConfig config = options_.listener;
  config.wait_client_hello = options_.tls.has_value();
  auto listener = net::Listener::HandOffTo(config, [this](int fd) { Accept(fd); });
  if (!listener.ok()) return listener.status();
  listener_ = *std::move(listener);
  for (int i = 0; i < std::max(1, options_.threads); ++i) {
    threads_.emplace_back([this] { ioc_.run(); });
  }
  return absl::OkStatus();
}

void HttpServer::Impl::Stop() {
  listener_.reset();
  work_.reset();
  ioc_.stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options,
                                                              HttpHandler handler) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler));
  if (absl::Status s = impl->Start(); !s.ok()) return s;
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { impl_->Stop(); }
std::string HttpServer::address() const { return impl_->listener_->address(); }
int HttpServer::port() const { return impl_->listener_->port(); }
size_t HttpServer::open_streams() const { return impl_->streams_.load(); }

}  // namespace berth::kubeapi

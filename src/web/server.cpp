// errand::WebServer: errand::Web served over HTTP by cpp-httplib, on a thread of its own, and
// the check that keeps it off other machines' reach unless a token or basic auth guards it.
#include <errand/error.hpp>
#include <errand/web.hpp>

#include <fmt/format.h>
#include <httplib.h>

#include <arpa/inet.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <thread>

namespace errand {

namespace {

// Bodies larger than this are refused (413) before they are read whole.
constexpr std::size_t kMaxBody = 1 << 20;

struct Address {
  std::string host;
  int port = 0;
};

Address parse_listen(std::string_view listen) {
  const auto bad = [&] {
    return ConfigError(fmt::format(
        "errand web: cannot listen on \"{}\": give HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080",
        listen.substr(0, 200)));
  };
  Address address;
  std::string_view port;
  if (listen.starts_with('[')) {
    const std::size_t close = listen.find("]:");
    if (close == std::string_view::npos) throw bad();
    address.host = std::string(listen.substr(1, close - 1));
    port = listen.substr(close + 2);
  } else {
    const std::size_t colon = listen.rfind(':');
    if (colon == std::string_view::npos || listen.find(':') != colon) throw bad();
    address.host = std::string(listen.substr(0, colon));
    port = listen.substr(colon + 1);
  }
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), address.port);
  if (address.host.empty() || port.empty() || error != std::errc() ||
      end != port.data() + port.size() || address.port < 0 || address.port > 65535) {
    throw bad();
  }
  return address;
}

WebRequest to_web_request(const httplib::Request& req) {
  WebRequest request;
  request.method = req.method;
  request.path = req.path;
  for (const auto& [key, value] : req.params)
    request.query.emplace_back(key, value);
  for (const auto& [key, value] : req.headers)
    request.headers.emplace_back(key, value);
  request.body = req.body;
  request.remote = req.remote_addr;
  return request;
}

}  // namespace

bool is_loopback_host(std::string_view host) {
  if (host == "localhost") return true;
  const std::string text(host);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

struct WebServer::Impl {
  std::unique_ptr<Web> web;
  Address address;
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> listen_returned{false};
  int port = 0;
};

WebServer::WebServer(std::shared_ptr<Store> store, WebOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->address = parse_listen(options.listen);
  if (!is_loopback_host(impl_->address.host) && options.token.empty() &&
      options.basic_user.empty()) {
    throw ConfigError(fmt::format(
        "errand web: refusing to listen on {}, which other machines can reach, without an access "
        "token or basic auth (WebOptions::token, basic_user and basic_password; errand web: "
        "$ERRAND_WEB_TOKEN or --token-file, --basic-user with $ERRAND_WEB_PASSWORD), or "
        "listen on 127.0.0.1",
        options.listen));
  }
  impl_->web = std::make_unique<Web>(std::move(store), std::move(options));
}

WebServer::~WebServer() {
  stop();
}

void WebServer::start() {
  if (impl_->thread.joinable()) return;
  httplib::Server& server = impl_->server;
  server.set_payload_max_length(kMaxBody);
  server.set_read_timeout(10, 0);
  server.set_write_timeout(10, 0);
  const auto handler = [web = impl_->web.get()](const httplib::Request& req,
                                                httplib::Response& res) {
    const WebResponse response = web->handle(to_web_request(req));
    res.status = response.status;
    for (const auto& [key, value] : response.headers)
      res.set_header(key, value);
    res.set_content(response.body, response.content_type);
  };
  server.Get(".*", handler);
  server.Post(".*", handler);
  server.Put(".*", handler);
  server.Patch(".*", handler);
  server.Delete(".*", handler);
  server.Options(".*", handler);
  const Address& a = impl_->address;
  const bool bound = a.port == 0 ? (impl_->port = server.bind_to_any_port(a.host)) > 0
                                 : server.bind_to_port(a.host, a.port);
  if (!bound) {
    throw Error(
        fmt::format("errand web: cannot listen on {}: the address is in use or not this "
                    "machine's",
                    impl_->web->options().listen));
  }
  if (a.port != 0) impl_->port = a.port;
  impl_->listen_returned = false;
  impl_->thread = std::thread([impl = impl_.get()] {
    impl->server.listen_after_bind();
    impl->listen_returned = true;
  });
}

void WebServer::stop() {
  if (!impl_->thread.joinable()) return;
  // cpp-httplib's stop() acts only on a server in its accept loop (and once: it closes the
  // socket): one called before the thread got there would leave it in accept() for good. So it
  // waits for the loop, stops it once, and waits for the thread (which is running already: the
  // wait lasts until the scheduler lets it reach the loop).
  bool stopped = false;
  while (!impl_->listen_returned) {
    if (!stopped && impl_->server.is_running()) {
      impl_->server.stop();
      stopped = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  impl_->thread.join();
}

int WebServer::port() const {
  return impl_->port;
}

std::string WebServer::url() const {
  const std::string& host = impl_->address.host;
  return fmt::format("http://{}:{}{}",
                     host.find(':') != std::string::npos ? "[" + host + "]" : host, impl_->port,
                     impl_->web->options().base_path);
}

}  // namespace errand

#pragma once
// HTTP/1.1 header fields as the gateway handles them: a reusable store for one message's fields,
// the classification that decides which fields are end-to-end and which belong to one hop, and the
// serialisation of the request head sent to a backend.
//
// Pure code (no sockets, no Beast types), shared by the client side (proxy) and the upstream side.
// Nothing here allocates once the buffers have grown to the size of the largest message seen.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace kvroute::upstream {

/// Fields the gateway treats specially. Everything else is kOther and is forwarded as received.
enum class HeaderKind : std::uint8_t {
  kOther,
  kHost,
  kContentLength,
  kTransferEncoding,
  kConnection,
  kKeepAlive,
  kProxyConnection,
  kTe,
  kTrailer,
  kUpgrade,
  kExpect,
  kXForwardedFor,
  kXRequestId,
  kXSessionId,
  kContentType,
  kXKvrouteBackend,
};

/// The kind of a field name (ASCII case-insensitive). Any thread; no allocation.
HeaderKind classify_header(std::string_view name);

/// True for the fields that describe one connection rather than the message (RFC 9110 section 7.6.1
/// and the framing fields): Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
/// Transfer-Encoding, Upgrade. A proxy never forwards them; it sets its own.
bool is_hop_by_hop(HeaderKind kind);

/// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b);

/// True when the comma-separated token list `list` (a Connection value) contains `token`
/// (case-insensitive, surrounding whitespace ignored).
bool token_list_contains(std::string_view list, std::string_view token);

/// The fields of one HTTP message, in arrival order, with their kinds. Reused from message to
/// message: clear() keeps the capacity. Owned by one connection; not thread-safe.
class HeaderBlock {
 public:
  struct Field {
    std::string_view name;
    std::string_view value;
    HeaderKind kind = HeaderKind::kOther;
  };

  /// Forgets every field (capacity is kept).
  void clear();
  /// Appends a field (name and value are copied).
  void add(std::string_view name, std::string_view value) { add(name, value, classify_header(name)); }
  /// Appends a field whose kind the caller already knows (a parser that classified the name).
  void add(std::string_view name, std::string_view value, HeaderKind kind);

  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  /// The i-th field; views are valid until the next add() or clear(). Inline: the request path reads
  /// every field several times (forwarding, hop-by-hop checks).
  Field operator[](std::size_t i) const {
    const Entry& e = entries_[i];
    const char* base = storage_.data();
    return Field{std::string_view(base + e.name_offset, e.name_length),
                 std::string_view(base + e.value_offset, e.value_length), e.kind};
  }

  /// Value of the first field of `kind`, or nullopt.
  std::optional<std::string_view> get(HeaderKind kind) const;
  /// Value of the first field called `name` (case-insensitive), or nullopt.
  std::optional<std::string_view> get(std::string_view name) const;
  /// Whether some Connection field lists `name` as a token ("Connection: close, x-foo" makes x-foo
  /// hop-by-hop for this message).
  bool listed_in_connection(std::string_view name) const;
  /// Whether the field at index i must not be forwarded to the next hop: hop-by-hop by kind, or
  /// named by a Connection field.
  bool is_hop_field(std::size_t i) const;

 private:
  struct Entry {
    std::uint32_t name_offset;
    std::uint32_t name_length;
    std::uint32_t value_offset;
    std::uint32_t value_length;
    HeaderKind kind;
  };
  std::string storage_;
  std::vector<Entry> entries_;
  bool has_connection_ = false;
};

/// What build_upstream_request_head needs to write the head of the request sent to a backend.
struct UpstreamRequestHead {
  std::string_view method;                      ///< "POST"
  std::string_view base_path;                   ///< the backend's base path: "" or "/base" (no trailing slash)
  std::string_view target;                      ///< the client's request target ("/v1/chat/completions?x=1")
  std::string_view host;                        ///< Host value for the backend: "host:port"
  const HeaderBlock* client_headers = nullptr;  ///< the client's fields; may be null
  const config::HeaderRules* rules = nullptr;   ///< the pool's add/strip rules; may be null
  std::string_view client_address;              ///< appended to X-Forwarded-For; empty = leave it as received
  std::string_view request_id;                  ///< sent as x-request-id (replacing the client's); empty = none added
  std::optional<std::uint64_t> content_length;  ///< the body length sent; none = no body, no field
};

/// Appends the request line and header block ("...\r\n\r\n") to out. The client's end-to-end
/// fields are forwarded in order, except: hop-by-hop fields and those named by Connection, Host,
/// Content-Length, Expect (the gateway answered 100-continue itself and sends the whole body),
/// fields the pool strips, fields the pool adds (replaced by the pool's value), X-Forwarded-For
/// (re-emitted once with client_address appended) and x-request-id when request_id is given.
/// Then Host, X-Forwarded-For, x-request-id, the pool's added fields, Content-Length. Keep-alive is
/// HTTP/1.1's default, so no Connection field is sent. Any thread; no allocation beyond out's growth.
void append_upstream_request_head(const UpstreamRequestHead& head, std::string& out);

/// base_path + target, as the path sent upstream ("/llama" + "/v1/models" = "/llama/v1/models").
/// A target that is not origin-form ("*", an absolute URI) is returned unchanged after the base.
void append_upstream_target(std::string_view base_path, std::string_view target, std::string& out);

}  // namespace kvroute::upstream

#include "mmds/mmds_http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOKEN_PATH "/latest/api/token"

/* Firecracker's messages, which its tests and guests' tools look for. */
#define MSG_NO_TOKEN                                                           \
	"No MMDS token provided. Use `X-metadata-token` or "                   \
	"`X-aws-ec2-metadata-token` header to specify the session token."
#define MSG_BAD_TOKEN "MMDS token not valid."
#define MSG_NO_TTL                                                             \
	"Token time to live value not found. Use "                             \
	"`X-metadata-token-ttl-seconds` or "                                   \
	"`X-aws-ec2-metadata-token-ttl-seconds` header to specify the "        \
	"token's lifetime."
#define MSG_UNSUPPORTED                                                        \
	"Cannot retrieve value. The value has an unsupported type."

/* A piece of the request: not NUL-terminated, points into the request. */
struct span {
	const char *p;
	size_t len;
};

struct request {
	struct span method, uri, path;
	bool http10;
	bool close; /* Connection: close (1.1) / no keep-alive (1.0) */
	bool accept_json;
	bool has_body; /* Content-Length other than 0, Transfer-Encoding */
	struct span token; /* X-metadata-token / X-aws-ec2-metadata-token */
	bool has_token;
	struct span ttl_name, ttl; /* the TTL header as the guest wrote it */
	bool has_ttl;
	struct span forwarded_name; /* X-Forwarded-For */
	bool has_forwarded;
};

size_t mmds_http_request_end(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static bool span_is(struct span s, const char *text)
{
	return s.len == strlen(text) && !memcmp(s.p, text, s.len);
}

static bool span_is_nocase(struct span s, const char *text)
{
	return s.len == strlen(text) && !strncasecmp(s.p, text, s.len);
}

static bool span_contains_nocase(struct span s, const char *text)
{
	size_t n = strlen(text);

	for (size_t i = 0; i + n <= s.len; i++)
		if (!strncasecmp(s.p + i, text, n))
			return true;
	return false;
}

static struct span trim(struct span s)
{
	while (s.len && (s.p[0] == ' ' || s.p[0] == '\t')) {
		s.p++;
		s.len--;
	}
	while (s.len &&
	       (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t' ||
		s.p[s.len - 1] == '\r'))
		s.len--;
	return s;
}

/* The next line of [*at, end), without its "\r\n" or "\n". */
static struct span next_line(const char **at, const char *end)
{
	const char *nl = memchr(*at, '\n', (size_t)(end - *at));
	struct span line = {*at, (size_t)((nl ? nl : end) - *at)};

	*at = nl ? nl + 1 : end;
	if (line.len && line.p[line.len - 1] == '\r')
		line.len--;
	return line;
}

/* A method is an HTTP token of capital letters (RFC 9110 9.1 allows more;
 * Firecracker knows only these). */
static bool known_method(struct span m)
{
	static const char *const methods[] = {"GET",	 "PUT",	    "PATCH",
					      "POST",	 "DELETE",  "HEAD",
					      "OPTIONS", "CONNECT", "TRACE"};

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (span_is(m, methods[i]))
			return true;
	return false;
}

struct answer {
	unsigned status;
	const char *content_type;
	const char *body;
	size_t body_len;
	const char *extra_header; /* a whole "Name: value" line, or NULL */
};

static const char *reason(unsigned status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 501:
		return "Not Implemented";
	default:
		return "Internal Server Error";
	}
}

static int build(const struct answer *a, bool http10, bool close,
		 struct mmds_http_reply *reply)
{
	char head[512];
	int n = snprintf(
		head, sizeof(head),
		"HTTP/1.%d %u %s\r\nServer: tern MMDS\r\n"
		"Content-Type: %s\r\nContent-Length: %zu\r\n%s%s%s\r\n",
		http10 ? 0 : 1, a->status, reason(a->status), a->content_type,
		a->body_len, close ? "Connection: close\r\n" : "",
		a->extra_header ? a->extra_header : "",
		a->extra_header ? "\r\n" : "");

	if (n < 0 || (size_t)n >= sizeof(head))
		return -ENOMEM;
	reply->data = malloc((size_t)n + a->body_len);
	if (!reply->data)
		return -ENOMEM;
	memcpy(reply->data, head, (size_t)n);
	memcpy(reply->data + n, a->body, a->body_len);
	reply->len = (size_t)n + a->body_len;
	reply->status = a->status;
	reply->close = close;
	return 0;
}

static int plain(unsigned status, const char *text, bool http10, bool close,
		 struct mmds_http_reply *reply)
{
	struct answer a = {status, "text/plain", text, strlen(text), NULL};

	return build(&a, http10, close, reply);
}

/* A message with a piece of the guest's request in it. */
static int plainf(unsigned status, const struct request *r, bool close,
		  struct mmds_http_reply *reply, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int plainf(unsigned status, const struct request *r, bool close,
		  struct mmds_http_reply *reply, const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (ret < 0)
		return -ENOMEM;
	ret = plain(status, text, r->http10, close, reply);
	free(text);
	return ret;
}

static void take_header(struct request *r, struct span name, struct span value)
{
	if (span_is_nocase(name, "x-metadata-token") ||
	    span_is_nocase(name, "x-aws-ec2-metadata-token")) {
		r->token = value;
		r->has_token = true;
	} else if (span_is_nocase(name, "x-metadata-token-ttl-seconds") ||
		   span_is_nocase(name,
				  "x-aws-ec2-metadata-token-ttl-seconds")) {
		r->ttl_name = name;
		r->ttl = value;
		r->has_ttl = true;
	} else if (span_is_nocase(name, "x-forwarded-for")) {
		r->forwarded_name = name;
		r->has_forwarded = true;
	} else if (span_is_nocase(name, "accept")) {
		r->accept_json =
			span_contains_nocase(value, "application/json");
	} else if (span_is_nocase(name, "connection")) {
		if (span_contains_nocase(value, "close"))
			r->close = true;
		else if (span_contains_nocase(value, "keep-alive"))
			r->close = false;
	} else if (span_is_nocase(name, "content-length")) {
		for (size_t i = 0; i < value.len; i++)
			if (value.p[i] != '0')
				r->has_body = true;
	} else if (span_is_nocase(name, "transfer-encoding")) {
		r->has_body = true;
	}
}

/* Fills r from the request; on a malformed one writes the answer and
 * returns 1; 0 to go on; -ENOMEM. */
static int parse(const char *req, size_t len, struct request *r,
		 struct mmds_http_reply *reply)
{
	const char *at = req, *end = req + len, *sp1, *sp2;
	struct span line = next_line(&at, end), version;

	memset(r, 0, sizeof(*r));
	sp1 = memchr(line.p, ' ', line.len);
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(line.p + line.len - sp1 - 1))
		  : NULL;
	if (!sp1 || !sp2)
		return plain(400, "Invalid request.", false, true, reply) ?: 1;
	r->method = (struct span){line.p, (size_t)(sp1 - line.p)};
	r->uri = (struct span){sp1 + 1, (size_t)(sp2 - sp1 - 1)};
	version = (struct span){sp2 + 1, (size_t)(line.p + line.len - sp2 - 1)};
	if (span_is(version, "HTTP/1.0"))
		r->http10 = r->close = true;
	else if (!span_is(version, "HTTP/1.1"))
		return plain(501, "Unsupported HTTP version.", false, true,
			     reply)
			?: 1;
	if (!known_method(r->method))
		return plain(501, "Unsupported HTTP method.", r->http10, true,
			     reply)
			?: 1;
	if (r->uri.len == 0 || r->uri.p[0] != '/')
		return plain(400, "Invalid URI.", r->http10, true, reply) ?: 1;
	/* The query, if any, is not part of the key's path. */
	r->path = r->uri;
	for (size_t i = 0; i < r->uri.len; i++)
		if (r->uri.p[i] == '?') {
			r->path.len = i;
			break;
		}
	while (at < end) {
		const char *colon;

		line = next_line(&at, end);
		if (line.len == 0)
			break;
		colon = memchr(line.p, ':', line.len);
		if (!colon || colon == line.p)
			return plain(400, "Invalid header.", r->http10, true,
				     reply)
				?: 1;
		take_header(r, (struct span){line.p, (size_t)(colon - line.p)},
			    trim((struct span){
				    colon + 1,
				    (size_t)(line.p + line.len - colon - 1)}));
	}
	if (r->has_body)
		return plain(400, "Invalid request.", r->http10, true, reply)
			?: 1;
	return 0;
}

/* The path with "//" taken as "/", for comparing with the token path. */
static bool path_is_token_path(struct span path)
{
	char squeezed[sizeof(TOKEN_PATH) + 1];
	size_t n = 0;

	for (size_t i = 0; i < path.len; i++) {
		if (path.p[i] == '/' && n && squeezed[n - 1] == '/')
			continue;
		if (n == sizeof(squeezed) - 1)
			return false;
		squeezed[n++] = path.p[i];
	}
	squeezed[n] = '\0';
	return !strcmp(squeezed, TOKEN_PATH);
}

/* A TTL is decimal digits that fit 32 bits (Firecracker parses a u32);
 * anything else is "Invalid value". */
static bool parse_ttl(struct span s, uint32_t *ttl)
{
	uint64_t v = 0;

	if (s.len == 0 || s.len > 10)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s.p[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*ttl = (uint32_t)v;
	return true;
}

static int answer_put(struct mmds_store *store, const struct request *r,
		      uint64_t now_ms, struct mmds_http_reply *reply)
{
	char token[MMDS_TOKEN_SIZE], header[96];
	uint32_t ttl;
	struct answer a;

	if (r->has_forwarded)
		return plainf(400, r, r->close, reply,
			      "Invalid header. Reason: Unsupported header "
			      "name. Key: %.*s",
			      (int)r->forwarded_name.len, r->forwarded_name.p);
	if (!path_is_token_path(r->path))
		return plainf(404, r, r->close, reply,
			      "Resource not found: %.*s.", (int)r->uri.len,
			      r->uri.p);
	if (!r->has_ttl)
		return plain(400, MSG_NO_TTL, r->http10, r->close, reply);
	if (!parse_ttl(r->ttl, &ttl))
		return plainf(400, r, r->close, reply,
			      "Invalid value. Key:%.*s; Value:%.*s",
			      (int)r->ttl_name.len, r->ttl_name.p,
			      (int)r->ttl.len, r->ttl.p);
	if (ttl < MMDS_TOKEN_TTL_MIN || ttl > MMDS_TOKEN_TTL_MAX)
		return plainf(400, r, r->close, reply,
			      "Invalid time to live value provided for "
			      "token: %u. Please provide a value between %d "
			      "and %d.",
			      ttl, MMDS_TOKEN_TTL_MIN, MMDS_TOKEN_TTL_MAX);
	/* A store no VM prepared has no key: no token is made with a zero
	 * one (vm.c prepares every store a guest can reach). */
	if (!store->tokens_ready)
		return plainf(500, r, r->close, reply,
			      "MMDS tokens are not available.");
	mmds_token_issue(&store->token_key, ttl, now_ms, token);
	/* The TTL header comes back as the guest named it (IMDS does so). */
	snprintf(header, sizeof(header), "%.*s: %u",
		 (int)(r->ttl_name.len < 64 ? r->ttl_name.len : 64),
		 r->ttl_name.p, ttl);
	a = (struct answer){200, "text/plain", token, MMDS_TOKEN_LEN, header};
	return build(&a, r->http10, r->close, reply);
}

static int answer_get(struct mmds_store *store, const struct request *r,
		      uint64_t now_ms, struct mmds_http_reply *reply)
{
	bool valid = r->has_token && store->tokens_ready &&
		mmds_token_valid(&store->token_key, r->token.p, r->token.len,
				 now_ms);
	enum mmds_lookup found;
	struct answer a;
	bool is_json;
	char *body;
	size_t len;
	int ret;

	if (!r->has_token)
		atomic_fetch_add(&store->rx_no_token, 1);
	else if (!valid)
		atomic_fetch_add(&store->rx_invalid_token, 1);
	/* V1 counts what V2 would refuse, so users can see whether their
	 * guests are ready for V2, and answers anyway. */
	if (!valid && mmds_store_version(store) == MMDS_V2)
		return plain(401, r->has_token ? MSG_BAD_TOKEN : MSG_NO_TOKEN,
			     r->http10, r->close, reply);
	found = mmds_store_render(store, r->path.p, r->path.len, r->accept_json,
				  &body, &len, &is_json);
	switch (found) {
	case MMDS_FOUND:
		break;
	case MMDS_NOT_FOUND:
		return plainf(404, r, r->close, reply,
			      "Resource not found: %.*s.", (int)r->uri.len,
			      r->uri.p);
	case MMDS_UNSUPPORTED:
		return plain(501, MSG_UNSUPPORTED, r->http10, r->close, reply);
	default:
		return -ENOMEM;
	}
	a = (struct answer){200, is_json ? "application/json" : "text/plain",
			    body, len, NULL};
	ret = build(&a, r->http10, r->close, reply);
	free(body);
	return ret;
}

int mmds_http_answer(struct mmds_store *store, const uint8_t *req, size_t len,
		     uint64_t now_ms, struct mmds_http_reply *reply)
{
	struct request r;
	int ret;

	memset(reply, 0, sizeof(*reply));
	ret = parse((const char *)req, len, &r, reply);
	if (ret)
		return ret < 0 ? ret : 0;
	if (span_is(r.method, "GET"))
		return answer_get(store, &r, now_ms, reply);
	if (span_is(r.method, "PUT"))
		return answer_put(store, &r, now_ms, reply);
	{
		struct answer a = {
			405, "text/plain", "Not allowed HTTP method.",
			strlen("Not allowed HTTP method."), "Allow: GET, PUT"};

		return build(&a, r.http10, r.close, reply);
	}
}

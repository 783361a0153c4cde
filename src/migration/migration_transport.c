#include "migration/migration_transport.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "migration/migration_tls.h"
#include "migration/migration_wire.h"

void migration_transport_config_free(struct migration_transport_config *c)
{
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->psk_file);
	memset(c, 0, sizeof(*c));
}

static int copy_string(char **dst, const char *src)
{
	*dst = NULL;
	if (src && !(*dst = strdup(src)))
		return -ENOMEM;
	return 0;
}

int migration_transport_config_copy(
	struct migration_transport_config *dst,
	const struct migration_transport_config *src, struct tern_error *err)
{
	memset(dst, 0, sizeof(*dst));
	dst->insecure_plain_tcp = src->insecure_plain_tcp;
	if (copy_string(&dst->ca_file, src->ca_file) ||
	    copy_string(&dst->cert_file, src->cert_file) ||
	    copy_string(&dst->key_file, src->key_file) ||
	    copy_string(&dst->psk_file, src->psk_file)) {
		migration_transport_config_free(dst);
		return tern_error_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

int migration_transport_given(const struct migration_transport_config *c)
{
	return c->insecure_plain_tcp || c->ca_file || c->cert_file ||
		c->key_file || c->psk_file;
}

int migration_transport_parse_tls(const char *option_name, const char *text,
				  struct migration_transport_config *c,
				  struct tern_error *err)
{
	static const char *const keys[] = {"ca=", "cert=", "key=", "psk="};
	char **fields[] = {&c->ca_file, &c->cert_file, &c->key_file,
			   &c->psk_file};
	const char *p = text;

	for (size_t k = 0; k < 4; k++) {
		free(*fields[k]);
		*fields[k] = NULL;
	}
	while (*p) {
		size_t len = strcspn(p, ","), k;

		for (k = 0; k < 4; k++)
			if (!strncmp(p, keys[k], strlen(keys[k])) &&
			    len > strlen(keys[k]))
				break;
		if (k == 4)
			return tern_error_set(err, EINVAL,
					      "%s '%.*s': use ca=FILE,cert="
					      "FILE,key=FILE or psk=FILE",
					      option_name, (int)len, p);
		if (*fields[k])
			return tern_error_set(
				err, EINVAL, "%s: %.*s given twice",
				option_name, (int)strlen(keys[k]) - 1, keys[k]);
		*fields[k] =
			strndup(p + strlen(keys[k]), len - strlen(keys[k]));
		if (!*fields[k])
			return tern_error_set(err, ENOMEM, "out of memory");
		p += len;
		if (*p == ',')
			p++;
	}
	return migration_transport_check(c, option_name, "--insecure-plain-tcp",
					 err);
}

int migration_transport_check(const struct migration_transport_config *c,
			      const char *tls_name, const char *plain_name,
			      struct tern_error *err)
{
	int certs = !!c->ca_file + !!c->cert_file + !!c->key_file;

	if (c->insecure_plain_tcp && (certs || c->psk_file))
		return tern_error_set(err, EINVAL,
				      "%s and %s exclude each other", tls_name,
				      plain_name);
	if (c->insecure_plain_tcp)
		return 0;
	if (!certs && !c->psk_file)
		return tern_error_set(
			err, EINVAL,
			"migration needs TLS: give %s (certificates or a "
			"pre-shared key), or %s to send the guest's memory "
			"unencrypted and unauthenticated",
			tls_name, plain_name);
	if (certs && c->psk_file)
		return tern_error_set(err, EINVAL,
				      "%s: certificates or a pre-shared key, "
				      "not both",
				      tls_name);
	if (certs && certs < 3)
		return tern_error_set(err, EINVAL,
				      "%s: certificates need the CA, this "
				      "tern's certificate and its key (%s is "
				      "missing)",
				      tls_name,
				      !c->ca_file ? "the CA file"
					      : !c->cert_file
					      ? "the certificate file"
					      : "the key file");
	return 0;
}

/* Numeric addresses never reach the name service (NSS): a static tern in
 * a jail has neither its modules nor its configuration. */
static int resolve(const char *address, int passive, char *host,
		   size_t host_size, struct addrinfo **out,
		   struct tern_error *err)
{
	char port[16];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV |
					 (passive ? AI_PASSIVE : 0)};
	int ret = migration_parse_address(address, host, host_size, port,
					  sizeof(port), err);

	if (ret)
		return ret;
	ret = getaddrinfo(host[0] ? host : NULL, port, &hints, out);
	if (ret == EAI_NONAME) {
		hints.ai_flags &= ~AI_NUMERICHOST;
		ret = getaddrinfo(host[0] ? host : NULL, port, &hints, out);
	}
	if (ret)
		return tern_error_set(err, EINVAL, "migration address %s: %s",
				      address, gai_strerror(ret));
	return 0;
}

static int connect_tcp(const char *address, char *host, size_t host_size,
		       struct tern_error *err)
{
	struct addrinfo *ai, *p;
	int fd = -1, one = 1,
	    ret = resolve(address, 0, host, host_size, &ai, err);

	if (ret)
		return ret;
	ret = -ECONNREFUSED;
	for (p = ai; p; p = p->ai_next) {
		fd = socket(p->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			ret = -errno;
			continue;
		}
		if (!connect(fd, p->ai_addr, p->ai_addrlen))
			break;
		ret = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return tern_error_set(err, -ret,
				      "cannot connect to the migration "
				      "destination %s: %s",
				      address, strerror(-ret));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int migration_transport_connect(const char *address,
				const struct migration_transport_config *c,
				struct migration_stream **out,
				struct tern_error *err)
{
	struct migration_tls *tls = NULL;
	char host[256];
	int fd,
		ret = migration_transport_check(c, "tls", "insecure_plain_tcp",
						err);

	if (!ret && !c->insecure_plain_tcp)
		ret = migration_tls_new(c, 0, &tls, err);
	if (ret)
		return ret;
	fd = connect_tcp(address, host, sizeof(host), err);
	if (fd < 0) {
		migration_tls_free(tls);
		return fd;
	}
	if (tls) {
		ret = migration_tls_start(tls, fd, host, out, err);
		migration_tls_free(tls);
		return ret;
	}
	ret = migration_stream_plain(fd, out);
	if (ret)
		return tern_error_set(err, -ret, "out of memory");
	migration_stream_set_timeouts(*out, MIGRATION_STALL_TIMEOUT_S,
				      MIGRATION_STALL_TIMEOUT_S);
	return 0;
}

struct migration_listener {
	int fd;
	struct migration_tls *tls; /* NULL: plain TCP */
};

int migration_listener_open(const char *address,
			    const struct migration_transport_config *c,
			    struct migration_listener **out,
			    struct tern_error *err)
{
	struct migration_listener *l;
	struct addrinfo *ai;
	char host[256];
	int one = 1,
	    ret = migration_transport_check(c, "--migration-tls",
					    "--insecure-plain-tcp", err);

	if (ret)
		return ret;
	l = calloc(1, sizeof(*l));
	if (!l)
		return tern_error_set(err, ENOMEM, "out of memory");
	l->fd = -1;
	if (!c->insecure_plain_tcp)
		ret = migration_tls_new(c, 1, &l->tls, err);
	if (!ret)
		ret = resolve(address, 1, host, sizeof(host), &ai, err);
	if (ret) {
		migration_listener_close(l);
		return ret;
	}
	l->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		ret = -errno;
	} else {
		setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(l->fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
		    listen(l->fd, 1) < 0)
			ret = -errno;
	}
	freeaddrinfo(ai);
	if (ret) {
		migration_listener_close(l);
		return tern_error_set(err, -ret, "cannot listen on %s: %s",
				      address, strerror(-ret));
	}
	*out = l;
	return 0;
}

int migration_listener_fd(const struct migration_listener *l)
{
	return l->fd;
}

int migration_listener_accept(struct migration_listener *l,
			      struct migration_stream **out,
			      struct tern_error *err)
{
	int ret, fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return tern_error_set(err, errno, "accept: %s",
				      strerror(errno));
	if (l->tls)
		return migration_tls_start(l->tls, fd, NULL, out, err);
	ret = migration_stream_plain(fd, out);
	if (ret)
		return tern_error_set(err, -ret, "out of memory");
	migration_stream_set_timeouts(*out, MIGRATION_STALL_TIMEOUT_S,
				      MIGRATION_STALL_TIMEOUT_S);
	return 0;
}

void migration_listener_close(struct migration_listener *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	migration_tls_free(l->tls);
	free(l);
}

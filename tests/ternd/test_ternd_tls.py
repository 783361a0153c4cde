#!/usr/bin/python3
"""ternd's API over TLS for other hosts (ternd --listen, ternctl -c
tls://HOST:PORT): certificates made by scripts/ternd-tls-certs as a user
would; a VM defined, started, listed and destroyed over TLS while the Unix
socket keeps working beside it; IPv6; every client that must be refused
(no certificate, another CA's, expired, revoked, a DN not allowed, plain
HTTP) refused in the handshake with nothing done and the reason in ternd's
log; a server whose certificate names another host or comes from another CA
refused by ternctl; bad options refused with clear messages.

Only the life cycle test starts a VM (it needs /dev/kvm); the others need
none. TERND=build/asan/ternd TERNCTL=build/asan/ternctl runs the same tests
against the sanitizer build."""
import json
import os
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tap import skip, test  # noqa: E402
from ternd_host import main, GUEST, ROOT, TERN, TERNCTL, TERND, WORK, Host, wait_until  # noqa: E402

CERTS_SCRIPT = os.path.join(ROOT, "scripts", "ternd-tls-certs")
PKI = os.path.join(WORK, "pki")
CA, OTHER_CA = os.path.join(PKI, "ca"), os.path.join(PKI, "other-ca")
SERVER, CLIENT = os.path.join(PKI, "server"), os.path.join(PKI, "client")


def certs(*args):
    result = subprocess.run([CERTS_SCRIPT] + list(args), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def make_pki():
    certs("ca", "--dir", CA)
    certs("ca", "--dir", OTHER_CA, "--cn", "someone else's CA")
    certs("server", "--dir", CA, "--out-dir", SERVER, "localhost", "127.0.0.1", "::1")
    certs("server", "--dir", CA, "--out-dir", SERVER, "--name", "elsewhere", "ternd.example")
    certs("server", "--dir", OTHER_CA, "--out-dir", os.path.join(PKI, "server-other"), "127.0.0.1")
    certs("client", "--dir", CA, "--out-dir", CLIENT, "admin")
    certs("client", "--dir", CA, "--out-dir", CLIENT, "--name", "operator", "operator")
    certs("client", "--dir", CA, "--out-dir", CLIENT, "--name", "expired", "--days", "-1", "old")
    certs("client", "--dir", CA, "--out-dir", CLIENT, "--name", "revoked", "gone")
    certs("client", "--dir", OTHER_CA, "--out-dir", os.path.join(PKI, "client-other"), "admin")
    certs("revoke", "--dir", CA, os.path.join(CLIENT, "revoked-cert.pem"))


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(family) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def server_args(listen, name="server", ca_dir=CA, extra=()):
    return ["--listen", listen,
            "--tls-cert", os.path.join(SERVER, f"{name}-cert.pem"),
            "--tls-key", os.path.join(SERVER, f"{name}-key.pem"),
            "--tls-ca", os.path.join(ca_dir, "ca-cert.pem"),
            "--log-level", "debug"] + list(extra)


def remote(h, uri, *args, client="client", client_dir=CLIENT, ca=None, check=None):
    """ternctl -c uri with the client files named by options."""
    cmd = [TERNCTL, "-c", uri,
           "--tls-cert", os.path.join(client_dir, f"{client}-cert.pem"),
           "--tls-key", os.path.join(client_dir, f"{client}-key.pem"),
           "--tls-ca", ca or os.path.join(CLIENT, "ca-cert.pem")] + list(args)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=90,
                            stdin=subprocess.DEVNULL)
    if check is not None:
        assert result.returncode == check, \
            f"{' '.join(cmd)}: status {result.returncode}, stdout {result.stdout!r}, " \
            f"stderr {result.stderr!r}"
    return result


def refused(h, uri, *args, words=(), **kw):
    result = remote(h, uri, *args, check=1, **kw)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ternctl: "), result.stderr
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    return lines[0]


def start_tls(h, args, listen):
    """Starts ternd and waits for its TLS listener too (it opens after the
    Unix socket that Host.start waits for)."""
    h.start(args=args)
    wait_until(lambda: f"listening on {listen} (TLS" in h.stderr(), what="the TLS listener")
    return h


def tls_host(listen, **kw):
    return start_tls(Host(), server_args(listen, **kw), listen)


@test
def a_vm_is_defined_started_listed_and_destroyed_over_tls():
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        skip("no usable /dev/kvm (tests/run runs this suite in the test host)")
    port = free_port()
    uri = f"tls://localhost:{port}"
    with tls_host(f"127.0.0.1:{port}") as h:
        doc = {"boot-source": {"kernel_image_path": GUEST},
               "machine-config": {"vcpu_count": 1, "mem_size_mib": 64}}
        path = os.path.join(h.dir, "web.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        out = remote(h, uri, "define", "web", path, check=0).stdout
        assert out == f"VM 'web' defined from {path}\n", out
        assert remote(h, uri, "start", "web", check=0).stdout == "VM 'web' started\n"
        vms = json.loads(remote(h, uri, "list", "--json", check=0).stdout)["vms"]
        assert [(v["name"], v["state"]) for v in vms] == [("web", "running")], vms
        # The Unix socket serves beside the TLS port, the same VMs.
        assert h.listing()["web"]["state"] == "running"
        info = json.loads(remote(h, f"https://127.0.0.1:{port}", "info", "web", "--json",
                                 check=0).stdout)
        assert info["state"] == "running" and info["pid"] > 0, info
        remote(h, uri, "destroy", "web", check=0)
        assert h.listing("--all")["web"]["state"] == "shut off"
        remote(h, uri, "undefine", "web", check=0)
        assert h.listing("--all") == {}
        # Who did it: each request's client DN at debug level.
        log = h.stderr()
        assert "api client dn=CN=admin address=127.0.0.1:" in log, log[-2000:]
        assert "path=/v1/vms/web/start status=200" in log
        h.stop()


@test
def the_unix_socket_and_tls_serve_side_by_side():
    port = free_port()
    with tls_host(f"127.0.0.1:{port}") as h:
        h.ok("vol-create", "local", "1M")
        out = remote(h, f"tls://127.0.0.1:{port}", "vol-create", "remote", "1M", check=0).stdout
        assert out == "Volume 'remote' created (1M)\n", out
        assert h.ok("vol-list", "--name") == "local\nremote\n"
        names = remote(h, f"tls://localhost:{port}", "vol-list", "--name", check=0).stdout
        assert names == "local\nremote\n", names
        # The files' default places: $TERNCTL_TLS_*, then ~/.pki/ternctl.
        home = os.path.join(h.dir, "home")
        os.makedirs(os.path.join(home, ".pki"))
        os.symlink(CLIENT, os.path.join(home, ".pki", "ternctl"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("TERNCTL_TLS_")}
        result = subprocess.run([TERNCTL, "-c", f"tls://localhost:{port}", "vol-list", "--name"],
                                capture_output=True, text=True, timeout=30,
                                env=dict(env, HOME=home))
        assert (result.returncode, result.stdout) == (0, "local\nremote\n"), result
        result = subprocess.run([TERNCTL, "vol-list", "--name"], capture_output=True, text=True,
                                timeout=30, env=dict(
                                    env, HOME="/nonexistent", TERND_SOCKET=f"tls://localhost:{port}",
                                    TERNCTL_TLS_CERT=os.path.join(CLIENT, "operator-cert.pem"),
                                    TERNCTL_TLS_KEY=os.path.join(CLIENT, "operator-key.pem"),
                                    TERNCTL_TLS_CA=os.path.join(CLIENT, "ca-cert.pem")))
        assert (result.returncode, result.stdout) == (0, "local\nremote\n"), result
        assert "api client dn=CN=operator" in h.stderr()
        h.stop()


def tls_context(client="client"):
    context = ssl.create_default_context(cafile=os.path.join(CLIENT, "ca-cert.pem"))
    context.load_cert_chain(os.path.join(CLIENT, f"{client}-cert.pem"),
                            os.path.join(CLIENT, f"{client}-key.pem"))
    return context


def tls_get(port, path, timeout=30):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with tls_context().wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), data
    return json.loads(body)


@test
def a_long_poll_over_tls_is_woken_by_a_change_on_the_unix_socket():
    import threading
    port = free_port()
    with tls_host(f"127.0.0.1:{port}") as h:
        last = tls_get(port, "/v1/events")["last_id"]
        answer = {}

        def poll():
            started = time.monotonic()
            answer["doc"] = tls_get(port, f"/v1/events?since={last}&wait=20")
            answer["took"] = time.monotonic() - started

        waiter = threading.Thread(target=poll)
        waiter.start()
        time.sleep(1)
        # Served while the TLS long poll waits, which it then answers.
        h.ok("vol-create", "woke", "1M")
        waiter.join(timeout=30)
        events = answer["doc"]["events"]
        assert [(e["object"], e["name"], e["kind"]) for e in events] == \
            [("volume", "woke", "created")], events
        assert answer["took"] < 10, answer["took"]
        # One waiting when ternd stops does not keep it from stopping.
        def poll_until_stopped():
            try:
                tls_get(port, "/v1/events?since=1000&wait=25")
            except (AssertionError, OSError):
                pass  # closed by the stopping ternd, without an answer

        waiter = threading.Thread(target=poll_until_stopped)
        waiter.start()
        time.sleep(1)
        started = time.monotonic()
        h.stop()
        assert time.monotonic() - started < 10
        waiter.join(timeout=30)


@test
def ipv6_literal_listen_and_connect():
    if not has_ipv6_loopback():
        skip("no IPv6 on the loopback interface")
    port = free_port(socket.AF_INET6, "::1")
    with tls_host(f"[::1]:{port}") as h:
        assert f"listening on [::1]:{port} (TLS" in h.stderr()
        out = remote(h, f"tls://[::1]:{port}", "vol-create", "six", "1M", check=0).stdout
        assert out == "Volume 'six' created (1M)\n"
        assert "address=[::1]:" in h.stderr()
        h.stop()


def raw_tls_exchange(port, context):
    """One request over TLS with Python's client; returns the bytes the
    server answered (b'' when it closed), or raises the SSL error."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"PUT /v1/volumes/sneaky HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 22\r\n"
                      b"Connection: close\r\n\r\n{\"capacity\": 1048576}\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    return data
                data += chunk


@test
def clients_without_a_valid_certificate_are_refused_in_the_handshake():
    port = free_port()
    uri = f"tls://localhost:{port}"
    with tls_host(f"127.0.0.1:{port}", extra=["--tls-crl", os.path.join(CA, "ca-crl.pem")]) as h:
        # No certificate at all (Python's client: ternctl always sends one).
        context = ssl.create_default_context(cafile=os.path.join(CLIENT, "ca-cert.pem"))
        try:
            answer = raw_tls_exchange(port, context)
        except (ssl.SSLError, ConnectionError) as e:
            answer = repr(e).encode()
        assert b"HTTP/" not in answer, answer
        # In TLS 1.2 the client's handshake completes only after the
        # server's checks: it is the handshake that fails.
        context12 = ssl.create_default_context(cafile=os.path.join(CLIENT, "ca-cert.pem"))
        context12.maximum_version = ssl.TLSVersion.TLSv1_2
        try:
            raw_tls_exchange(port, context12)
            assert False, "a TLS 1.2 handshake without a client certificate completed"
        except (ssl.SSLError, ConnectionError):
            pass
        context12.load_cert_chain(os.path.join(PKI, "client-other", "client-cert.pem"),
                                  os.path.join(PKI, "client-other", "client-key.pem"))
        try:
            raw_tls_exchange(port, context12)
            assert False, "a TLS 1.2 handshake with another CA's certificate completed"
        except ssl.SSLError as e:
            assert "BAD_CERTIFICATE" in str(e), e
        # The same client with a certificate is served: the refusal above
        # was the missing certificate.
        context.load_cert_chain(os.path.join(CLIENT, "client-cert.pem"),
                                os.path.join(CLIENT, "client-key.pem"))
        answer = raw_tls_exchange(port, context)
        assert answer.startswith(b"HTTP/1.1 201"), answer
        h.ok("vol-delete", "sneaky")

        other = refused(h, uri, "vol-create", "x1", "1M", client_dir=os.path.join(PKI, "client-other"),
                        words=("refused our client certificate",))
        assert "bad certificate" in other, other
        refused(h, uri, "vol-create", "x2", "1M", client="expired",
                words=("refused our client certificate", "expired-cert.pem"))
        refused(h, uri, "vol-create", "x3", "1M", client="revoked",
                words=("refused our client certificate",))
        # A certificate the CA signed for a server (extended key usage
        # serverAuth only) is no client's.
        refused(h, uri, "vol-create", "x4", "1M", client="server", client_dir=SERVER,
                words=("refused our client certificate",))
        # Nothing was done for any of them.
        assert h.ok("vol-list", "--name") == ""
        log = h.stderr()
        assert "closed without a client certificate" in log, log[-3000:]
        assert "CN=admin: The certificate is NOT trusted. The certificate issuer is unknown." in log
        assert "CN=old: The certificate is NOT trusted. The certificate chain uses expired certificate." in log
        assert "CN=gone: The certificate is NOT trusted. The certificate chain is revoked." in log
        assert "CN=localhost: The certificate is NOT trusted. The certificate chain does not match " \
            "the intended purpose." in log
        h.stop()


@test
def plain_http_to_the_tls_port_gets_no_answer():
    port = free_port()
    with tls_host(f"127.0.0.1:{port}") as h:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"PUT /v1/volumes/plain HTTP/1.1\r\nHost: x\r\nContent-Length: 22\r\n"
                      b"Connection: close\r\n\r\n{\"capacity\": 1048576}\n")
            data = b""
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except ConnectionResetError:
                pass
        assert b"HTTP/" not in data and b"capacity" not in data, data
        assert h.ok("vol-list", "--name") == ""
        # ternd goes on serving.
        remote(h, f"tls://localhost:{port}", "vol-list", check=0)
        h.stop()


@test
def idle_connections_to_the_tls_port_never_lock_out_the_unix_socket():
    port = free_port()
    uri = f"tls://localhost:{port}"
    with tls_host(f"127.0.0.1:{port}") as h:
        idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(16)]
        try:
            # One address holds at most 16: the 17th is closed at once.
            extra = socket.create_connection(("127.0.0.1", port), timeout=10)
            with extra:
                extra.settimeout(10)
                assert extra.recv(1) == b""
            line = refused(h, uri, "vol-list", words=("closed the connection in the TLS handshake",
                                                      "too many connections"))
            # The host's own socket is not the TLS port's.
            assert h.ok("vol-create", "still", "1M") == "Volume 'still' created (1M)\n"
        finally:
            for s in idle:
                s.close()
        wait_until(lambda: remote(h, uri, "vol-list", "--name").returncode == 0,
                   what="the TLS port serving again")
        assert remote(h, uri, "vol-list", "--name", check=0).stdout == "still\n", line
        h.stop()


@test
def only_the_allowed_dns_get_in():
    port = free_port()
    uri = f"tls://localhost:{port}"
    with tls_host(f"127.0.0.1:{port}", extra=["--tls-allow-dn", "CN=adm*",
                                              "--tls-allow-dn", "CN=nobody"]) as h:
        remote(h, uri, "vol-create", "ok", "1M", check=0)
        refused(h, uri, "vol-create", "no", "1M", client="operator",
                words=("refused our client certificate",))
        assert h.ok("vol-list", "--name") == "ok\n"
        assert "CN=operator: its DN matches no --tls-allow-dn" in h.stderr()
        h.stop()


@test
def ternctl_refuses_a_server_it_cannot_trust():
    port = free_port()
    with tls_host(f"127.0.0.1:{port}", name="elsewhere") as h:
        # Its certificate names ternd.example, not the address used.
        line = refused(h, f"tls://127.0.0.1:{port}", "vol-create", "a", "1M",
                       words=("is not trusted", "mismatch"))
        assert "IP address mismatch" in line, line
        line = refused(h, f"tls://localhost:{port}", "vol-list", words=("hostname mismatch",))
        assert h.ok("vol-list", "--name") == ""
        h.stop()
    port = free_port()
    h = Host()
    with h:
        start_tls(h, ["--listen", f"127.0.0.1:{port}",
                      "--tls-cert", os.path.join(PKI, "server-other", "server-cert.pem"),
                      "--tls-key", os.path.join(PKI, "server-other", "server-key.pem"),
                      "--tls-ca", os.path.join(CA, "ca-cert.pem")], f"127.0.0.1:{port}")
        refused(h, f"tls://127.0.0.1:{port}", "vol-list",
                words=("is not trusted", "unable to get local issuer certificate"))
        h.stop()


def ternd_fails(args, status, words):
    h = Host()
    result = subprocess.run([TERND, "--foreground", "--state-dir", h.state, "--socket", h.sock,
                             "--tern", TERN] + args, capture_output=True, text=True, timeout=30,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == status, (args, result.returncode, result.stderr)
    for word in words:
        assert word in result.stderr, f"{word!r} not in {result.stderr!r}"
    assert not os.path.exists(h.sock), "a refused ternd left its socket"
    return result.stderr


@test
def bad_options_are_refused_with_clear_messages():
    cert, key = os.path.join(SERVER, "server-cert.pem"), os.path.join(SERVER, "server-key.pem")
    ca = os.path.join(CA, "ca-cert.pem")
    files = ["--tls-cert", cert, "--tls-key", key, "--tls-ca", ca]
    # Usage errors (status 2): never plain TCP, files without --listen,
    # addresses that are not HOST:PORT literals.
    ternd_fails(["--listen", "127.0.0.1:16514"], 2, ["--listen needs --tls-cert, --tls-key and --tls-ca",
                                                     "never serves plain TCP"])
    ternd_fails(["--listen", "127.0.0.1:16514", "--tls-cert", cert, "--tls-key", key], 2,
                ["--listen needs"])
    ternd_fails(files, 2, ["belong to --listen"])
    for address, why in [("127.0.0.1", "no port"), ("localhost:16514", "not an IPv4 address"),
                         ("::1:16514", "an IPv6 address goes in brackets"),
                         ("[::1:16514", "no ']'"), ("127.0.0.1:0", "not 1 to 65535"),
                         ("127.0.0.1:70000", "not 1 to 65535"), ("[1.2.3.4]:80", "not an IPv6 address"),
                         ("300.1.1.1:80", "not an IPv4 address")]:
        ternd_fails(["--listen", address] + files, 2, [f"--listen '{address}'", why])
    # Start-up errors (status 1): the files, the address.
    port = free_port()
    listen = ["--listen", f"127.0.0.1:{port}"]
    ternd_fails(listen + ["--tls-cert", cert, "--tls-key", "/nonexistent/key.pem", "--tls-ca", ca], 1,
                ["--tls-key /nonexistent/key.pem: No such file or directory"])
    ternd_fails(listen + ["--tls-cert", cert, "--tls-key", PKI, "--tls-ca", ca], 1,
                [f"--tls-key {PKI}: not a regular file"])
    ternd_fails(listen + ["--tls-cert", cert, "--tls-key", os.path.join(CLIENT, "client-key.pem"),
                          "--tls-ca", ca], 1, ["--tls-cert", "--tls-key", "client-key.pem"])
    not_pem = os.path.join(WORK, "not-a-pem")
    with open(not_pem, "w") as f:
        f.write("hello\n")
    ternd_fails(listen + ["--tls-cert", cert, "--tls-key", key, "--tls-ca", not_pem], 1,
                [f"--tls-ca {not_pem}: not a PEM file"])
    ternd_fails(listen + files + ["--tls-crl", os.path.join(OTHER_CA, "ca-cert.pem")], 1,
                ["--tls-crl"])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        taken = busy.getsockname()[1]
        ternd_fails(["--listen", f"127.0.0.1:{taken}"] + files, 1,
                    [f"--listen 127.0.0.1:{taken}: Address already in use"])
    # ternctl: TLS files belong to tls://.
    result = subprocess.run([TERNCTL, "-c", "/run/x.sock", "--tls-cert", cert, "list"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "belong to -c tls://HOST:PORT" in result.stderr, result
    result = subprocess.run([TERNCTL, "-c", "tls://127.0.0.1", "list"], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 1 and "no port" in result.stderr, result
    result = subprocess.run([TERNCTL, "-c", f"tls://127.0.0.1:{port}", "--tls-cert", "/nonexistent.pem",
                             "--tls-ca", ca, "list"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and \
        "the client certificate /nonexistent.pem: No such file or directory" in result.stderr, result


MAN = os.path.join(ROOT, "docs", "man")


def man_text(page):
    out = subprocess.run(["man", "--warnings", "-l", os.path.join(MAN, page)],
                         capture_output=True, text=True,
                         env=dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8"))
    assert out.returncode == 0 and not out.stderr.strip(), (page, out.stderr)
    text = out.stdout.replace("\u2010", "-").replace("\u2011", "-")
    return text.replace("-\n", "").replace("\u2010\n", "")


def complete(words, socket_path="/nonexistent.sock"):
    """What bash completion offers for `ternctl WORDS...` (the last word is
    the one at the cursor), with this build's ternctl first in PATH."""
    script = os.path.join(ROOT, "scripts", "completion", "ternctl.bash")
    line = ["ternctl"] + list(words)
    program = (f"source {script}; COMP_WORDS=({' '.join(repr(w) for w in line)}); "
               f"COMP_CWORD={len(line) - 1}; _ternctl; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
    env = dict(os.environ, PATH=os.path.dirname(TERNCTL) + ":" + os.environ["PATH"],
               TERND_SOCKET=socket_path, HOME="/nonexistent")
    out = subprocess.run(["bash", "-c", program], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and not out.stderr, out
    return sorted(w for w in out.stdout.split("\n") if w)


@test
def help_man_pages_and_completion_know_remote_access():
    ternd_help = subprocess.run([TERND, "--help"], capture_output=True, text=True).stdout
    ternd_man = man_text("ternd.8")
    for option in ("--listen", "--tls-cert", "--tls-key", "--tls-ca", "--tls-crl",
                   "--tls-allow-dn"):
        assert option in ternd_help and option in ternd_man, option
    assert "REMOTE ACCESS" in ternd_man and "scripts/ternd-tls-certs" in ternd_help
    ternctl_help = subprocess.run([TERNCTL, "--help"], capture_output=True, text=True).stdout
    ternctl_man = man_text("ternctl.1")
    for word in ("tls://HOST:PORT", "--tls-cert", "--tls-key", "--tls-ca", "$TERNCTL_TLS_CERT",
                 "~/.pki/ternctl/", "/etc/pki/ternctl/"):
        assert word in ternctl_help and word in ternctl_man, word
    usage = subprocess.run([CERTS_SCRIPT, "--help"], capture_output=True, text=True)
    assert usage.returncode == 0 and "ternd-tls-certs server" in usage.stdout
    assert complete(["--tls-"]) == ["--tls-ca", "--tls-cert", "--tls-key"]
    # Names come from the remote ternd that the line names.
    port = free_port()
    with tls_host(f"127.0.0.1:{port}") as h:
        h.ok("vol-create", "far", "1M")
        words = ["-c", f"tls://localhost:{port}",
                 "--tls-cert", os.path.join(CLIENT, "client-cert.pem"),
                 "--tls-key", os.path.join(CLIENT, "client-key.pem"),
                 "--tls-ca", os.path.join(CLIENT, "ca-cert.pem"), "vol-delete", ""]
        assert complete(words) == ["far"]
        assert complete(words[:2] + ["vol-delete", ""]) == [], "no client files: no names, no noise"
        h.stop()


def setup():
    for path in (TERND, TERNCTL, TERN):
        if not os.access(path, os.X_OK):
            return f"{path} is missing: the build failed"
    if not os.path.exists(GUEST):
        return f"{GUEST} is missing: make guests"
    make_pki()
    return None


if __name__ == "__main__":
    main(setup)

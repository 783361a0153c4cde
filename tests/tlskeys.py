"""Keys and certificates for the migration-over-TLS tests, made at test time
with the openssl command (never committed):

    keys = TlsKeys(directory)
    keys.tls_option("dst")   # "ca=.../ca.pem,cert=.../dst.pem,key=.../dst.key"
    keys.psk_option("psk")   # "psk=.../psk"

"ca" signs "dst" and "src" (both name 127.0.0.1 and localhost); "other",
another CA, signs "rogue". "psk" and "psk2" are two different 32-byte
pre-shared keys. Key files are mode 0600, as tern requires."""
import os
import secrets
import subprocess


class TlsKeys:
    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        san = self.path("san")
        with open(san, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        for ca in ("ca", "other"):
            self._key(ca)
            self._openssl("req", "-x509", "-new", "-key", self.path(f"{ca}.key"),
                          "-out", self.path(f"{ca}.pem"), "-days", "2", "-subj", f"/CN={ca}")
        for leaf, ca in (("dst", "ca"), ("src", "ca"), ("rogue", "other")):
            self._key(leaf)
            self._openssl("req", "-new", "-key", self.path(f"{leaf}.key"),
                          "-out", self.path(f"{leaf}.csr"), "-subj", f"/CN={leaf}")
            self._openssl("x509", "-req", "-in", self.path(f"{leaf}.csr"),
                          "-CA", self.path(f"{ca}.pem"), "-CAkey", self.path(f"{ca}.key"),
                          "-CAcreateserial", "-days", "2", "-out", self.path(f"{leaf}.pem"),
                          "-extfile", san)
        for name in ("psk", "psk2"):
            self._secret(name, secrets.token_hex(32) + "\n")

    def path(self, name):
        return os.path.join(self.dir, name)

    def _openssl(self, *args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True)

    def _secret(self, name, text):
        fd = os.open(self.path(name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)

    def _key(self, name):
        self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-out", self.path(f"{name}.key"))
        os.chmod(self.path(f"{name}.key"), 0o600)

    def tls_option(self, who, ca="ca"):
        """--migration-tls's value for certificate holder `who`."""
        return (f"ca={self.path(ca + '.pem')},cert={self.path(who + '.pem')},"
                f"key={self.path(who + '.key')}")

    def tls_json(self, who, ca="ca"):
        """PUT /migration's "tls" object."""
        return {"ca_file": self.path(ca + ".pem"), "cert_file": self.path(who + ".pem"),
                "key_file": self.path(who + ".key")}

    def psk_option(self, name="psk"):
        return f"psk={self.path(name)}"

"""In transit: HTTPS with a self-signed certificate, for ``python app.py --https``.

TLS encrypts everything between the browser and the server (the URL path, the
headers with their cookies, the bodies), and the certificate lets the client
check *who* it is talking to. A real site gets its certificate from a
certificate authority that browsers trust (Let's Encrypt, say); on your own
computer the sandbox signs one for itself. The encryption is just as strong;
what is missing is a third party vouching for the server, which is why a
browser warns about it until you accept it, and why ``requests`` must be told
to trust this one certificate (``verify="instance/tls-cert.pem"``).

This is about serving, not about the module's switch: ``--https`` works whether
the encryption module is on or off.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .keys import write_atomically

CERT_FILE = "tls-cert.pem"
KEY_FILE = "tls-key.pem"
VALID_DAYS = 90  # short, like Let's Encrypt's: a stolen key is useful for weeks, not years
RENEW_BEFORE = timedelta(days=7)
NAMES = ("localhost", "127.0.0.1", "::1")


def _usable(cert_path: Path, key_path: Path) -> bool:
    """Return whether the pair exists, belongs together and is valid for a while yet."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError):
        return False
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    same = cert.public_key().public_bytes(encoding, public) == key.public_key().public_bytes(
        encoding, public
    )
    return same and cert.not_valid_after_utc - RENEW_BEFORE > datetime.now(timezone.utc)


def certificate(data_dir: Path) -> tuple[Path, Path]:
    """Return the certificate and key files, making a new pair if missing or expiring."""
    cert_path, key_path = Path(data_dir) / CERT_FILE, Path(data_dir) / KEY_FILE
    if _usable(cert_path, key_path):
        return cert_path, key_path
    # An elliptic-curve key (P-256): as strong as RSA-3072, and made in a millisecond.
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Backend sandbox (self-signed)"),
        ]
    )
    now = datetime.now(timezone.utc)
    # Clients check the Subject Alternative Names, not the common name: every name and
    # address the sandbox is reached by on this computer goes in.
    alt_names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in NAMES[1:]]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)  # self-signed: it vouches for itself
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))  # a little slack for clocks that differ
        .not_valid_after(now + timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    # The private key first, mode 0600: whoever has it can pose as this server.
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_atomically(key_path, key_pem.decode("ascii"))
    write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM).decode("ascii"))
    if os.name == "posix":
        os.chmod(cert_path, 0o644)  # the certificate is public: clients need it to trust us
    return cert_path, key_path


class _TLSHandler(WSGIRequestHandler):
    # A client that connects and then says nothing is dropped after this many seconds.
    timeout = 60

    def handle(self) -> None:
        # The TLS handshake happens here, on this connection's own thread. (Done in the
        # listening loop, as by default, one silent client would stall every other.)
        try:
            self.connection.do_handshake()
        except (ssl.SSLError, OSError):
            return  # e.g. plain http:// sent to the https port: nothing sensible to answer
        super().handle()

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass  # every request is in its record already


def make_https_server(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """Return werkzeug's threaded server, serving ``app`` over TLS with the data dir's cert."""
    cert_path, key_path = certificate(Path(app.instance_path))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # older versions have known breaks
    context.load_cert_chain(cert_path, key_path)
    server = make_server(host, port, app, threaded=True, request_handler=_TLSHandler)
    server.socket = context.wrap_socket(
        server.socket, server_side=True, do_handshake_on_connect=False
    )
    server.ssl_context = context  # werkzeug then tells the app the scheme is https
    server.cert = cert_path  # type: ignore[attr-defined]  (printed at start)
    return server

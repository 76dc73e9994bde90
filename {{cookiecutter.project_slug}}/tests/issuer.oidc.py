"""An OpenID provider on loopback, for the tests and for trying the service on one's machine: it
publishes a discovery document and its signing keys, and issues access tokens, JWTs as RFC 9068
describes them, to whoever asks, for any subject and scopes: at its token endpoint, or through
its sign-in page (the authorization code flow with PKCE, as the docs' Authorize button runs
it). It authenticates no one: never point a service in production at it.

    uv run python tests/issuer.py [--port 9400] [--audience my-items-service]

serves it and prints the settings that point the service at it, and a curl command for a token.
"""

import argparse
import base64
import hashlib
import html
import json
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

AUDIENCE = "{{ cookiecutter.project_slug }}"
SCOPES = "items:read items:write"


@dataclass(frozen=True)
class Key:
    """A signing key: its algorithm (RS256 or ES256), its private half, and its id."""

    algorithm: str
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    kid: str

    @classmethod
    def make(cls, algorithm: str = "RS256") -> "Key":
        private = (
            ec.generate_private_key(ec.SECP256R1())
            if algorithm == "ES256"
            else rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
        return cls(algorithm, private, uuid.uuid4().hex[:12])

    def jwk(self) -> dict[str, Any]:
        """The public half, as the provider publishes it."""
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        public = algorithm.to_jwk(self.private.public_key(), as_dict=True)
        return public | {"kid": self.kid, "alg": self.algorithm, "use": "sig"}


class Issuer:
    """The provider: `published` are the keys it serves, the first of which signs its tokens;
    `down` makes it answer every request with a 503, `delay` answer each that many seconds
    late, `trickle` send its answers' bodies a byte every 0.1 s, and `padding` add that many
    bytes to its key set; `served` counts the requests per path."""

    def __init__(self, port: int = 0, audience: str = AUDIENCE, algorithm: str = "RS256") -> None:
        self.audience = audience
        self.published: list[Key] = [Key.make(algorithm)]
        self.down = False
        self.delay = 0.0
        self.trickle = False
        self.padding = 0
        self.served: Counter[str] = Counter()
        self._codes: dict[str, dict[str, str]] = {}  # authorization codes, not yet redeemed
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "Issuer":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def token(
        self,
        subject: str = "alice",
        scope: str | None = SCOPES,
        *,
        key: Key | None = None,
        lifetime: float = 3600,
        **claims: Any,
    ) -> str:
        """An access token for `subject`, signed with `key` (the first published by default);
        `claims` add to its claims or replace them (`aud`, `iss`, `exp`, `nbf`...)."""
        key = key or self.published[0]
        now = int(time.time())
        payload = {
            "iss": self.url,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "exp": now + int(lifetime),
            "jti": uuid.uuid4().hex,
            "client_id": "tests",
        }
        if scope is not None:
            payload["scope"] = scope
        payload = {name: value for name, value in (payload | claims).items() if value is not None}
        headers = {"kid": key.kid, "typ": "at+jwt"}
        return jwt.encode(payload, key.private, algorithm=key.algorithm, headers=headers)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                if path == "/authorize":
                    self._page(issuer.sign_in_page(_form(query)))
                    return
                documents = {
                    "/.well-known/openid-configuration": issuer.discovery,
                    "/jwks": issuer.key_set,
                }
                self._answer(documents.get(self.path))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = _form(self.rfile.read(length).decode())
                if self.path == "/authorize":  # the sign-in page's form: back to the client
                    back = issuer.authorized(form)
                    self.send_response(303 if back else 400)
                    if back:
                        self.send_header("Location", back)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path == "/token":
                    self._answer(lambda: issuer.token_response(form))
                else:
                    self._answer(None)

            def do_OPTIONS(self) -> None:
                """A browser's preflight: any page may fetch the discovery document, the keys
                and tokens, as providers let the pages of their clients."""
                self.send_response(204)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Methods", "GET, POST")
                self.send_header("Access-Control-Allow-Headers", "*")
                self.end_headers()

            def _page(self, page: str) -> None:
                body = page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _answer(self, document: Any) -> None:
                issuer.served[self.path] += 1
                time.sleep(issuer.delay)
                status = 503 if issuer.down else 200 if document else 404
                try:
                    body = json.dumps(document() if status == 200 else {}).encode()
                except ValueError as refused:  # a token request it refuses (RFC 6749, 5.2)
                    status, body = 400, json.dumps({"error": str(refused)}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                parts = [body[n : n + 1] for n in range(len(body))] if issuer.trickle else [body]
                try:
                    for part in parts:
                        self.wfile.write(part)
                        self.wfile.flush()
                        time.sleep(0.1 if issuer.trickle else 0)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the tests' output stays the tests'

        return Handler

    def token_response(self, form: dict[str, str]) -> dict[str, Any]:
        """The token endpoint's answer: for the code of a sign-in (the authorization code
        grant, its PKCE verifier checked), or for `subject` and `scope` in the form (as the
        client credentials grant, with the subject chosen by whoever asks)."""
        if form.get("grant_type") == "authorization_code":
            signed_in = self._codes.pop(form.get("code", ""), {})
            verifier = form.get("code_verifier", "").encode()
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
            if (
                not signed_in
                or signed_in.get("redirect_uri") != form.get("redirect_uri")
                or signed_in.get("code_challenge", "").encode() != challenge
            ):
                raise ValueError("invalid_grant")
            form = signed_in
        token = self.token(form.get("subject", "alice"), form.get("scope", SCOPES))
        return {"access_token": token, "token_type": "Bearer", "expires_in": 3600}

    def sign_in_page(self, request: dict[str, str]) -> str:
        """The page a client sends its user to (RFC 6749, 4.1.1, with PKCE's S256 challenge):
        a form that asks whom to sign in as, and carries the request on."""
        if request.get("response_type") != "code" or request.get("code_challenge_method") != "S256":
            return "<!doctype html><title>Refused</title><p>Only the code flow with PKCE (S256)."
        carried = ("redirect_uri", "state", "scope", "code_challenge")
        fields = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(request.get(name, ""))}">'
            for name in carried
        )
        return (
            "<!doctype html><title>Sign in</title>"
            f'<form method="post" action="/authorize">{fields}'
            '<label>Sign in as <input name="subject" value="alice"></label>'
            f"<p>Scopes: {html.escape(request.get('scope', ''))}</p>"
            "<button>Sign in</button></form>"
        )

    def authorized(self, form: dict[str, str]) -> str | None:
        """Where the browser goes once signed in: back to the client, with a code; None for a
        form without a subject, or without an http(s) address to go back to."""
        redirect_uri = form.get("redirect_uri", "")
        if not form.get("subject") or not re.fullmatch(r"https?://[^\s]+", redirect_uri):
            return None
        code = secrets.token_urlsafe(16)
        self._codes[code] = form
        back = {"code": code, "state": form.get("state", "")}
        return f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(back)}"

    def key_set(self) -> dict[str, Any]:
        keys = {"keys": [key.jwk() for key in self.published]}
        return keys | {"padding": "x" * self.padding} if self.padding else keys

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/jwks",
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": SCOPES.split(),
            "id_token_signing_alg_values_supported": [key.algorithm for key in self.published],
        }


def _form(encoded: str) -> dict[str, str]:
    return {name: values[-1] for name, values in parse_qs(encoded, keep_blank_values=True).items()}


@cache
def provider() -> Issuer:
    """The provider of this test process, from its first use to its end: conftest.py points
    the service at it (OIDC_ISSUER), in this process and in those it starts."""
    return Issuer().__enter__()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n\n")[0])
    parser.add_argument("--port", type=int, default=9400)
    parser.add_argument("--audience", default=AUDIENCE)
    parser.add_argument("--algorithm", choices=["RS256", "ES256"], default="RS256")
    arguments = parser.parse_args()
    with Issuer(arguments.port, arguments.audience, arguments.algorithm) as issuer:
        print(f"OIDC_ISSUER={issuer.url} OIDC_AUDIENCE={issuer.audience}")
        print(f"curl -s -d subject=alice -d 'scope={SCOPES}' {issuer.url}/token", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()

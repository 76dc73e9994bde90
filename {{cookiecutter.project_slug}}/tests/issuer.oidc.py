"""An OpenID provider on loopback, for the tests and for trying the service on one's machine: it
publishes a discovery document and its signing keys, and issues access tokens, JWTs as RFC 9068
describes them, to whoever asks, for any subject and scopes. It authenticates no one: never
point a service in production at it.

    uv run python tests/issuer.py [--port 9400] [--audience my-items-service]

serves it and prints the settings that point the service at it, and a curl command for a token.
"""

import argparse
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

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
                documents = {
                    "/.well-known/openid-configuration": issuer.discovery,
                    "/jwks": issuer.key_set,
                }
                self._answer(documents.get(self.path))

            def do_POST(self) -> None:
                """The token endpoint: `subject` and `scope` in the form (RFC 6749's client
                credentials grant, with the subject chosen by whoever asks)."""
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                token = issuer.token(form.get("subject", "alice"), form.get("scope", SCOPES))
                answer = {"access_token": token, "token_type": "Bearer", "expires_in": 3600}
                self._answer((lambda: answer) if self.path == "/token" else None)

            def _answer(self, document: Any) -> None:
                issuer.served[self.path] += 1
                time.sleep(issuer.delay)
                status = 503 if issuer.down else 200 if document else 404
                body = json.dumps(document() if status == 200 else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
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

    def key_set(self) -> dict[str, Any]:
        keys = {"keys": [key.jwk() for key in self.published]}
        return keys | {"padding": "x" * self.padding} if self.padding else keys

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/jwks",
            "token_endpoint": f"{self.url}/token",
            "grant_types_supported": ["client_credentials"],
            "id_token_signing_alg_values_supported": [key.algorithm for key in self.published],
        }


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
        print(f"curl -s -d subject=alice -d 'scope={SCOPES}' {issuer.url}/token")
        threading.Event().wait()


if __name__ == "__main__":
    main()

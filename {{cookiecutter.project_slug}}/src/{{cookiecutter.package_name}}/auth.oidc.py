"""Who may call the items API: the holder of a bearer access token (RFC 6750), a JWT that the
OpenID provider at OIDC_ISSUER signed for OIDC_AUDIENCE with one of the keys it publishes. The
service is a resource server: identity stays with the provider, which it asks for nothing but
its public keys (docs/auth.md)."""

import asyncio
import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import httpx2
import jwt
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .models import SUBJECT_MAX_LENGTH
from .settings import Settings

logger = logging.getLogger(__name__)

# The algorithms a token may be signed with: public-key ones, and of those only the one its key
# is published for. An issuer's keys are public: an HMAC (HS256) keyed with one would accept a
# token anyone can make, and "none" a token no one signed.
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
Access = Literal["read", "write"]
# Seconds a fetch of the provider's discovery document and keys may take, in all; the largest
# document it takes, in bytes (a key set is a few kilobytes).
FETCH_TIMEOUT = 5.0
MAX_DOCUMENT = 1_048_576
# A token's `typ`, where it has one: an access token's (RFC 9068), or a plain JWT's.
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt", "jwt"})
# How many tokens that passed every check are kept, until they expire, so that the next request
# with one is not checked again: a client sends the same token for as long as it lasts, and the
# check costs a third to a half of a read's CPU (docs/auth.md). The oldest go first.
VERIFIED_TOKENS = 10_000


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent the request: the token's subject (`sub`), and the scopes it was granted."""

    subject: str
    scopes: frozenset[str]


class ProviderUnreachableError(Exception):
    """No key has ever been fetched, and the provider cannot be reached for one."""


class IssuerKeys:
    """The provider's signing keys by key id, found through its discovery document, fetched
    once and kept. A token signed with a key id not among them fetches them again, at most
    once per `refetch_interval` however many such tokens come, so that a flood of made-up ids
    costs the provider one request per interval, and a newly published key is picked up within
    that interval of its first use. They are fetched again, too, once `max_age` old, so that a
    key the provider withdrew stops being trusted. While the provider cannot be reached, the
    keys fetched before keep working. Every fetch is asynchronous: none holds up the event
    loop, and requests with known keys do not wait for one."""

    def __init__(
        self,
        issuer: str,
        *,
        refetch_interval: float = 30.0,
        max_age: float = 3600.0,
    ) -> None:
        self.issuer = issuer
        self.refetch_interval = refetch_interval
        self.max_age = max_age
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._jwks_uri: str | None = None
        self._tried = -math.inf  # when the keys were last fetched, or tried (time.monotonic())
        self._fetched = -math.inf  # when they were last fetched
        self._fetching = asyncio.Lock()
        self._refreshing: asyncio.Task[None] | None = None
        # Made once, as the service starts: loading the trusted certificates takes a while.
        self._tls = httpx2.create_ssl_context()

    async def get(self, kid: str | None) -> jwt.PyJWK | None:
        """The key with id `kid` (None: the token names none, and the provider has one key),
        fetched again if it is not among those fetched before."""
        key = self.known(kid)
        if key is not None:
            return key
        await self._refresh()
        if not math.isfinite(self._fetched):
            raise ProviderUnreachableError
        return self._find(kid)

    def known(self, kid: str | None) -> jwt.PyJWK | None:
        """The key with id `kid` among those fetched before, if it is; once they are `max_age`
        old, they are fetched again in the background, and this request goes on with them."""
        key = self._find(kid)
        if key is not None and time.monotonic() - self._fetched >= self.max_age:
            self._refresh_soon()
        return key

    def _refresh_soon(self) -> None:
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._refresh())

    async def _refresh(self) -> None:
        async with self._fetching:  # one fetch at a time; who waited for it uses its keys
            if time.monotonic() - self._tried >= self.refetch_interval:
                await self._fetch()

    def _find(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    async def _fetch(self) -> None:
        self._tried = time.monotonic()
        try:
            # A client for each fetch (they are minutes apart), and a bound on the whole of it:
            # a provider that sends a byte now and then would never trip a read's timeout.
            async with (
                asyncio.timeout(FETCH_TIMEOUT),
                httpx2.AsyncClient(verify=self._tls, timeout=FETCH_TIMEOUT) as client,
            ):
                if self._jwks_uri is None:
                    self._jwks_uri = await self._discover(client)
                published = await _json(client, self._jwks_uri)
            keys = {
                key.key_id: key
                for key in jwt.PyJWKSet.from_dict(published).keys
                if key.algorithm_name in ASYMMETRIC and key.public_key_use in (None, "sig")
            }
        except Exception as error:  # whatever went wrong, the keys fetched before stay in use
            logger.warning(
                "The keys of the OpenID provider %s could not be fetched (%s: %s)%s",
                self.issuer,
                type(error).__name__,
                error,
                "; the keys fetched before stay in use" if self._keys else "",
            )
            return
        self._keys, self._fetched = keys, time.monotonic()
        logger.info("Fetched the %d signing keys of the OpenID provider %s", len(keys), self.issuer)

    async def _discover(self, client: httpx2.AsyncClient) -> str:
        """Where the provider publishes its keys, as its discovery document says."""
        url = f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"
        discovery = await _json(client, url)
        if discovery.get("issuer") != self.issuer:  # OpenID Connect Discovery 1.0, 4.3
            raise ValueError("its discovery document names another issuer")
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not (
            jwks_uri.startswith("https://") or jwks_uri.startswith(f"{self.issuer.rstrip('/')}/")
        ):
            raise ValueError("its discovery document names no https jwks_uri")
        return jwks_uri


async def _json(client: httpx2.AsyncClient, url: str) -> dict[str, Any]:
    """The JSON object at `url`, read up to MAX_DOCUMENT bytes."""
    body = bytearray()
    async with client.stream("GET", url) as response:
        response.raise_for_status()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_DOCUMENT:
                raise ValueError(f"a document over {MAX_DOCUMENT:,} bytes")
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError("a document that is not a JSON object")
    return document


class Authenticator:
    """Checks a bearer token against OIDC_ISSUER's published keys and OIDC_AUDIENCE, and the
    scopes each kind of access needs."""

    def __init__(self, settings: Settings) -> None:
        self.issuer = settings.oidc_issuer
        self.audience = settings.oidc_audience
        self.leeway = settings.oidc_leeway
        self.scopes: dict[Access, str] = {
            "read": settings.oidc_read_scope,
            "write": settings.oidc_write_scope,
        }
        self.keys = IssuerKeys(self.issuer, refetch_interval=settings.oidc_keys_refetch_interval)
        # Tokens that passed, by their SHA-256 (a few bytes each, however long the token): who
        # holds each, until when (time.time()), and the id and key that signed it.
        self._verified: dict[bytes, tuple[Caller, float, str | None, jwt.PyJWK]] = {}

    async def caller(self, token: str) -> Caller:
        """Who holds `token`, if the provider issued it for this service, and it is in date."""
        digest = hashlib.sha256(token.encode()).digest()
        verified = self._verified.get(digest)
        if verified is not None:
            caller, expires, kid, signer = verified
            # Still in date, and its key still the one the provider publishes under its id: a
            # key withdrawn at the last fetch takes the tokens it signed with it.
            if time.time() < expires and self.keys.known(kid) is signer:
                return caller
            del self._verified[digest]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:  # not a JWT, or a header with a key id it cannot use
            raise invalid_token("The access token is not a JWT this service can read") from None
        if "crit" in header:  # extensions it must understand (RFC 7515, 4.1.11): it knows none
            raise invalid_token("The access token is not a JWT this service can read")
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in ASYMMETRIC:
            raise invalid_token("The access token's algorithm is not one this service accepts")
        kind = header.get("typ", "JWT")
        if not isinstance(kind, str) or kind.lower() not in ACCESS_TOKEN_TYPES:
            raise invalid_token("The token is not an access token")
        try:
            key = await self.keys.get(header.get("kid"))
        except ProviderUnreachableError:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "The OpenID provider's keys could not be fetched to check the access token;"
                " try again shortly",
                headers={"Retry-After": str(math.ceil(self.keys.refetch_interval))},
            ) from None
        if key is None or key.algorithm_name != algorithm:
            raise invalid_token("The access token is signed with a key the issuer does not publish")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWTError, ValueError, TypeError) as error:
            raise invalid_token(_why(error)) from None
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise invalid_token("The access token names no subject")
        if len(claims["sub"]) > SUBJECT_MAX_LENGTH:  # OpenID Connect's bound, and the column's
            raise invalid_token("The access token's subject is over 255 characters")
        caller = Caller(subject=claims["sub"], scopes=granted(claims))
        if digest not in self._verified and len(self._verified) >= VERIFIED_TOKENS:
            del self._verified[next(iter(self._verified))]  # the oldest
        # Valid while `exp` is not more than the leeway past, as PyJWT checks it (in whole seconds).
        expires = int(claims["exp"]) + self.leeway
        self._verified[digest] = (caller, expires, header.get("kid"), key)
        return caller


def require_provider(settings: Settings) -> None:
    """Refuse to start without a provider to trust: no token could ever be accepted."""
    if not (settings.oidc_issuer and settings.oidc_audience):
        raise ValueError(
            "OIDC_ISSUER and OIDC_AUDIENCE must be set: the URL of the OpenID provider whose"
            " access tokens the service accepts, and the audience they are issued for"
            " (docs/auth.md)"
        )


def granted(claims: dict[str, Any]) -> frozenset[str]:
    """The scopes a token grants: `scope`, separated by spaces (RFC 9068, Keycloak, Auth0), or
    `scp`, a list (Okta) or separated by spaces too (Entra ID)."""
    scopes = claims.get("scope") or claims.get("scp") or ""
    if isinstance(scopes, str):
        return frozenset(scopes.split())
    if isinstance(scopes, list):
        return frozenset(scope for scope in scopes if isinstance(scope, str))
    return frozenset()


def _why(error: Exception) -> str:
    """What is wrong with a token, in words a client can act on (none quotes the token)."""
    match error:
        case jwt.ExpiredSignatureError():
            return "The access token has expired"
        case jwt.ImmatureSignatureError():
            return "The access token is not valid yet"
        case jwt.InvalidAudienceError():
            return "The access token is for another audience"
        case jwt.InvalidIssuerError():
            return "The access token is from another issuer"
        case jwt.MissingRequiredClaimError():
            return f"The access token has no {error.claim} claim"
        case jwt.InvalidSignatureError():
            return "The access token's signature does not verify"
    return "The access token is not valid"


def invalid_token(detail: str) -> HTTPException:
    """A 401 for a token that was sent but cannot be accepted (RFC 6750, 3.1)."""
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail,
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{detail}"'},
    )


# In the OpenAPI schema too: the docs' Authorize button takes a token for it.
bearer = HTTPBearer(
    bearerFormat="JWT",
    auto_error=False,
    description="An access token that OIDC_ISSUER issued for OIDC_AUDIENCE",
)


async def authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The caller: the one dependency through which every items route knows who sends it."""
    if credentials is None:  # no token, so no error code (RFC 6750, 3.1)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "This API needs an access token, sent as Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    authenticator: Authenticator = request.app.state.authenticator
    return await authenticator.caller(credentials.credentials)


Authenticated = Annotated[Caller, Depends(authenticated)]


def _needing(access: Access) -> Any:
    async def allowed(request: Request, caller: Authenticated) -> Caller:
        scope = request.app.state.authenticator.scopes[access]
        if scope not in caller.scopes:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"The access token does not grant the {scope} scope, which this needs",
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
            )
        return caller

    return Depends(allowed)


# What a route needs of its caller: a token that grants the scope of reading (OIDC_READ_SCOPE)
# or of writing (OIDC_WRITE_SCOPE).
READ = _needing("read")
WRITE = _needing("write")
Reader = Annotated[Caller, READ]
Writer = Annotated[Caller, WRITE]


def document_sign_in(app: FastAPI, settings: Settings) -> None:
    """Name the provider in the OpenAPI schema (an `openIdConnect` scheme, which each items
    operation accepts, with the scope it needs, beside a pasted token): the docs' Authorize
    button signs in there, and clients generated from the schema know where tokens come from."""
    build = app.openapi
    discovery = f"{settings.oidc_issuer.rstrip('/')}/.well-known/openid-configuration"

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schemes = schema["components"]["securitySchemes"]
        schemes["OpenIdConnect"] = {"type": "openIdConnect", "openIdConnectUrl": discovery}
        for path in schema["paths"].values():
            for method, operation in path.items():
                if {"HTTPBearer": []} in operation.get("security", []):
                    read = method == "get"
                    scope = settings.oidc_read_scope if read else settings.oidc_write_scope
                    operation["security"].append({"OpenIdConnect": [scope]})
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

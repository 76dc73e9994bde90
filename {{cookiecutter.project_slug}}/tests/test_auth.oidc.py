"""Who may call the items API: only the holder of an access token that the OpenID provider at
OIDC_ISSUER signed for OIDC_AUDIENCE, with a key it publishes, and that grants the scope the
route needs; everything else is a 401 or a 403 that says why. Each caller sees its own items
only. The provider is a real one on
loopback (issuer.py), whose keys the tests rotate and which they take down."""

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import jwt
import pytest
from clients import authorization, client_for
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi import FastAPI
from httpx2 import AsyncClient, Response
from issuer import SCOPES, Issuer, Key, provider
from item_requests import create
from pydantic import ValidationError

from {{ cookiecutter.package_name }} import auth
from {{ cookiecutter.package_name }}.database import Database
from {{ cookiecutter.package_name }}.main import create_app
from {{ cookiecutter.package_name }}.settings import Settings

ROUTES = [
    ("POST", "/items"),
    ("GET", "/items"),
    ("GET", "/items/1"),
    ("PUT", "/items/1"),
    ("PATCH", "/items/1"),
    ("DELETE", "/items/1"),
]
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
Serve = Callable[..., Any]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def call(client: AsyncClient, method: str, path: str, headers: dict[str, str]) -> Response:
    body = {"title": "Sent"} if method in {"POST", "PUT", "PATCH"} else None
    return await client.request(method, path, headers=headers, json=body)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_by_hand(
    header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]
) -> str:
    """A JWT put together by hand, as an attacker would, where a library would refuse to."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": provider().url, "aud": provider().audience, "sub": "alice", "exp": now + 600}
    return base | {"scope": SCOPES} | changes


@pytest.fixture
def serve(settings: Settings, committing_database: Database) -> Serve:
    """The app on a database of the test's own (whose writes commit: requests may come at
    once), trusting `issuer` (another provider than the tests' own), with the settings given."""

    @asynccontextmanager
    async def serve(
        issuer: Issuer, keys_max_age: float | None = None, **changes: Any
    ) -> AsyncIterator[AsyncClient]:
        own = settings.model_copy(update={"oidc_issuer": issuer.url} | changes)
        served = create_app(own, database=committing_database)
        if keys_max_age is not None:  # an hour, in the service
            served.state.authenticator.keys.max_age = keys_max_age
        async with client_for(served) as client:
            client.headers.pop("Authorization")
            yield client

    return serve


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_every_items_route_needs_a_token(client: AsyncClient, method: str, path: str) -> None:
    response = await call(client, method, path, {"Authorization": ""})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"  # no token: no error code
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == (
        "This API needs an access token, sent as Authorization: Bearer <token>"
    )


@pytest.mark.parametrize("path", ["/health/live", "/health/ready", "/docs", "/openapi.json"])
async def test_health_and_the_docs_stay_open(client: AsyncClient, path: str) -> None:
    assert (await client.get(path, headers={"Authorization": ""})).status_code == 200


async def test_the_schema_asks_every_items_operation_for_a_bearer_token(
    client: AsyncClient,
) -> None:
    """What the docs' Authorize button and generated clients go by."""
    schema = (await client.get("/openapi.json")).json()
    security = {
        f"{method.upper()} {path}": operation.get("security")
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }

    assert schema["components"]["securitySchemes"]["HTTPBearer"] | {"description": ""} == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "",
    }
    token: list[dict[str, list[str]]] = [{"HTTPBearer": []}]
    assert security == {
        f"{method} {path.replace('/1', '/{item_id}')}": token for method, path in ROUTES
    } | {"GET /health/live": None, "GET /health/ready": None}


async def test_with_a_docs_client_id_the_docs_sign_in_at_the_provider_with_pkce(
    settings: Settings, app: FastAPI
) -> None:
    """OIDC_DOCS_CLIENT_ID: the schema names the provider (openIdConnect) beside the pasted
    token, each operation with the scope it needs; Swagger UI is set for the authorization code
    flow with PKCE, may connect to the provider and nowhere else, and has its redirect page."""
    signing_in = settings.model_copy(update={"oidc_docs_client_id": "items-docs"})
    async with client_for(create_app(signing_in, database=app.state.database)) as client:
        schema = (await client.get("/openapi.json")).json()
        docs = await client.get("/docs")
        redirect = await client.get("/docs/oauth2-redirect")

    assert schema["components"]["securitySchemes"]["OpenIdConnect"] == {
        "type": "openIdConnect",
        "openIdConnectUrl": f"{provider().url}/.well-known/openid-configuration",
    }
    items = schema["paths"]["/items"]
    assert items["get"]["security"] == [{"HTTPBearer": []}, {"OpenIdConnect": ["items:read"]}]
    assert items["post"]["security"] == [{"HTTPBearer": []}, {"OpenIdConnect": ["items:write"]}]
    assert '"clientId": "items-docs"' in docs.text
    assert '"usePkceWithAuthorizationCodeGrant": true' in docs.text
    assert '"scopes": "openid items:read items:write"' in docs.text
    assert "oauth2RedirectUrl: window.location.origin + '/docs/oauth2-redirect'" in docs.text
    policy = docs.headers["content-security-policy"]
    assert policy.endswith(f"; connect-src 'self' {provider().url}")
    assert redirect.status_code == 200
    assert "oauth2" in redirect.text


async def test_another_scheme_is_no_token(client: AsyncClient) -> None:
    response = await client.get("/items", headers={"Authorization": "Basic YWxpY2U6c2VjcmV0"})

    assert (response.status_code, response.headers["www-authenticate"]) == (401, "Bearer")


def impostor(algorithm: str) -> Key:
    """A key never published, under the id of the key the provider signs with."""
    return Key(algorithm, Key.make(algorithm).private, provider().published[0].kid)


def _public_pem() -> bytes:
    public = provider().published[0].private.public_key()
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


BAD_TOKENS: dict[str, tuple[Callable[[], str], str]] = {
    "expired": (
        lambda: provider().token(exp=int(time.time()) - 120),
        "The access token has expired",
    ),
    "not valid yet": (
        lambda: provider().token(nbf=int(time.time()) + 120),
        "The access token is not valid yet",
    ),
    "for another audience": (
        lambda: provider().token(aud="another-api"),
        "The access token is for another audience",
    ),
    "from another issuer": (
        lambda: provider().token(iss="https://login.example.com"),
        "The access token is from another issuer",
    ),
    "without a subject": (
        lambda: provider().token(sub=None),
        "The access token has no sub claim",
    ),
    "without an expiry": (
        lambda: provider().token(exp=None),
        "The access token has no exp claim",
    ),
    "unsigned": (
        lambda: signed_by_hand(
            {"alg": "none", "kid": provider().published[0].kid}, claims(), lambda _: b""
        ),
        "The access token's algorithm is not one this service accepts",
    ),
    "HS256 keyed with the published public key": (
        lambda: signed_by_hand(
            {"alg": "HS256", "kid": provider().published[0].kid},
            claims(),
            lambda data: hmac.new(_public_pem(), data, hashlib.sha256).digest(),
        ),
        "The access token's algorithm is not one this service accepts",
    ),
    "signed with a key never published": (
        lambda: provider().token(key=Key.make()),
        "The access token is signed with a key the issuer does not publish",
    ),
    "signed with another key under a published key's id": (
        lambda: provider().token(key=impostor("RS256")),
        "The access token's signature does not verify",
    ),
    "signed with ES256 under an RS256 key's id": (
        lambda: provider().token(key=impostor("ES256")),
        "The access token is signed with a key the issuer does not publish",
    ),
    "tampered with": (
        lambda: provider().token()[:-4] + "AAAA",
        "The access token's signature does not verify",
    ),
    "not a JWT": (lambda: "not-a-jwt", "The access token is not a JWT this service can read"),
    "a key id that is not a string": (
        lambda: by_hand({"alg": "RS256", "kid": 7}),
        "The access token is not a JWT this service can read",
    ),
    "an extension it must understand (crit)": (
        lambda: by_hand({"alg": "RS256", "crit": ["x\nforged log line"], "x\nforged log line": 1}),
        "The access token is not a JWT this service can read",
    ),
    "an algorithm that is a list": (
        lambda: by_hand({"alg": ["RS256"], "kid": provider().published[0].kid}),
        "The access token's algorithm is not one this service accepts",
    ),
    "an ID token's type": (
        lambda: by_hand({"alg": "RS256", "typ": "id+jwt", "kid": provider().published[0].kid}),
        "The token is not an access token",
    ),
    "an empty subject": (
        lambda: provider().token(sub=""),
        "The access token names no subject",
    ),
    "a subject over 255 characters": (
        lambda: provider().token(sub="x" * 256),
        "The access token's subject is over 255 characters",
    ),
}


def by_hand(header: dict[str, Any]) -> str:
    """A token with this header, signed (RS256) by the provider's key, the header as given."""
    key = provider().published[0].private
    assert isinstance(key, rsa.RSAPrivateKey)
    return signed_by_hand(
        header, claims(), lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    )


@pytest.mark.parametrize("kind", BAD_TOKENS)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_token_the_service_cannot_accept_is_401_invalid_token(
    client: AsyncClient, kind: str, method: str
) -> None:
    make, detail = BAD_TOKENS[kind]

    response = await call(client, method, "/items", bearer(make()))

    assert response.status_code == 401, response.text
    assert response.json()["detail"] == detail
    assert response.headers["www-authenticate"] == (
        f'Bearer error="invalid_token", error_description="{detail}"'
    )
    if method == "POST":
        assert (await client.get("/items")).json()["items"] == []  # nothing was written


async def test_a_caller_sees_and_changes_its_own_items_only(client: AsyncClient) -> None:
    """Another subject's item is a 404, as if it did not exist, whatever the method and
    whatever If-Match says; lists and counts hold one's own items only."""
    bob = authorization("bob")
    mine = await create(client, title="Alice's", sku="SHARED-1")
    theirs = await client.post("/items", json={"title": "Bob's", "sku": "SHARED-1"}, headers=bob)
    url = f"/items/{mine['id']}"

    tried = [
        await client.get(url, headers=bob),
        await client.get(url, headers=bob | {"If-None-Match": '"1"'}),
        await client.put(url, json={"title": "Taken"}, headers=bob),
        await client.patch(url, json={"title": "Taken"}, headers=bob | {"If-Match": '"1"'}),
        await client.delete(url, headers=bob),
        await client.delete(url, headers=bob | {"If-Match": "*"}),
    ]
    lists = {
        who: (await client.get("/items", params={"with_total": True}, headers=headers)).json()
        for who, headers in {"alice": {}, "bob": bob}.items()
    }

    assert theirs.status_code == 201  # a sku is unique per owner: bob may use alice's
    assert [answer.status_code for answer in tried] == [404] * len(tried)
    assert {answer.json()["detail"] for answer in tried} == {f"Item {mine['id']} not found"}
    assert (await client.get(url)).json() == mine
    assert [item["title"] for item in lists["alice"]["items"]] == ["Alice's"]
    assert [item["title"] for item in lists["bob"]["items"]] == ["Bob's"]
    assert lists["alice"]["total"] == lists["bob"]["total"] == 1


async def test_a_sku_is_unique_among_its_owner_s_items(client: AsyncClient) -> None:
    await create(client, sku="MINE-1")

    taken = await client.post("/items", json={"title": "Again", "sku": "MINE-1"})

    assert taken.status_code == 409
    assert taken.json()["detail"] == "Another item already has this sku"
    assert taken.json()["errors"] == [
        {"loc": ["body", "sku"], "msg": "already taken", "type": "unique"}
    ]


async def test_a_token_a_little_past_its_expiry_is_taken_within_the_leeway(
    client: AsyncClient,
) -> None:
    token = provider().token(exp=int(time.time()) - 10)  # OIDC_LEEWAY: 30 s

    assert (await client.get("/items", headers=bearer(token))).status_code == 200


@pytest.mark.parametrize(
    ("method", "granted", "needed"),
    [
        ("GET", "items:write", "items:read"),
        ("GET", "", "items:read"),
        ("POST", "items:read", "items:write"),
        ("PATCH", "items:read openid", "items:write"),
        ("DELETE", "items:read", "items:write"),
    ],
)
async def test_a_token_without_the_scope_a_route_needs_is_403(
    client: AsyncClient, method: str, granted: str, needed: str
) -> None:
    item = (await client.post("/items", json={"title": "Kept"})).json()
    path = "/items" if method in {"GET", "POST"} else f"/items/{item['id']}"

    response = await call(client, method, path, authorization(scope=granted))

    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        f'Bearer error="insufficient_scope", scope="{needed}"'
    )
    assert response.json()["detail"] == (
        f"The access token does not grant the {needed} scope, which this needs"
    )
    assert (await client.get(f"/items/{item['id']}")).json() == item


@pytest.mark.parametrize(
    "granted",
    [{"scp": ["items:read", "items:write"]}, {"scp": "items:read items:write"}],
    ids=["scp as a list (Okta)", "scp separated by spaces (Entra ID)"],
)
async def test_scopes_are_read_from_scp_where_a_provider_puts_them_there(
    client: AsyncClient, granted: dict[str, Any]
) -> None:
    token = provider().token(scope=None, **granted)

    response = await client.post("/items", json={"title": "Made"}, headers=bearer(token))

    assert response.status_code == 201


async def test_the_scopes_names_are_settings(serve: Serve) -> None:
    with Issuer() as issuer:
        async with serve(issuer, oidc_read_scope="Items.Read") as client:
            entra = bearer(issuer.token(scope=None, scp="Items.Read"))
            default = bearer(issuer.token(scope="items:read"))
            read = await client.get("/items", headers=entra)
            refused = await client.get("/items", headers=default)

    assert (read.status_code, refused.status_code) == (200, 403)
    assert 'scope="Items.Read"' in refused.headers["www-authenticate"]


async def test_a_key_the_provider_publishes_is_taken_once_the_refetch_interval_has_passed(
    serve: Serve,
) -> None:
    """A token signed with a key the service has not seen makes it fetch the provider's keys
    again, once OIDC_KEYS_REFETCH_INTERVAL has passed since it last did; the requests that come
    with it while the keys are fetched wait for them, and are taken too."""
    with Issuer() as issuer:
        async with serve(issuer, oidc_keys_refetch_interval=1.0) as client:
            first = await client.get("/items", headers=bearer(issuer.token()))
            issuer.published.insert(0, Key.make("ES256"))  # rotated: the new key signs now
            rotated = bearer(issuer.token())
            too_soon = await client.get("/items", headers=rotated)
            await asyncio.sleep(1.1)
            requests = [client.get("/items", headers=rotated) for _ in range(20)]
            later = await asyncio.gather(*requests)
            retired = issuer.published.pop()  # the old key withdrawn; its tokens still held
            still = await client.get("/items", headers=bearer(issuer.token(key=retired)))

    assert [r.status_code for r in (first, too_soon)] == [200, 401]
    assert [r.status_code for r in later] == [200] * 20
    assert issuer.served["/jwks"] == 2
    assert still.status_code == 200  # withdrawn keys are dropped at the next fetch, not before


async def test_a_flood_of_unknown_key_ids_fetches_the_keys_once_per_interval(
    serve: Serve,
) -> None:
    """400 requests at once with made-up key ids, once the interval has passed since the last
    fetch: they wait for one fetch between them, and make one more per interval at most."""
    interval = 1.0
    with Issuer() as issuer:
        async with serve(issuer, oidc_keys_refetch_interval=interval) as client:
            assert (await client.get("/items", headers=bearer(issuer.token()))).status_code == 200
            forged = [bearer(issuer.token(key=Key.make())) for _ in range(5)]
            await asyncio.sleep(interval)
            started = time.perf_counter()
            answers = await asyncio.gather(
                *(client.get("/items", headers=forged[n % 5]) for n in range(400))
            )
            took = time.perf_counter() - started

    assert {answer.status_code for answer in answers} == {401}
    assert issuer.served["/.well-known/openid-configuration"] == 1
    assert 1 <= issuer.served["/jwks"] - 1 <= 1 + took // interval, took


async def test_while_the_provider_is_down_the_keys_fetched_before_keep_working(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    with Issuer() as issuer:
        async with serve(issuer, oidc_keys_refetch_interval=0.1) as client:
            assert (await client.get("/items", headers=bearer(issuer.token()))).status_code == 200
            issuer.down = True
            await asyncio.sleep(0.2)
            unknown = await client.get("/items", headers=bearer(issuer.token(key=Key.make())))
            known = await client.get("/items", headers=bearer(issuer.token()))

    assert (unknown.status_code, known.status_code) == (401, 200)
    assert issuer.served["/jwks"] == 2  # the second answered 503
    assert "could not be fetched (HTTPStatusError" in caplog.text
    assert "the keys fetched before stay in use" in caplog.text


async def test_a_provider_that_never_answered_is_a_503_with_retry_after(serve: Serve) -> None:
    with Issuer() as issuer:
        issuer.down = True
        async with serve(issuer) as client:
            response = await client.get("/items", headers=bearer(issuer.token()))

    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert response.json()["detail"].startswith("The OpenID provider's keys could not be fetched")


async def test_a_slow_provider_holds_up_no_other_request(serve: Serve) -> None:
    """The keys are fetched without blocking the event loop: while the provider takes a second
    to answer a fetch for a new key, the requests with a known key, and those that need none,
    are answered at once."""
    with Issuer() as issuer:
        async with serve(issuer, oidc_keys_refetch_interval=0.1) as client:
            known = bearer(issuer.token())
            assert (await client.get("/items", headers=known)).status_code == 200
            issuer.published.insert(0, Key.make())
            issuer.delay = 1.0
            await asyncio.sleep(0.2)
            started = time.perf_counter()
            waiting = asyncio.ensure_future(client.get("/items", headers=bearer(issuer.token())))
            await asyncio.sleep(0.1)
            others = [await client.get("/health/live"), await client.get("/items", headers=known)]
            answered_in = time.perf_counter() - started
            fetching = not waiting.done()
            new_key = await waiting

    assert [answer.status_code for answer in others] == [200, 200]
    assert answered_in < 0.6
    assert fetching
    assert new_key.status_code == 200


async def test_a_fetch_is_bounded_in_time_and_size_whatever_the_provider_sends(
    serve: Serve, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A provider that sends its keys a byte at a time, or sends megabytes, gets no more than
    FETCH_TIMEOUT of the service's time nor MAX_DOCUMENT of its memory: the fetch fails, and
    with no key fetched before, the request is a 503."""
    monkeypatch.setattr(auth, "FETCH_TIMEOUT", 0.5)
    with Issuer() as trickling, Issuer() as bloated:
        trickling.trickle, bloated.padding = True, 2 * auth.MAX_DOCUMENT
        started = time.perf_counter()
        async with serve(trickling) as client:
            slow = await client.get("/items", headers=bearer(trickling.token()))
        took = time.perf_counter() - started
        async with serve(bloated) as client:
            large = await client.get("/items", headers=bearer(bloated.token()))

    assert (slow.status_code, large.status_code) == (503, 503)
    assert took < 2
    assert "could not be fetched (TimeoutError" in caplog.text
    assert "could not be fetched (ValueError: a document over 1,048,576 bytes)" in caplog.text


@pytest.mark.parametrize("new_key_id", ["its own", "the old key's"])
async def test_a_key_the_provider_withdrew_is_dropped_once_the_keys_are_old(
    serve: Serve, new_key_id: str
) -> None:
    """Keys older than their age bound are fetched again in the background, while requests go
    on with them; the next requests see what the provider publishes now, and a token taken
    before with the withdrawn key is refused, whatever id the new key has."""
    with Issuer() as issuer:
        old = bearer(issuer.token())
        new = Key.make("ES256")
        if new_key_id == "the old key's":
            new = Key(issuer.published[0].algorithm, Key.make().private, issuer.published[0].kid)
        async with serve(issuer, keys_max_age=0.2, oidc_keys_refetch_interval=0.1) as client:
            first = await client.get("/items", headers=old)
            issuer.published = [new]  # the old key withdrawn
            await asyncio.sleep(0.3)
            stale = await client.get("/items", headers=old)  # and a fetch begins, behind it
            for _ in range(50):
                if issuer.served["/jwks"] == 2:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.1)
            withdrawn = await client.get("/items", headers=old)
            renewed = await client.get("/items", headers=bearer(issuer.token()))

    statuses = [answer.status_code for answer in (first, stale, withdrawn, renewed)]
    assert statuses == [200, 200, 401, 200]


async def test_a_token_is_checked_once_then_kept_a_bounded_while(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token that passed is not checked again (a signature costs a third of a read's CPU), but
    the service keeps no more than VERIFIED_TOKENS of them, the oldest going first."""
    monkeypatch.setattr(auth, "VERIFIED_TOKENS", 3)
    decode, checked = jwt.decode, []

    def counted(token: str, *args: Any, **kwargs: Any) -> Any:
        checked.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counted)
    with Issuer() as issuer:
        tokens = [issuer.token() for _ in range(4)]
        sent = [0, 0, 1, 2, 0, 3, 0, 3]  # the fourth pushes the first out
        async with serve(issuer) as client:
            answers = [await client.get("/items", headers=bearer(tokens[n])) for n in sent]

    assert [answer.status_code for answer in answers] == [200] * len(sent)
    assert checked == [tokens[n] for n in (0, 1, 2, 3, 0)]


async def test_a_token_taken_before_is_refused_once_past_its_expiry_and_the_leeway(
    serve: Serve,
) -> None:
    with Issuer() as issuer:
        async with serve(issuer, oidc_leeway=1) as client:
            expires = int(time.time()) + 2
            token = bearer(issuer.token(exp=expires))
            taken = await client.get("/items", headers=token)
            await asyncio.sleep(expires + 1 - time.time() + 0.1)
            refused = await client.get("/items", headers=token)

    assert taken.status_code == 200
    assert refused.status_code == 401
    assert refused.json()["detail"] == "The access token has expired"


async def test_the_service_will_not_start_without_its_provider(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"oidc_issuer": ""}))

    with pytest.raises(ValueError, match="OIDC_ISSUER and OIDC_AUDIENCE must be set"):
        async with app.router.lifespan_context(app):
            pass


@pytest.mark.parametrize(
    "issuer",
    ["http://login.example.com/realms/items", "login.example.com", "https://"],
)
def test_an_issuer_that_is_not_https_is_refused(issuer: str) -> None:
    with pytest.raises(ValidationError, match="expected an https URL"):
        Settings(oidc_issuer=issuer)

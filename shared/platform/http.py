"""HTTP functions: one FastAPI route per Lambda function, run through Mangum.

``HttpFunction`` is the declaration (method, path, auth, roles) and the transport: it builds the
function's FastAPI app, maps every error to an RFC 9457 problem in exactly one place
(:class:`ProblemRoute` and :func:`problem_response`), and stamps ``X-Request-Id`` on every
response, plus the CORS headers when a frontend origin is configured (``FRONTEND_ORIGIN``).
"""

from __future__ import annotations

# Before anything imports FastAPI: its own models built on first use (``framework``).
from shared.platform import framework  # noqa: F401

# isort: split
import base64
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, get_type_hints

from fastapi import APIRouter, Cookie, FastAPI, Header, Request
from fastapi import Depends as Depends  # the handlers take FastAPI's names from here
from fastapi import Query as Query
from fastapi.dependencies.utils import get_flat_params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.responses import Response as Response
from fastapi.routing import APIRoute
from mangum import Mangum
from pydantic import BeforeValidator
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.platform import db, snapstart
from shared.platform.declare import CACHE, Access, Function, Route
from shared.platform.errors import (
    PROBLEM_CONTENT_TYPE,
    AppError,
    FieldError,
    Forbidden,
    Problem,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    problem_for,
)
from shared.platform.identity import Principal, Role
from shared.platform.observability import (
    RATE_LIMITED,
    REQUEST_ID_HEADER,
    count,
    failure_keys,
    is_sane_request_id,
    log_failure,
    logger,
    request_id_var,
    set_request_id,
    set_user_id,
)
from shared.platform.settings import Cors, Limits, Observability, Settings, get_settings

if TYPE_CHECKING:
    from shared.platform.ratelimit import Decision

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
R = TypeVar("R")


def _no_pydantic_v1_import() -> None:
    """Keep FastAPI from importing ``pydantic.v1`` to ask whether a model is a v1 one.

    FastAPI checks every response model (and ``jsonable_encoder`` every object) against
    ``pydantic.v1.BaseModel``, importing ``pydantic.v1`` to do so: about a fifth of /health's
    import time, for a question whose answer is no unless something else imported
    ``pydantic.v1`` already (a v1 model cannot exist without it). The same checks, asking only
    when it is loaded; nothing changes where FastAPI no longer has these helpers."""
    import sys

    from fastapi import encoders
    from fastapi._compat import shared as compat

    def is_v1_class(cls: Any) -> bool:
        v1 = sys.modules.get("pydantic.v1")
        return v1 is not None and compat.lenient_issubclass(cls, v1.BaseModel)

    def is_v1_instance(obj: Any) -> bool:
        v1 = sys.modules.get("pydantic.v1")
        return v1 is not None and isinstance(obj, v1.BaseModel)

    if hasattr(compat, "is_pydantic_v1_model_class"):
        compat.is_pydantic_v1_model_class = is_v1_class
    for module in (compat, encoders):
        if hasattr(module, "is_pydantic_v1_model_instance"):
            module.is_pydantic_v1_model_instance = is_v1_instance  # type: ignore[attr-defined]


_no_pydantic_v1_import()


def _remember_per_field(fn: Callable[[Any], R]) -> Callable[[Any], R]:
    """``fn`` answering once per argument (by identity: fields and annotations are not all
    hashable), then from memory; bounded, as tests build many apps in one process."""
    answers: dict[int, tuple[Any, R]] = {}

    def remembered(arg: Any, **kwargs: Any) -> R:
        if kwargs:
            return fn(arg, **kwargs)
        known = answers.get(id(arg))
        if known is None or known[0] is not arg:
            if len(answers) >= 4096:
                answers.clear()
            known = answers[id(arg)] = (arg, fn(arg))
        return known[1]

    return remembered


def _remember_param_introspection() -> None:
    """Keep FastAPI from inspecting each parameter's declaration again on every request.

    For every query, header and cookie parameter of every request, FastAPI asks again whether
    its annotation is a sequence, whether it is a model and which aliases it has: answers
    that depend only on the route's declaration, made once at import. About a third of the
    cost of reading a route's parameters (10 µs each, most of it these questions); the
    answers are FastAPI's own, remembered. Nothing changes where FastAPI no longer has
    these helpers."""
    from fastapi.dependencies import utils

    for name in ("field_annotation_is_sequence", "_get_param_model", "_get_param_aliases"):
        if hasattr(utils, name):
            setattr(utils, name, _remember_per_field(getattr(utils, name)))


_remember_param_introspection()

# ---- browser session mode ----------------------------------------------------------------------
# With ``X-Session-Mode: cookie`` the refresh token travels only in an HttpOnly cookie scoped to
# /auth, so no script of the page can read it; the access token stays in the page's memory. The
# header is what a cross-site form cannot send, so the cookie alone never refreshes anything
# (the auth handlers: functions/auth/login, refresh, logout).

SESSION_MODE_HEADER = "X-Session-Mode"
REFRESH_COOKIE = "stratus_refresh"
REFRESH_COOKIE_PATH = "/auth"

SessionMode = Annotated[
    Literal["cookie"] | None,
    Header(
        alias=SESSION_MODE_HEADER,
        description="`cookie`: browser session mode, the refresh token travels only in the "
        f"`{REFRESH_COOKIE}` cookie (HttpOnly, Secure, SameSite=Strict, Path=/auth).",
    ),
]
RefreshCookie = Annotated[
    str | None,
    Cookie(
        alias=REFRESH_COOKIE,
        max_length=512,
        description=f"The refresh token; read only with `{SESSION_MODE_HEADER}: cookie`.",
    ),
]


def refresh_cookie(token: str, *, max_age: int) -> str:
    """The ``Set-Cookie`` value carrying ``token``; ``max_age=0`` with an empty token clears it."""
    return (
        f"{REFRESH_COOKIE}={token}; Max-Age={max_age}; Path={REFRESH_COOKIE_PATH}; "
        "HttpOnly; Secure; SameSite=Strict"
    )


CLEARED_REFRESH_COOKIE = refresh_cookie("", max_age=0)

#: What a browser on the frontend's origin may send (the preflight's allowed headers), and what
#: it may read from a response besides the CORS-safelisted ones. The one list: the CDK app's
#: CORS options, the local runner's preflight and every function's response use it.
CORS_ALLOW_HEADERS: tuple[str, ...] = (
    "Authorization",
    "Content-Type",
    REQUEST_ID_HEADER,
    SESSION_MODE_HEADER,
)
CORS_EXPOSE_HEADERS: tuple[str, ...] = (
    REQUEST_ID_HEADER,
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Retry-After",
    "WWW-Authenticate",
)
#: How long a browser may cache a preflight answer (the CDK app's ``max_age``).
CORS_MAX_AGE_SECONDS = 3600


def cors_headers(origin: str) -> dict[str, str]:
    """The CORS headers of an actual (non-preflight) response for ``origin``. Bearer tokens, no
    cookies: no ``Access-Control-Allow-Credentials``."""
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": ",".join(CORS_EXPOSE_HEADERS),
    }


def vary_on_origin(response: dict[str, Any]) -> None:
    """Add ``Origin`` to the proxy result's ``Vary`` header, merging with one already there."""
    headers: dict[str, Any] = response["headers"]
    for container in (response.get("multiValueHeaders") or {}, headers):
        for name, value in container.items():
            if name.lower() != "vary":
                continue
            values = value if isinstance(value, list) else [value]
            tokens = {t.strip().lower() for v in values for t in str(v).split(",")}
            if not tokens & {"origin", "*"}:
                if isinstance(value, list):
                    value.append("Origin")
                else:
                    container[name] = f"{value}, Origin"
            return
    headers["Vary"] = "Origin"


def request_id_from_event(event: dict[str, Any]) -> str:
    """The caller's ``X-Request-Id`` when sane, else API Gateway's request id, else a new one."""
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == "x-request-id" and isinstance(value, str):
            if is_sane_request_id(value):
                return value
            break
    generated = (event.get("requestContext") or {}).get("requestId")
    if is_sane_request_id(generated):
        return generated
    return str(uuid.uuid4())


def current_request_id() -> str:
    return request_id_var.get() or "unknown"


def problem_response(problem: Problem) -> JSONResponse:
    """The one place a problem becomes an HTTP response."""
    return JSONResponse(
        problem.body(),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_CONTENT_TYPE,
    )


def _validation_errors(exc: RequestValidationError) -> list[FieldError]:
    return [
        FieldError(loc=tuple(err.get("loc", ())), msg=str(err.get("msg", "Invalid value.")))
        for err in exc.errors()
    ]


def to_problem(exc: BaseException) -> Problem:
    """Map any exception raised while serving a request to the problem the client sees."""
    request_id = current_request_id()
    if isinstance(exc, RequestValidationError):
        return Problem(
            status=422,
            detail="The request is not valid.",
            request_id=request_id,
            errors=_validation_errors(exc),
        )
    if isinstance(exc, StarletteHTTPException):
        detail = {404: "No such resource.", 405: "Method not allowed on this resource."}
        return Problem(
            status=exc.status_code,
            detail=detail.get(exc.status_code, str(exc.detail)),
            request_id=request_id,
            headers=dict(exc.headers or {}),
        )
    if db.is_disconnect(exc):
        # Postgres went away and the request could not be repeated safely: retry later
        logger.warning("The database connection was lost", extra={"error": type(exc).__name__})
        exc = ServiceUnavailable("The database is unavailable: retry shortly.")
    if not isinstance(exc, AppError):
        log_failure("Unhandled error while serving the request", exc)
    return problem_for(exc, request_id)


class ProblemRoute(APIRoute):
    """A route whose every failure, validation and dependencies included, is a problem."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                db.begin_unit()
                try:
                    return await original(request)
                except Exception as exc:
                    # A pooled connection that died (a terminated backend, a failover) before
                    # anything committed: the request runs once more, on a fresh connection
                    if not db.retryable(exc):
                        raise
                    db.log_retry(exc)
                    db.begin_unit()
                    return await original(request)
            except Exception as exc:
                return problem_response(to_problem(exc))

        return handler


async def _http_exception(_: Request, exc: Exception) -> Response:
    return problem_response(to_problem(exc))


def build_app(*routers: APIRouter, **kwargs: Any) -> FastAPI:
    """A FastAPI app serving ``routers``, with unknown routes mapped to problems too.

    Their routes are the app's own, not included routers: an included router is matched, then
    matched again to be handled, on every request, for prefixes and shared dependencies
    that these routers never declare. FastAPI's own OpenTelemetry is off (the functions trace
    with X-Ray): otherwise every request asks the OpenTelemetry API for its three providers."""
    kwargs.setdefault("telemetry", {"tracing": False, "metrics": False, "logs": False})
    kwargs.setdefault("openapi_url", None)
    kwargs.setdefault("docs_url", None)
    kwargs.setdefault("redoc_url", None)
    app = FastAPI(routes=[route for router in routers for route in router.routes], **kwargs)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    return app


# ---- the caller --------------------------------------------------------------------------------


# ---- text that is not text ---------------------------------------------------------------------
# The contract: text in every body and query field is valid Unicode without NUL, else 422. Checked
# here, on the event, before the app decodes anything: a JSON ``"\u0000"`` or a lone surrogate
# (``"\ud800"``) would otherwise reach the database (a 500, the statement logged), and bytes that
# are not UTF-8 would be decoded with U+FFFD and stored so. The local gateway hands such bytes on
# as they came (a base64 body, query values with lone surrogates: ``local.gateway``).

_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")
NOT_UTF8 = "Not valid UTF-8."
NOT_TEXT = "Text must be valid Unicode without NUL (U+0000)."


def _strings(value: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string of a decoded JSON document (keys included) with its location."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [(loc, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            for key, child in item.items():
                here = (*where, _NOT_TEXT.sub("?", key))
                yield here, key
                stack.append((here, child))
        elif isinstance(item, list):
            stack.extend(((*where, i), child) for i, child in enumerate(item))


def text_errors(event: dict[str, Any]) -> list[FieldError]:
    """Where the request's query, path parameters and body hold something that is not text."""
    errors: list[FieldError] = []
    for part, params in (
        ("query", event.get("multiValueQueryStringParameters") or {}),
        ("query", event.get("queryStringParameters") or {}),
        ("path", event.get("pathParameters") or {}),
    ):
        for name, values in params.items():
            items = values if isinstance(values, list) else [values]
            if any(_NOT_TEXT.search(str(v)) for v in (name, *items)):
                error = FieldError(loc=(part, _NOT_TEXT.sub("?", str(name))), msg=NOT_TEXT)
                if error not in errors:
                    errors.append(error)
    body = event.get("body")
    if not body:
        return errors
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body)
        except ValueError:
            return [*errors, FieldError(loc=("body",), msg="Not valid base64.")]
    else:
        raw = str(body).encode("utf-8", "surrogatepass")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return [*errors, FieldError(loc=("body",), msg=NOT_UTF8)]
    if "\\" not in text and not _NOT_TEXT.search(text):
        return errors  # no escape and no bad character: nothing to decode into one
    try:
        document = json.loads(text)
    except ValueError:
        return errors  # not JSON: the route says so (a 422 of its own)
    for where, string in _strings(document, ("body",)):
        if _NOT_TEXT.search(string):
            errors.append(FieldError(loc=where, msg=NOT_TEXT))
    return errors


# ---- pagination parameters ---------------------------------------------------------------------


_DECIMAL_DIGITS = re.compile("[0-9]{1,9}")


def _decimal_digits(value: object) -> object:
    """A query integer is decimal digits and nothing else: not ``1.0``, `` 5``, ``+5`` or
    ``5_0``, which a lax int would take."""
    if isinstance(value, str) and not _DECIMAL_DIGITS.fullmatch(value):
        raise ValueError("an integer in decimal digits")
    return value


#: ``?limit=``: 1-100, default 20 (the contract's pagination).
PageLimit = Annotated[int, Query(ge=1, le=100), BeforeValidator(_decimal_digits)]
#: ``?cursor=``: the opaque cursor of the previous page.
PageCursor = Annotated[str | None, Query(max_length=1024)]


def principal_from_event(event: dict[str, Any]) -> Principal:
    """Read the principal from ``requestContext.authorizer``; functions never parse tokens."""
    context = (event.get("requestContext") or {}).get("authorizer") or {}
    try:
        return Principal(
            user_id=context.get("sub"),
            role=context.get("role"),
            jti=context.get("jti") or None,
            expires_at=context.get("exp") or None,
        )
    except ValueError:
        raise Unauthorized() from None


async def _current_principal(request: Request) -> Principal:
    return principal_from_event(request.scope.get("aws.event") or {})


CurrentPrincipal = Annotated[Principal, Depends(_current_principal)]


def _takes_principal(hints: dict[str, Any]) -> bool:
    """Whether an endpoint (its type hints, extras included) has a :data:`CurrentPrincipal`
    parameter: it then refuses a request without a principal by itself, before its other
    parameters are read, and needs no route dependency to do so (one fewer to solve on every
    request)."""
    return any(
        getattr(meta, "dependency", None) is _current_principal
        for name, hint in hints.items()
        if name != "return"
        for meta in getattr(hint, "__metadata__", ())
    )


def _problem_content(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


class HttpFunction(Function):
    """An API Gateway route served by one FastAPI endpoint through Mangum."""

    def __init__(
        self,
        *,
        method: str,
        path: str,
        auth: bool = True,
        roles: tuple[Role, ...] = (),
        status_code: int = 200,
        needs: tuple[Access, ...] = (),
        settings: type[Settings] = Observability,
        timeout_seconds: int = 10,
        memory_mb: int = 512,
        rate_limited: bool = True,
        errors: tuple[int, ...] = (),
    ) -> None:
        self.rate_limited = rate_limited
        self.errors = errors  # the problem statuses the logic may raise, for the OpenAPI document
        super().__init__(
            trigger=Route(method.upper(), path, auth, roles, status_code),
            needs=tuple(dict.fromkeys((*needs, CACHE) if rate_limited else needs)),
            settings=settings,
            timeout_seconds=timeout_seconds,
            memory_mb=memory_mb,
        )
        self.router = APIRouter(route_class=ProblemRoute)
        self._mangum: Mangum | None = None

    @property
    def route(self) -> Route:
        assert isinstance(self.trigger, Route)
        return self.trigger

    def endpoint(self, fn: F) -> F:
        """Register ``fn`` (an ``async def``) as this function's one route."""
        route = self.route
        hints = get_type_hints(fn, include_extras=True)
        dependencies = []
        if route.auth and route.roles:
            dependencies = [Depends(self._require_roles)]
        elif route.auth and not _takes_principal(hints):
            dependencies = [Depends(_current_principal)]
        responses: dict[int | str, dict[str, Any]] = {
            status: _problem_content(HTTPStatus(status).phrase) for status in self.errors
        }
        if self.rate_limited:
            responses[429] = _problem_content("Too many requests")
        responses[500] = _problem_content("Something failed")
        if route.auth:
            responses[401] = _problem_content("Missing, invalid, expired or revoked token")
            responses[503] = _problem_content("Authentication is unavailable: retry shortly")
        if route.roles:
            responses[403] = _problem_content("The caller's role may not do this")
        responses[422] = _problem_content("Invalid input")
        summary, _, description = (fn.__doc__ or "").strip().partition("\n")
        self.description = summary
        returned = hints.get("return")
        # An endpoint that answers a bare Response (202, 204) sends no body: declare none.
        bare = isinstance(returned, type) and issubclass(returned, Response)
        extra: dict[str, Any] = {"response_class": Response} if bare else {}
        self.router.add_api_route(
            route.path,
            fn,
            methods=[route.method],
            status_code=route.status_code,
            summary=summary or None,
            description=description.strip() or None,
            dependencies=dependencies,
            responses=responses,
            openapi_extra={"security": [{"bearerAuth": []}]} if route.auth else None,
            **extra,
        )
        added = self.router.routes[-1]
        assert isinstance(added, APIRoute)
        if not get_flat_params(added.dependant) and added.body_field is None:
            added.responses.pop(422, None)  # nothing the caller sends can be invalid
        return fn

    async def _require_roles(self, request: Request) -> None:
        """Refuse a caller without a principal (401) or outside the declared roles (403).

        It reads the principal itself rather than depending on :data:`CurrentPrincipal`: a
        nested dependency costs FastAPI a whole dependency solve on every request, more than
        reading the principal twice."""
        principal = await _current_principal(request)
        if principal.role not in self.route.roles:
            raise Forbidden("Your role may not do this.")

    @property
    def app(self) -> FastAPI:
        return build_app(self.router)

    def _adapter(self) -> Mangum:
        """The function's FastAPI app behind Mangum, built once."""
        if self._mangum is None:
            self._mangum = Mangum(
                self.app,
                lifespan="off",
                text_mime_types=["application/json", PROBLEM_CONTENT_TYPE, "text/"],
            )
        return self._mangum

    def prime(self) -> None:
        """Before a SnapStart snapshot: the app and its adapter built, and one synthetic request
        served through them that touches no store (``shared.platform.snapstart``)."""
        super().prime()
        snapstart.prime([self._prime_request])

    def _prime_request(self) -> int:
        """Serve one request that no store answers: the route itself when it must refuse it
        before its endpoint runs (no principal on an authenticated route, no body where one is
        required) or when the function needs no store; else an unknown path (a 404)."""
        if self.rate_limited:
            from shared.platform import ratelimit  # noqa: F401 - imported before the snapshot
        route = self.route
        added = self.router.routes[-1] if self.router.routes else None
        body = added.body_field if isinstance(added, APIRoute) else None
        body_required = body is not None and body.field_info.is_required()
        stores = self.need_kinds & {"database", "cache", "vectors"}
        own_route = route.auth or body_required or not stores
        path = route.path if own_route else "/__snapstart_priming__"
        for name in route.path_params:
            path = path.replace("{" + name + "}", "00000000-0000-4000-8000-000000000000")
        event = {
            "resource": route.path if own_route else path,
            "path": path,
            "httpMethod": route.method,
            "headers": {"Content-Type": "application/json"},
            "multiValueHeaders": {"Content-Type": ["application/json"]},
            "queryStringParameters": None,
            "multiValueQueryStringParameters": None,
            "pathParameters": None,
            "requestContext": {
                "requestId": "snapstart-priming",
                "resourcePath": route.path,
                "httpMethod": route.method,
                "path": path,
                "stage": "priming",
                "identity": {"sourceIp": "127.0.0.1"},
            },
            "body": None,
            "isBase64Encoded": False,
        }
        context: Any = None  # Mangum only hands it to the app, which reads no context
        status = int(self._adapter()(event, context)["statusCode"])
        if status >= 500:
            logger.warning("SnapStart priming request failed", extra={"status": status})
        return status

    def invoke(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        origin = get_settings(Cors).frontend_origin  # validated before anything runs
        response = self._respond(event, context)
        if origin is not None:
            # Every result, refusals and Mangum's own 500 included. An exception escaping here
            # is a Lambda error: API Gateway answers it with its 5XX response, CORS included.
            response["headers"].update(cors_headers(origin))
            vary_on_origin(response)
        return response

    def _respond(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        request_id = request_id_from_event(event)
        set_request_id(request_id)
        set_user_id(_user_id_of(event))
        limit_headers: dict[str, str] = {}
        if self.rate_limited:
            decision = _rate_limit(event)
            if decision is not None:
                limit_headers = decision.headers()
                if not decision.allowed:
                    count(RATE_LIMITED)
                    refusal = TooManyRequests(
                        "Too many requests: slow down.", retry_after=decision.retry_after
                    )
                    return _problem_result(to_problem(refusal), request_id, limit_headers)
        bad_text = text_errors(event)
        if bad_text:
            invalid = Problem(
                status=422,
                detail="The request is not valid.",
                request_id=request_id,
                errors=bad_text,
            )
            return _problem_result(invalid, request_id, limit_headers)
        response: dict[str, Any] = self._adapter()(event, context)
        headers = response.get("headers")
        if headers is None:
            headers = response["headers"] = {}
        headers[REQUEST_ID_HEADER] = request_id
        headers.update(limit_headers)
        return response


def _rate_limit(event: dict[str, Any]) -> Decision | None:
    """Count this request against its caller's budget: per user, per client IP when anonymous.

    Fails open: with Redis unreachable the request goes on, without RateLimit headers."""
    from shared.platform import cache, ratelimit

    context = event.get("requestContext") or {}
    user_id = (context.get("authorizer") or {}).get("sub")
    client_ip = (context.get("identity") or {}).get("sourceIp")
    limit = get_settings(Limits).rate_limit_per_minute
    try:
        key = ratelimit.key_for(user_id=user_id, client_ip=client_ip)
        return ratelimit.hit(cache.redis(), key, limit=limit)
    except ratelimit.RateLimitUnavailable as exc:
        logger.warning("Rate limiter unavailable: failing open", extra=failure_keys(exc))
        return None


def _user_id_of(event: dict[str, Any]) -> str | None:
    """The caller's user id, when the authorizer named one (a log key, not an identity)."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    sub = authorizer.get("sub") if isinstance(authorizer, dict) else None
    return sub if is_sane_request_id(sub) else None


def _problem_result(problem: Problem, request_id: str, headers: dict[str, str]) -> dict[str, Any]:
    """A Lambda proxy result for ``problem``, for refusals made before the app runs."""
    return {
        "statusCode": problem.status,
        "headers": {
            "Content-Type": PROBLEM_CONTENT_TYPE,
            **problem.headers,
            **headers,
            REQUEST_ID_HEADER: request_id,
        },
        "body": json.dumps(problem.body()),
        "isBase64Encoded": False,
    }

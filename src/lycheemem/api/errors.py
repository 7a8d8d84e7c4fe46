"""Translate exceptions to the one error body of API.md §1.4."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lycheemem.errors import AuthError, InvalidToken, LycheeMemError, RateLimited

__all__ = ["error_response", "install_error_handlers"]

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "auth_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "not_ready",
}


def _trace_id(request: Request) -> str:
    return getattr(request.state, "trace_id", "")


def error_response(
    request: Request, status: int, code: str, detail: Any, headers: dict[str, str] | None = None
) -> JSONResponse:
    """Build ``{"detail", "code", "trace_id"}`` with the given status."""
    body = {"detail": detail, "code": code, "trace_id": _trace_id(request)}
    return JSONResponse(jsonable_encoder(body), status_code=status, headers=headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LycheeMemError)
    headers: dict[str, str] = {}
    if isinstance(exc, InvalidToken):
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    elif isinstance(exc, AuthError) and exc.code == "auth_required":
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if exc.status >= 500:
        log.error("request failed: %s: %s", exc.code, exc.message)
        detail = exc.message if exc.status in (502, 503) else "Internal server error"
        return error_response(request, exc.status, exc.code, detail, headers)
    return error_response(request, exc.status, exc.code, exc.message, headers)


def _clean_errors(errors: list[Any]) -> list[dict[str, Any]]:
    cleaned = []
    for error in errors:
        item = {
            "loc": list(error.get("loc", [])),
            "msg": error.get("msg", ""),
            "type": error.get("type", ""),
        }
        cleaned.append(item)
    return cleaned


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(request, 422, "validation_error", _clean_errors(list(exc.errors())))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    return error_response(request, exc.status_code, code, exc.detail, dict(exc.headers or {}))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error (trace %s)", _trace_id(request))
    return error_response(request, 500, "internal_error", "Internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the same body shape."""
    app.add_exception_handler(LycheeMemError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)

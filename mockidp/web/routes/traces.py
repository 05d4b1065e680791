"""GET /_mockidp/traces/{id} and /_mockidp/traces: decision traces as JSON, from any worker or replica.

Read-only, like the console, and they hold no secret (oauth/trace.py keeps names and ids only). A trace
another worker made reaches the database within FLUSH_EVERY (directory/traces.py): a read waits up to
twice that for an id it does not find yet."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from mockidp.directory.traces import FLUSH_EVERY, LIST_LIMIT, TraceStore
from mockidp.web.responses import NO_STORE, json_response
from mockidp.web.runtime import Runtime, dump, runtime_of

router = APIRouter(prefix="/_mockidp", tags=["mockidp"])
_ID = re.compile(r"^[0-9A-Za-z-]{1,64}$")
_FILTER = re.compile(r"^[0-9A-Za-z._ -]{0,64}$")


def _problem(rt: Runtime, status: int, code: str, message: str) -> Response:
    return json_response(dump({"error": code, "message": message}), request_id=rt.services.ids.guid(),
                         headers=NO_STORE, status=status)


async def find_trace(rt: Runtime, store: TraceStore, trace_id: str) -> dict[str, Any] | None:
    """This worker's waiting traces are written first; another worker's may take up to FLUSH_EVERY."""
    if not _ID.match(trace_id):
        return None
    await run_in_threadpool(store.flush)
    for _ in range(5):
        found = await run_in_threadpool(store.get, trace_id.lower())
        if found is not None:
            return found
        await asyncio.sleep(FLUSH_EVERY / 2)
    return None


def _off(rt: Runtime) -> Response:
    return _problem(rt, 404, "traces_off", "This mockidp runs with --no-traces: no decision trace is recorded.")


@router.get("/traces/{trace_id}")
async def get_trace(request: Request, trace_id: str) -> Response:
    rt = runtime_of(request)
    if rt.traces is None:
        return _off(rt)
    found = await find_trace(rt, rt.traces, trace_id)
    if found is None:
        named = f" '{trace_id}'" if _ID.match(trace_id) else ""  # never echo what is not an id
        return _problem(rt, 404, "trace_not_found",
                        f"No trace{named}: it never existed, or is older than the retention "
                        "(a day, and the newest 10,000).")
    return json_response(dump(found), request_id=rt.services.ids.guid(), headers=NO_STORE)


@router.get("/traces/{trace_id}/apim")
async def get_apim_trace(request: Request, trace_id: str) -> Response:
    """A gateway request's trace in APIM's layout (traceId, traceEntries by section): where the gateway's
    Ocp-Apim-Trace-Location points (web/gateway/trace.py)."""
    rt = runtime_of(request)
    if rt.traces is None:
        return _off(rt)
    found = await find_trace(rt, rt.traces, trace_id)
    if found is None or "apim" not in found:
        named = f" '{trace_id}'" if _ID.match(trace_id) else ""
        return _problem(rt, 404, "trace_not_found",
                        f"No gateway trace{named}: it never existed, is no gateway request's, or is older than the "
                        "retention (a day, and the newest 10,000).")
    return json_response(dump(found["apim"]), request_id=rt.services.ids.guid(), headers=NO_STORE)


@router.get("/traces")
async def list_traces(request: Request) -> Response:
    rt = runtime_of(request)
    if rt.traces is None:
        return _off(rt)
    q = request.query_params
    client_id, outcome, limit_text = q.get("client_id", ""), q.get("outcome", ""), q.get("limit", "50")
    if not _FILTER.match(client_id) or not _FILTER.match(outcome):
        return _problem(rt, 400, "invalid_filter", "client_id and outcome are ids or codes (e.g. AADSTS501051).")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= LIST_LIMIT:
        return _problem(rt, 400, "invalid_limit", f"limit is a whole number from 1 to {LIST_LIMIT}.")
    store = rt.traces
    await run_in_threadpool(store.flush)
    rows = await run_in_threadpool(lambda: store.recent(client_id=client_id.lower(), outcome=outcome,
                                                        limit=int(limit_text)))
    body = {"value": [{"id": r.trace_id, "startedAt": r.created_at, "endpoint": r.endpoint, "status": r.status,
                       "clientId": r.client_id, "outcome": r.outcome} for r in rows]}
    return json_response(dump(body), request_id=rt.services.ids.guid(), headers=NO_STORE)

"""Our HTTP endpoints for a template SMS provider's pushes (delivery reports, replies), for any provider.

Neither Aliyun nor Tencent signs its pushes, so each endpoint is authenticated by what we can check:

- a secret token in the path (``/sms/<provider>/<token>/<kind>``), given only in the provider's console;
  a wrong token is answered 404, as for a page that does not exist;
- when ``sources`` lists networks, the push must come from one of them (the provider's callback egress;
  behind our reverse proxy, the last X-Forwarded-For hop not ours, as http.trusted_proxies says);
- a report only settles a message we submitted, with its leg id when the provider carries it, and the
  same report twice is recorded once (callcenter.channels.sms_ledger); a reply only goes through
  SmsReplies' rules (the sender's own open alert), and the same reply twice is answered once.

docs/security.md lists these rows.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from callcenter.channels.replies import SmsReplies
from callcenter.channels.template_sms import InboundReply
from contacts.phones import mask_phone

__all__ = ["PushEndpoint", "PushGate", "ReplyInbox", "push_router"]

log = logging.getLogger(__name__)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class PushGate:
    token: str
    sources: Sequence[Network] = ()
    trusted_proxies: Sequence[Network] = ()

    def token_ok(self, presented: str) -> bool:
        return bool(self.token) and hmac.compare_digest(presented.encode(), self.token.encode())

    def source_ok(self, peer: str, forwarded: Sequence[str]) -> bool:
        if not self.sources:
            return True
        return _within(self._client(peer, forwarded), self.sources)

    def _client(self, peer: str, forwarded: Sequence[str]) -> str:
        if not _within(peer, self.trusted_proxies):
            return peer
        hops = [hop.strip() for value in forwarded for hop in value.split(",")]
        return next((hop for hop in reversed(hops) if not _within(hop, self.trusted_proxies)), peer)


def _within(text: str, networks: Sequence[Network]) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return any(address in network for network in networks)


@dataclass(frozen=True, slots=True)
class PushEndpoint:
    """One push: ``handle`` takes the parsed JSON body (raises ValueError when it is not the provider's
    shape); ``answer`` is the body the provider expects back for "received"."""

    handle: Callable[[Any], object]
    answer: Mapping[str, Any]
    summary: str


def push_router(provider: str, gate: PushGate, endpoints: Callable[[], Mapping[str, PushEndpoint]],
                kinds: Sequence[str]) -> APIRouter:
    """POST /sms/<provider>/<token>/<kind> for each of ``kinds``; ``endpoints`` is asked at the first push."""
    router = APIRouter(prefix=f"/sms/{provider}", tags=[f"{provider}-sms"])
    for kind in kinds:
        router.add_api_route("/{token}/" + kind, _endpoint(provider, kind, gate, endpoints), methods=["POST"],
                             summary=f"{provider} push: {kind}", include_in_schema=False)
    return router


def _endpoint(provider: str, kind: str, gate: PushGate, endpoints: Callable[[], Mapping[str, PushEndpoint]]
              ) -> Callable[..., object]:
    async def endpoint(token: str, request: Request) -> JSONResponse:
        peer = request.client.host if request.client else ""
        if not gate.token_ok(token):
            log.warning("%s %s push refused: wrong token (from %s)", provider, kind, peer)
            raise HTTPException(404, "Not Found")
        if not gate.source_ok(peer, request.headers.getlist("x-forwarded-for")):
            log.warning("%s %s push refused: source %s is not a configured push source", provider, kind, peer)
            raise HTTPException(403, "push source not allowed")
        push = endpoints()[kind]
        try:
            body = json.loads(await request.body())
            await run_in_threadpool(push.handle, body)
        except (ValueError, KeyError, TypeError) as exc:
            raise HTTPException(400, f"not a {provider} {kind} push: {exc}") from None
        return JSONResponse(dict(push.answer))
    return endpoint


class ReplyInbox:
    """Replies pushed or pulled from one provider: each goes through the reply rules once.

    The text SmsReplies returns cannot go back through a provider that sends only approved templates;
    it is logged, and the responder's phone shows the acknowledgement on the next alert instead."""

    def __init__(self, provider: str, replies: Callable[[], SmsReplies], memory: int = 10_000) -> None:
        self.provider, self._replies, self.memory = provider, replies, memory
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, replies: Sequence[InboundReply]) -> None:
        for reply in replies:
            if self._first(reply.key):
                answer = self._replies().answer(reply.sender, reply.body)
                log.info("%s reply from %s answered; confirmation not sent (approved templates only): %s",
                         self.provider, mask_phone(reply.sender), answer[:20])

    def _first(self, key: str) -> bool:
        with self._lock:
            if key in self._seen:
                return False
            self._seen[key] = None
            while len(self._seen) > self.memory:
                self._seen.popitem(last=False)
            return True

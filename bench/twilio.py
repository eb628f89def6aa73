"""Twilio send rates: a level-0 fan-out of 20 SMS + 20 alert calls through the local emulator.

    .venv/bin/python -m bench.twilio            # default: 20 + 20 legs at 1/s and at 10/s

Every leg is handed to the real Twilio channels at once (as the engine's dispatch workers do); the
channels pace them per sender number and per account. Reported: time until the last leg was
accepted, per-leg time from hand-over to Twilio's acceptance (p50/p99), next to the theoretical
minimum for the rate (the i-th leg cannot go before i/rate), and the most requests the emulator saw
arrive within any one second, per sender number and per account — the proof the limits held.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from callcenter.domain.messages import MessageFacts
from callcenter.domain.types import Channel, LegPurpose, Recipient
from callcenter.service.ports import LegOrder
from callcenter.twilio.channels import RetryPolicy, TwilioCallChannel, TwilioSmsChannel, WebhookUrls
from callcenter.twilio.client import TwilioRestApi, make_client
from callcenter.twilio.pacing import Rates, SendPacer
from tests.twilio_emulator import Emulator

CALL_FROM, SMS_FROM = "+14155550100", "+14155550200"
NO_WEBHOOKS = "http://127.0.0.1:9"  # callbacks are refused at once: only submission is measured here


@dataclass(frozen=True)
class Result:
    kind: str
    rate: float
    legs: int
    last_s: float
    p50_s: float
    p99_s: float
    max_per_number: int
    max_per_account: int

    @property
    def ideal_last_s(self) -> float:
        return (self.legs - 1) / self.rate

    @property
    def ideal_p50_s(self) -> float:
        return statistics.median(i / self.rate for i in range(self.legs))


def _orders(kind: Channel, legs: int) -> list[LegOrder]:
    facts = MessageFacts("三组 张桂兰家", "张家村三组1号", "0717-6100000", datetime.now(UTC), "火灾")
    return [LegOrder(f"bench/+86139000{i:05d}/{kind}/alert/1", "bench", kind, LegPurpose.ALERT, 1,
                     Recipient(f"邻居{i}", f"+86139000{i:05d}", "household_contact"), "【995求助】…", facts)
            for i in range(legs)]


def _fan_out(channel: TwilioCallChannel | TwilioSmsChannel, orders: list[LegOrder]) -> tuple[float, list[float]]:
    start = time.monotonic()

    def send(order: LegOrder) -> float:
        channel.send(order)
        return time.monotonic() - start

    with ThreadPoolExecutor(len(orders)) as pool:
        latencies = list(pool.map(send, orders))
    return max(latencies), sorted(latencies)


def run(rate: float, legs: int) -> list[Result]:
    results = []
    with Emulator() as emulator:
        api = TwilioRestApi(make_client(emulator.account_sid, emulator.auth_token, emulator.base_url, 5.0))
        urls, retry = WebhookUrls(NO_WEBHOOKS), RetryPolicy()
        channels: dict[str, TwilioCallChannel | TwilioSmsChannel] = {
            "call": TwilioCallChannel(api, SendPacer([CALL_FROM], Rates(rate, rate)), urls, retry),
            "sms": TwilioSmsChannel(api, SendPacer([SMS_FROM], Rates(rate, rate)), urls, retry),
        }
        with ThreadPoolExecutor(2) as pool:
            runs = {kind: pool.submit(_fan_out, channel, _orders(Channel(kind), legs))
                    for kind, channel in channels.items()}
            for kind, future in runs.items():
                last, latencies = future.result()
                sender = CALL_FROM if kind == "call" else SMS_FROM
                results.append(Result(kind, rate, legs, last, statistics.median(latencies),
                                      latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
                                      emulator.max_in_window(kind, sender), emulator.max_in_window(kind)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--legs", type=int, default=20, help="legs per channel (default 20)")
    parser.add_argument("--rates", type=float, nargs="+", default=[1.0, 10.0], help="sends per second")
    args = parser.parse_args()
    print("| channel | limit /s | legs | last accepted s | theoretical min s | p50 s | theoretical p50 s | p99 s "
          "| most in any 1 s (number / account) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rate in args.rates:
        for r in run(rate, args.legs):
            print(f"| {r.kind} | {r.rate:g} | {r.legs} | {r.last_s:.2f} | {r.ideal_last_s:.2f} | {r.p50_s:.2f} "
                  f"| {r.ideal_p50_s:.2f} | {r.p99_s:.2f} | {r.max_per_number} / {r.max_per_account} |")


if __name__ == "__main__":
    main()

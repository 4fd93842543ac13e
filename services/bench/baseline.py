"""The baseline: a bare dramatiq chain of five hops, one per message of a payment (apply,
take-in, review decision, authorization decision, interbank), each hop one Lua call writing
a hash, a history entry and a stream entry (as b2bpay's transition does), then enqueueing the
next hop. Its workers run as ``python -m services.bench.baseline QUEUE…`` processes, grouped
as b2bpay's stages are (apply | take-in + review | authorize | interbank).

Nothing of b2bpay is imported here: the chain is what dramatiq on Redis costs by itself.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from importlib import resources
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

#: The five hops' queues, in order.
HOPS: tuple[str, ...] = ("bl-apply", "bl-take-in", "bl-review", "bl-authorize", "bl-interbank")
#: Which hops one worker process consumes, as b2bpay's stages group them.
PROCESSES: tuple[tuple[str, ...], ...] = (
    ("bl-apply",),
    ("bl-take-in", "bl-review"),
    ("bl-authorize",),
    ("bl-interbank",),
)
_LUA = resources.files("services.bench").joinpath("baseline.lua").read_text()


def namespace(prefix: str) -> str:
    return f"{prefix}baseline-queues"


def events_key(prefix: str) -> str:
    return f"{prefix}baseline:events"


def broker_for(url: str, prefix: str) -> RedisBroker:
    broker = RedisBroker(url=url, namespace=namespace(prefix))  # type: ignore[no-untyped-call]
    for queue in HOPS:
        broker.declare_queue(queue)
    return broker


def send_first(broker: RedisBroker, chain_id: str) -> None:
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=HOPS[0], actor_name="hop_0", args=(chain_id,), kwargs={}, options={}
    )
    broker.enqueue(message)


def _declare(broker: RedisBroker, client: redis.Redis, prefix: str) -> None:
    script = client.register_script(_LUA)
    stream = events_key(prefix)

    def declare(index: int) -> None:
        def hop(chain_id: str) -> None:
            at = repr(time.time())
            keys = [
                f"{prefix}baseline:chain:{chain_id}",
                f"{prefix}baseline:history:{chain_id}",
                stream,
            ]
            script(keys=keys, args=[chain_id, index, at])
            if index + 1 < len(HOPS):
                nxt: dramatiq.Message[Any] = dramatiq.Message(
                    queue_name=HOPS[index + 1],
                    actor_name=f"hop_{index + 1}",
                    args=(chain_id,),
                    kwargs={},
                    options={},
                )
                broker.enqueue(nxt)

        hop.__name__ = f"hop_{index}"
        dramatiq.actor(broker=broker, queue_name=HOPS[index], actor_name=f"hop_{index}")(hop)

    for index in range(len(HOPS)):
        declare(index)


def main() -> int:
    parser = argparse.ArgumentParser(description="a baseline chain worker (b2bpay bench)")
    parser.add_argument("queues", nargs="+", choices=HOPS)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    url, prefix = os.environ["B2BPAY_BENCH_REDIS_URL"], os.environ["B2BPAY_BENCH_PREFIX"]
    broker = broker_for(url, prefix)
    dramatiq.set_broker(broker)
    _declare(broker, redis.Redis.from_url(url), prefix)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker = dramatiq.Worker(
        broker, queues=set(args.queues), worker_threads=args.threads, worker_timeout=100
    )
    worker.start()
    stop.wait()
    worker.stop(timeout=10_000)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

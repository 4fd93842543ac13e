"""Follows the events stream with the ``webhooks`` consumer group and records, for each
event of a platform's payment, one delivery per endpoint of that platform whose patterns
match the event's routing key. The entry is acknowledged only after its deliveries are
recorded (:class:`~shared.redis.group_consumer.GroupConsumer`); recording is idempotent, so
a re-read records nothing twice."""

from __future__ import annotations

import redis
import structlog

from services.webhooks.seams import OwnerOf
from shared.redis.group_consumer import CLAIM_IDLE_MS, Entries, GroupConsumer
from shared.redis.keys import Keys
from shared.redis.webhooks import Webhooks

GROUP = "webhooks"
log = structlog.get_logger()


def _stream_ms(stream_id: str) -> int:
    return int(stream_id.partition("-")[0])


class WebhookFollower(GroupConsumer):
    group = GROUP

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        webhooks: Webhooks,
        owner_of: OwnerOf,
        consumer: str | None = None,
        claim_idle_ms: int = CLAIM_IDLE_MS,
    ) -> None:
        super().__init__(client, keys, consumer, claim_idle_ms)
        self._webhooks = webhooks
        self._owner_of = owner_of

    def handle(self, entries: Entries) -> None:
        for sid, event in self.attached_events(entries):
            platform = self._owner_of(event.payment_id)
            if platform is None:
                continue
            payload = event.model_dump_json(by_alias=True)
            for endpoint in self._webhooks.of_platform(platform):
                # An endpoint gets what happened since it was added, not the stream's past.
                if _stream_ms(sid) < int(endpoint.created_at * 1000) or not endpoint.wants(event):
                    continue
                if self._webhooks.enqueue(endpoint, event, payload):
                    log.info(
                        "webhook delivery recorded",
                        endpoint_id=endpoint.endpoint_id,
                        event_id=event.event_id,
                        payment_id=event.payment_id,
                    )

from sqlalchemy import func, select

from revflow.db.models import ReceivedEvent
from revflow.ingest.events import parse_cometd
from revflow.ingest.repository import advance_checkpoint, get_checkpoint
from revflow.ingest.repository import insert_event as record_event


def msg(tx, seq, replay):
    return {
        "channel": "/data/OrderChangeEvent",
        "data": {
            "payload": {
                "ChangeEventHeader": {
                    "entityName": "Order",
                    "recordIds": ["8015e00000Q7mNpAAJ"],
                    "changeType": "UPDATE",
                    "transactionKey": tx,
                    "sequenceNumber": seq,
                    "changedFields": ["Status"],
                },
                "Status": "Activated",
            },
            "event": {"replayId": replay},
        },
    }


async def test_redelivered_event_is_recorded_once_and_checkpoint_moves(db):
    for replay in (10, 11):  # the same change delivered twice, under two replay ids
        ev = parse_cometd(msg("tx-1", 1, replay))
        async with db.write() as s:
            new = await record_event(s, ev)
            await advance_checkpoint(s, ev.channel, ev.replay_id)
        assert new is (replay == 10)
    async with db.read() as s:
        assert await s.scalar(select(func.count()).select_from(ReceivedEvent)) == 1
        assert await get_checkpoint(s, "/data/OrderChangeEvent") == "11"


async def test_failed_transaction_leaves_neither_event_nor_checkpoint(db):
    ev = parse_cometd(msg("tx-2", 1, 20))
    try:
        async with db.write() as s:
            await record_event(s, ev)
            await advance_checkpoint(s, ev.channel, ev.replay_id)
            raise RuntimeError("crash before commit")
    except RuntimeError:
        pass
    async with db.read() as s:
        assert await s.scalar(select(func.count()).select_from(ReceivedEvent)) == 0
        assert await get_checkpoint(s, ev.channel) is None

import pytest

from revflow.ingest.events import MalformedEvent, is_activation, is_echo, parse_cometd


def message(header_overrides=None, replay=184522, **fields):
    header = {
        "entityName": "Order",
        "recordIds": ["8015e00000Q7mNpAAJ"],
        "changeType": "UPDATE",
        "changeOrigin": "com/salesforce/api/rest/62.0",
        "transactionKey": "tx-1",
        "sequenceNumber": 1,
        "commitTimestamp": 1767268800000,
        "commitUser": "005A",
        "changedFields": ["Status", "LastModifiedDate"],
    }
    header.update(header_overrides or {})
    return {
        "channel": "/data/OrderChangeEvent",
        "data": {
            "schema": "x",
            "payload": {"ChangeEventHeader": header, **fields},
            "event": {"replayId": replay},
        },
    }


def test_dedupe_key_ignores_transport_replay_id():
    a = parse_cometd(message(replay=1, Status="Activated"))
    b = parse_cometd(message(replay=999, Status="Activated"))
    assert a.dedupe_key == b.dedupe_key == "cdc:tx-1:1:8015e00000Q7mNpAAJ"
    assert a.replay_id == "1"


def test_platform_event_key_is_event_uuid():
    ev = parse_cometd(
        {
            "channel": "/event/Order_Status__e",
            "data": {"payload": {"Status__c": "X"}, "event": {"replayId": 5, "EventUuid": "u-1"}},
        }
    )
    assert ev.dedupe_key == "pe:u-1"
    assert not ev.is_change_event


def test_activation_needs_status_among_changed_fields():
    assert is_activation(parse_cometd(message(Status="Activated")))
    assert not is_activation(
        parse_cometd(message({"changedFields": ["Description"]}, Status="Activated"))
    )
    assert not is_activation(parse_cometd(message(Status="Draft")))
    assert not is_activation(parse_cometd(message({"entityName": "Quote"}, Status="Activated")))


def test_echo_by_client_tag_or_integration_user():
    ours = parse_cometd(message({"changeOrigin": "com/salesforce/api/rest/62.0;client=revflow"}))
    theirs = parse_cometd(message())
    assert is_echo(ours, "revflow")
    assert not is_echo(theirs, "revflow")
    assert is_echo(theirs, "revflow", integration_user_id="005A")


@pytest.mark.parametrize(
    "bad",
    [
        {"channel": "/data/OrderChangeEvent"},
        {
            "channel": "/data/OrderChangeEvent",
            "data": {"payload": "nope", "event": {"replayId": 1}},
        },
        message({"sequenceNumber": "x"}),
        {
            "channel": "/data/OrderChangeEvent",
            "data": {"payload": {"ChangeEventHeader": []}, "event": {"replayId": 1}},
        },
    ],
)
def test_malformed_messages_are_reported(bad):
    with pytest.raises(MalformedEvent):
        parse_cometd(bad)

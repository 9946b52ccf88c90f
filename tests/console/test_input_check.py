import pytest

from revflow.console.input_check import InputError, parse_input


def test_a_callout_input_with_a_payload_object_is_accepted() -> None:
    assert parse_input('{"payload": {"qty": 2}}', "callout") == {"payload": {"qty": 2}}


@pytest.mark.parametrize(
    ("text", "kind", "says"),
    [
        ('{"payload": ', "callout", "not JSON"),
        ("[1, 2]", "callout", "JSON object"),
        ('{"payload": "x"}', "callout", '"payload"'),
        ('{"errors": [1]}', "validate", "list of strings"),
        ('{"pause": {"for_s": "soon"}}', "pause", "number of seconds"),
        ('{"auto": {"action": "update_fields"}}', "auto", '"fields"'),
    ],
)
def test_bad_input_is_refused_with_the_reason(text: str, kind: str, says: str) -> None:
    with pytest.raises(InputError, match=says):
        parse_input(text, kind)


def test_the_json_error_names_line_and_column() -> None:
    with pytest.raises(InputError, match="line 2 column"):
        parse_input('{\n  "payload": oops}', "callout")


def test_other_kinds_need_only_an_object() -> None:
    assert parse_input("{}", "milestone") == {}

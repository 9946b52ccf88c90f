from datetime import UTC, datetime, timedelta

from revflow.console.timeline import TimelineStep, layout, render_svg

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def steps() -> list[TimelineStep]:
    return [
        TimelineStep("validate", "completed", (), T0, T0 + timedelta(seconds=10)),
        TimelineStep("erp", "running", ("validate",), T0 + timedelta(seconds=10), None),
        TimelineStep("invoice", "pending", ("erp",), None, None, expected_duration_s=30),
    ]


def test_bars_follow_times_and_pending_steps_follow_their_dependencies() -> None:
    bars = layout(steps(), now=T0 + timedelta(seconds=40))
    assert [(b.key, b.start, b.end, b.planned) for b in bars] == [
        ("validate", 0.0, 10.0, False),
        ("erp", 10.0, 40.0, False),  # running: until now
        ("invoice", 40.0, 70.0, True),  # after erp, as long as expected
    ]


def test_the_svg_has_a_bar_per_step_and_a_line_per_dependency() -> None:
    svg = render_svg(steps(), now=T0 + timedelta(seconds=40), title="Plan 7 <timeline>")
    assert svg.count("<rect ") == 3
    assert svg.count('class="dep"') == 2
    assert "state-running" in svg and 'stroke-dasharray="4 3"' in svg
    assert "<title>Plan 7 &lt;timeline&gt;</title>" in svg


def test_an_empty_plan_renders() -> None:
    assert "<svg" in render_svg([], now=T0)


def test_a_step_without_a_duration_is_a_quarter_of_the_time_run_so_far() -> None:
    done = TimelineStep("a", "completed", (), T0, T0 + timedelta(seconds=8))
    later = TimelineStep("b", "pending", ("a",), None, None)
    bars = layout([done, later], now=T0 + timedelta(seconds=8))
    assert (bars[1].start, bars[1].end) == (8.0, 10.0)

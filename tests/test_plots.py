"""The course's pictures, checked from known recordings: lanes, bars, colours, zoom, theory, marks.

Each test builds spans by hand (so every start, end, lane and state is known) and reads the
drawn artists back from the figure: what a learner would see, without looking at pixels.
"""

from __future__ import annotations

import base64
import time

import matplotlib

matplotlib.use("Agg")

import pytest
from matplotlib import pyplot as plt
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from helpers import (
    BACKOFF,
    FAILED,
    IN_FLIGHT,
    WAITING,
    Mark,
    Span,
    Timeline,
    in_flight_steps,
    plot_gantt,
    plot_in_flight,
    plot_time_vs_concurrency,
    plot_timeline,
    use_course_style,
)
from helpers.plots import OKABE_ITO, STATE_COLOURS, STYLE

# Two slots of a semaphore, five requests. Request r2 waits for slot A to free up, r3 for B;
# r4 fails once, backs off and succeeds. Times are seconds, t = 10.0 is the first start.
RECORDING = [
    Span("r0", 10.0, 10.5, lane="slot A"),
    Span("r1", 10.0, 10.4, lane="slot B"),
    Span("r3", 10.4, 10.9, lane="slot B"),
    Span("r2", 10.5, 11.0, lane="slot A"),
    Span("r4", 10.9, 11.0, lane="slot B", state=FAILED),
    Span("r4", 11.0, 11.2, lane="slot B", state=BACKOFF),
    Span("r4", 11.2, 11.5, lane="slot B"),
]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _bars(ax, gid: str = "span") -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle) and p.get_gid() == gid]


def _lanes(ax) -> list[str]:
    return [t.get_text() for t in ax.get_yticklabels()]


def _row(ax, bar: Rectangle) -> str:
    """The lane a bar is drawn on: the tick label at the bar's centre."""
    centre = bar.get_y() + bar.get_height() / 2
    ticks = list(ax.get_yticks())
    return _lanes(ax)[ticks.index(round(centre))]


def test_gantt_lanes_bars_positions_and_colours():
    fig = plot_gantt(RECORDING, title="two slots", lane_label="slot")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert _lanes(ax) == ["slot A", "slot B"]  # order of first start
    assert ax.get_ylabel() == "slot"
    assert ax.get_title() == "two slots"
    assert ax.get_xlabel() == "seconds since the first span started"
    bars = _bars(ax)
    assert len(bars) == len(RECORDING)
    drawn = sorted((_row(ax, b), round(b.get_x(), 9), round(b.get_width(), 9),
                    to_hex(b.get_facecolor())) for b in bars)
    expected = sorted((s.lane, round(s.start - 10.0, 9), round(s.duration, 9),
                       STATE_COLOURS[s.state].lower()) for s in RECORDING)
    assert drawn == expected
    # the first lane is drawn on top
    top, bottom = ax.get_ylim()
    assert top > bottom


def test_gantt_state_colours_are_distinct_okabe_ito():
    assert len(set(STATE_COLOURS.values())) == len(STATE_COLOURS)
    assert set(STATE_COLOURS.values()) <= set(OKABE_ITO.values())


def test_a_state_of_the_notebooks_own_keeps_its_colour_across_panels():
    _, (left, right) = plt.subplots(1, 2)
    plot_gantt([Span("a", 0, 1, state="new connection")], ax=left)
    plot_gantt([Span("b", 0, 1, state="reused connection"),
                Span("c", 1, 2, state="new connection")], ax=right)
    colour = {to_hex(b.get_facecolor()) for b in _bars(left)}
    assert len(colour) == 1
    new_on_right = [b for b in _bars(right) if b.get_x() == 1]
    assert {to_hex(b.get_facecolor()) for b in new_on_right} == colour
    reused = [b for b in _bars(right) if b.get_x() == 0]
    assert to_hex(reused[0].get_facecolor()) not in colour | set(STATE_COLOURS.values())


def test_gantt_legend_lists_the_states_present_outside_the_axes():
    fig = plot_gantt(RECORDING)
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [IN_FLIGHT, BACKOFF, FAILED]
    fig.canvas.draw()
    box = legend.get_window_extent()
    assert box.x0 >= ax.get_window_extent().x1  # right of the data, never on it


def test_gantt_lanes_by_label_one_row_per_request():
    ax = plot_gantt(RECORDING, lanes="label").axes[0]
    assert _lanes(ax) == ["r0", "r1", "r3", "r2", "r4"]
    assert sorted(_row(ax, b) for b in _bars(ax)) == sorted(s.label for s in RECORDING)


def test_gantt_from_a_timeline_with_lanes_states_and_marks():
    tl = Timeline()
    start = time.perf_counter()
    tl.add("a", start, start + 0.2, lane="worker 1")
    tl.add("b", start + 0.1, start + 0.3, lane="worker 2", state=WAITING)
    tl.mark("429", lane="worker 2", at=start + 0.25)
    tl.mark("cancelled", at=start + 0.3)
    assert tl.marks == [Mark("429", pytest.approx(start + 0.25 - tl.t0), "worker 2"),
                        Mark("cancelled", pytest.approx(start + 0.3 - tl.t0), "")]
    ax = plot_gantt(tl).axes[0]
    assert _lanes(ax) == ["worker 1", "worker 2"]
    widths = sorted(round(b.get_width(), 6) for b in _bars(ax))
    assert widths == [0.2, 0.2]
    markers = [line for line in ax.get_lines() if line.get_gid() == "mark"]
    on_lane = [m for m in markers if m.get_marker() not in (None, "None", "")]
    assert len(on_lane) == 1
    assert list(on_lane[0].get_xdata()) == pytest.approx([0.25])
    assert list(on_lane[0].get_ydata()) == [1]  # the row of worker 2
    across = [m for m in markers if m not in on_lane]
    assert len(across) == 1 and list(across[0].get_xdata()) == pytest.approx([0.3, 0.3])
    assert "429" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_gantt_zoom_sets_x_limits_and_keeps_only_lanes_in_the_window():
    fig = plot_gantt(RECORDING, lanes="label", zoom=(0.0, 0.45))
    ax = fig.axes[0]
    assert ax.get_xlim() == pytest.approx((0.0, 0.45))
    assert _lanes(ax) == ["r0", "r1", "r3"]  # r2 starts at 0.5, r4 at 0.9: outside


def test_gantt_zoom_with_inset_draws_the_whole_run_too():
    fig = plot_gantt(RECORDING, lanes="label", zoom=(0.0, 0.45), inset=True)
    overview, main = fig.axes[0], fig.axes[1]
    assert main.get_xlim() == pytest.approx((0.0, 0.45))
    assert overview.get_xlim()[1] >= 1.5  # the whole run ends 1.5 s after it starts
    assert len(_bars(overview)) == len(RECORDING)
    assert [p for p in overview.patches if p.get_gid() == "zoom window"]


@pytest.mark.parametrize(("zoom", "inset", "ax"), [((1, 1), False, False), ((2, 1), False, False),
                                                   (None, True, False), ((0, 1), True, True)])
def test_gantt_rejects_bad_zoom(zoom, inset, ax):
    target = plt.subplots()[1] if ax else None
    with pytest.raises(ValueError, match=r"zoom|inset"):
        plot_gantt(RECORDING, zoom=zoom, inset=inset, ax=target)


def test_gantt_rejects_what_is_not_spans():
    with pytest.raises(TypeError):
        plot_gantt([("r0", 0.0, 1.0)])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        plot_gantt(RECORDING[0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lanes"):
        plot_gantt(RECORDING, lanes="slot")


def test_gantt_theory_spans_in_their_own_lanes():
    theory = [Span("round 1", 0.0, 0.5, lane="rounds"), Span("round 2", 0.5, 1.0, lane="rounds")]
    ax = plot_gantt(RECORDING, theory=theory).axes[0]
    assert _lanes(ax) == ["theory: rounds", "slot A", "slot B"]
    hatched = _bars(ax, "theory")
    assert [(b.get_x(), b.get_width()) for b in hatched] == [(0.0, 0.5), (0.5, 0.5)]
    assert all(b.get_hatch() for b in hatched)
    assert {_row(ax, b) for b in hatched} == {"theory: rounds"}
    assert len(_bars(ax)) == len(RECORDING)


@pytest.mark.parametrize("theory", [1.25, lambda: 1.25, lambda spans: 0.25 * len(spans) - 0.5])
def test_gantt_theory_as_a_line(theory):
    ax = plot_gantt(RECORDING, theory=theory).axes[0]
    lines = [line for line in ax.get_lines() if line.get_gid() == "theory"]
    assert len(lines) == 1
    assert list(lines[0].get_xdata()) == pytest.approx([1.25, 1.25])
    assert lines[0].get_label() == "theory: 1.25 s"


def test_gantt_max_lanes_says_what_it_left_out():
    spans = [Span(f"r{i}", i, i + 1) for i in range(12)]
    ax = plot_gantt(spans, max_lanes=5).axes[0]
    assert _lanes(ax) == ["r0", "r1", "r2", "r3", "r4"]
    assert len(_bars(ax)) == 5
    assert "7 more lanes not drawn" in ax.get_xlabel()


def test_gantt_on_a_given_axes_and_empty():
    fig, (left, right) = plt.subplots(1, 2)
    assert plot_gantt(RECORDING, ax=left) is fig
    assert plot_gantt([], ax=right) is fig
    assert _bars(right) == []


def test_shared_x_axes_show_every_run_whole():
    _, (left, right) = plt.subplots(1, 2, sharex=True)
    plot_gantt([Span("sleep", 0.0, 2.0)], ax=left)
    plot_gantt([Span("a", 0.0, 1.0), Span("b", 0.0, 1.0)], ax=right)  # shorter, drawn last
    assert left.get_xlim()[1] >= 2.0 and right.get_xlim() == left.get_xlim()
    _, (top, bottom) = plt.subplots(2, 1, sharex=True)
    plot_in_flight([Span("a", 5.0, 8.0)], ax=top)
    plot_in_flight([Span("b", 5.0, 6.0)], ax=bottom)
    assert bottom.get_xlim()[1] >= 3.0


def test_figures_are_opaque():
    for fig in (plot_gantt(RECORDING), plot_in_flight(RECORDING),
                plot_timeline(Timeline(t0=0.0, spans=list(RECORDING))),
                plot_time_vs_concurrency([1, 2], [1.0, 0.5], n_requests=2, latency=0.5)):
        assert fig.get_facecolor()[3] == 1.0
        assert all(ax.get_facecolor()[3] == 1.0 for ax in fig.axes)


def test_in_flight_steps_equal_the_known_overlap():
    # in flight only: r0 [0, .5], r1 [0, .4], r3 [.4, .9], r2 [.5, 1.0], r4 [1.2, 1.5]
    times, counts = in_flight_steps(RECORDING, state=IN_FLIGHT)
    # at 10.4 and 10.5 one request ends as another starts: no step there
    assert times == pytest.approx([10.0, 10.9, 11.0, 11.2, 11.5])
    assert counts == [2, 1, 0, 1, 0]
    fig = plot_in_flight(RECORDING, limit=2, label="two slots")
    ax = fig.axes[0]
    (step,) = [line for line in ax.get_lines() if line.get_gid() == "in flight"]
    assert list(step.get_xdata()) == pytest.approx([0.0, 0.0, 0.9, 1.0, 1.2, 1.5])
    assert list(step.get_ydata()) == [0, 2, 1, 0, 1, 0]
    assert step.get_drawstyle() == "steps-post"
    (limit,) = [line for line in ax.get_lines() if line.get_gid() == "limit"]
    assert list(limit.get_ydata()) == [2, 2]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["two slots", "limit: 2"]
    # every state counted: the failed attempt and the backoff are spans too
    assert in_flight_steps(RECORDING) == ([10.0, 11.0, 11.5], [2, 1, 0])


def test_timeline_max_overlap_by_state():
    tl = Timeline(t0=0.0, spans=[Span("a", 0, 2, state=WAITING), Span("a", 2, 3),
                                 Span("b", 0, 1), Span("c", 0.5, 2.5)])
    assert tl.max_overlap() == 3
    assert tl.max_overlap(IN_FLIGHT) == 2


def test_span_keeps_the_old_constructor_and_rejects_nonsense():
    s = Span("r0", 1.0, 1.5)
    assert (s.lane, s.state, s.row, s.duration) == ("", IN_FLIGHT, "r0", 0.5)
    with pytest.raises(ValueError, match="ends"):
        Span("r0", 2.0, 1.0)
    with pytest.raises(ValueError, match="finite"):
        Span("r0", 0.0, float("nan"))
    with pytest.raises(ValueError, match="state"):
        Span("r0", 0.0, 1.0, state="")


def test_timeline_span_records_lane_and_state():
    tl = Timeline()
    with tl.span(3, lane="slot 1", state=WAITING):
        pass
    with tl.span("r4"):
        pass
    assert [(s.label, s.lane, s.state) for s in tl.spans] == [
        ("3", "slot 1", WAITING), ("r4", "r4", IN_FLIGHT)]


def test_plot_timeline_and_time_vs_concurrency_are_restyled():
    fig = plot_timeline(Timeline(t0=0.0, spans=list(RECORDING)), title="t")
    ax = fig.axes[0]
    assert len(ax.patches) == len(RECORDING)
    assert to_hex(ax.patches[0].get_facecolor()) == STATE_COLOURS[IN_FLIGHT].lower()
    fig = plot_time_vs_concurrency([1, 10], [7.5, 0.8], n_requests=150, latency=0.05)
    ax = fig.axes[0]
    theory, measured = ax.get_lines()
    assert theory.get_ydata()[0] == pytest.approx(7.5) and theory.get_ydata()[9] == 0.75
    assert list(measured.get_ydata()) == [7.5, 0.8]
    fig.canvas.draw()
    assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1


def test_use_course_style_is_idempotent_and_sets_the_palette():
    use_course_style()
    use_course_style()
    assert matplotlib.rcParams["figure.facecolor"] == "white"
    assert matplotlib.rcParams["savefig.transparent"] is False
    colours = [c["color"] for c in matplotlib.rcParams["axes.prop_cycle"]]
    assert colours[0] == OKABE_ITO["blue"] and set(colours) <= set(OKABE_ITO.values())
    assert STYLE["axes.axisbelow"] is True


def test_use_course_style_makes_ipython_send_retina_png_only():
    from IPython.core.interactiveshell import InteractiveShell
    from matplotlib_inline.config import InlineBackend

    shell = InteractiveShell.instance()
    try:
        use_course_style()
        assert InlineBackend.instance().figure_formats == {"retina"}
        formatters = shell.display_formatter.formatters
        fig = plot_gantt(RECORDING)
        encoded, metadata = formatters["image/png"](fig)
        png = base64.b64decode(encoded)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width_px = int.from_bytes(png[16:20], "big")
        assert width_px >= 2 * metadata["width"] - 2  # twice the resolution it is shown at
        assert formatters["image/svg+xml"](fig) is None
    finally:
        InteractiveShell.clear_instance()

"""The course's pictures, drawn from measured timestamps, in one course style.

- :func:`plot_gantt`: a recording (a :class:`~helpers.timing.Timeline` or a list of spans) as a
  Gantt chart: one row per lane (worker, slot, connection or request), one bar per span,
  coloured by state, marks as markers, an optional zoom window and the theory beside it.
- :func:`plot_in_flight`: how many spans were open at each instant, with an optional limit.
- :func:`plot_timeline`, :func:`plot_time_vs_concurrency`: the course's first two pictures.

Why a style of its own: the notebooks are read on JupyterLab's light and dark themes, by
people who may not tell red from green, on screens of any density. So the palette is
Okabe–Ito (colour-blind safe), every figure has an opaque white background (a transparent one
turns black text invisible on the dark theme), figures go inline as PNG at twice the
resolution ("retina"; never SVG, which nbval would compare as text) and legends sit outside
the data they would otherwise hide.

Figures are returned, not shown: the notebook decides when to display them, and the tests
draw them without a screen.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import matplotlib
from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from .timing import (
    BACKOFF,
    BLOCKED,
    FAILED,
    IN_FLIGHT,
    OVERHEAD,
    STATES,
    WAITING,
    WORKING,
    Mark,
    Span,
    Timeline,
    in_flight_steps,
    theoretical_time,
)

#: Okabe & Ito (2008), "Color Universal Design": eight colours told apart with any colour vision.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
}

#: The colour of each state; a state not listed here takes the next of ``_SPARE_COLOURS``.
STATE_COLOURS: dict[str, str] = {
    WAITING: OKABE_ITO["orange"],
    IN_FLIGHT: OKABE_ITO["blue"],
    BACKOFF: OKABE_ITO["reddish purple"],
    FAILED: OKABE_ITO["vermillion"],
    WORKING: OKABE_ITO["bluish green"],
    BLOCKED: OKABE_ITO["black"],
    OVERHEAD: OKABE_ITO["yellow"],
}
_SPARE_COLOURS = (OKABE_ITO["sky blue"], "#999999", "#666666", "#CCCCCC")

#: The line colours of the course, in order (matplotlib's colour cycle under the style).
CYCLE = [OKABE_ITO[c] for c in ("blue", "orange", "bluish green", "vermillion",
                                 "reddish purple", "sky blue", "yellow", "black")]

_MARKERS = ("X", "v", "D", "*", "P", "s")
_EDGE = "#222222"
_X_LABEL = "seconds since the first span started"
_THEORY = "theory: "

STYLE: dict[str, Any] = {
    "figure.facecolor": "white",
    "figure.edgecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "figure.dpi": 100,
    "axes.prop_cycle": matplotlib.cycler(color=CYCLE),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "x",
    "axes.axisbelow": True,
    "grid.color": "#DDDDDD",
    "grid.linewidth": 0.6,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "legend.frameon": False,
    "legend.fontsize": 9,
    "font.size": 10,
    "svg.fonttype": "none",
}


def use_course_style() -> None:
    """The course look; call once in a notebook's first cell (calling it again does no harm).

    Sets matplotlib's rcParams (palette, opaque white background, quiet axes) and, inside
    IPython, makes the inline backend send PNG at twice the resolution and nothing else.
    """
    import matplotlib.pyplot  # let the inline backend configure itself first

    matplotlib.rcParams.update(STYLE)
    _inline_retina_png()


def _inline_retina_png() -> None:
    """Inline figures as retina PNG only (never SVG); a no-op outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is part of the course environment
        return
    if get_ipython() is None:
        return
    from IPython.core.pylabtools import select_figure_formats
    from matplotlib_inline.config import InlineBackend

    # On the configuration object, so the choice survives the backend configuring itself
    # again; and on the shell's formatters now, as the backend may not be active yet.
    config = InlineBackend.instance()
    with warnings.catch_warnings():  # matplotlib-inline's observer uses a deprecated hook
        warnings.simplefilter("ignore", DeprecationWarning)
        config.figure_formats = {"retina"}
    select_figure_formats(get_ipython(), {"retina"}, **config.print_figure_kwargs)


def state_colour(state: str) -> str:
    """The colour a state is drawn in.

    A state of the notebook's own (not in :data:`STATE_COLOURS`) takes the next spare colour
    the first time it is drawn and keeps it for the rest of the session, so two panels of one
    figure agree. To choose it yourself: ``STATE_COLOURS["reused"] = OKABE_ITO["sky blue"]``.
    """
    if state in STATE_COLOURS:
        return STATE_COLOURS[state]
    if state not in _SPARE_ASSIGNED:
        _SPARE_ASSIGNED[state] = _SPARE_COLOURS[len(_SPARE_ASSIGNED) % len(_SPARE_COLOURS)]
    return _SPARE_ASSIGNED[state]


_SPARE_ASSIGNED: dict[str, str] = {}


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    fig, new = plt.subplots(figsize=figsize, layout="tight")
    return fig, new


def _opaque(fig: Figure, *axes: Axes) -> None:
    """White behind everything, whatever the rcParams: dark themes must not show through."""
    fig.set_facecolor("white")
    fig.patch.set_alpha(1.0)
    for ax in axes:
        ax.set_facecolor("white")
        ax.set_axisbelow(True)  # grid lines behind the bars, not across them


def _fit_x(ax: Axes, end: float) -> None:
    """x from 0 to just past ``end``, or past the longest run drawn on any axes sharing x.

    With ``plt.subplots(..., sharex=True)`` the axes share one x range: the last chart
    drawn must not cut off the runs drawn before it.
    """
    ends = {ax: end}
    for other in ax.get_shared_x_axes().get_siblings(ax):
        if other is not ax and hasattr(other, "_course_run_end"):
            ends[other] = other._course_run_end
    ax._course_run_end = end  # type: ignore[attr-defined]
    right = max(ends.values())
    ax.set_xlim(0, right * 1.02 if right > 0 else 1.0)


def _spans_and_marks(
    timeline_or_spans: Timeline | Iterable[Span],
) -> tuple[list[Span], list[Mark]]:
    if isinstance(timeline_or_spans, Timeline):
        return list(timeline_or_spans.spans), list(timeline_or_spans.marks)
    if isinstance(timeline_or_spans, Span):
        raise TypeError("pass a Timeline or a list of Span, not a single Span")
    spans = list(timeline_or_spans)
    for s in spans:
        if not isinstance(s, Span):
            raise TypeError(f"expected a Timeline or Span objects, got {type(s).__name__}")
    return spans, []


def _row_of(lanes: str | Callable[[Span], object]) -> Callable[[Span], str]:
    if callable(lanes):
        return lambda s: str(lanes(s))
    if lanes == "lane":
        return lambda s: s.row
    if lanes == "label":
        return lambda s: s.label
    raise ValueError(f"lanes must be 'lane', 'label' or a function of a Span, got {lanes!r}")


def _theory_value(theory: float | Callable[..., float], spans: list[Span]) -> float:
    if not callable(theory):
        return float(theory)
    try:
        takes_spans = len(inspect.signature(theory).parameters) > 0
    except (TypeError, ValueError):  # a builtin without a signature
        takes_spans = False
    return float(theory(spans) if takes_spans else theory())


def _format_seconds(x: float) -> str:
    return f"{x:.3g} s" if x < 10 else f"{x:.1f} s"


def plot_gantt(
    timeline_or_spans: Timeline | Iterable[Span],
    *,
    lanes: str | Callable[[Span], object] = "lane",
    title: str | None = None,
    zoom: tuple[float, float] | None = None,
    theory: Sequence[Span] | float | Callable[..., float] | None = None,
    lane_label: str = "lane",
    ax: Axes | None = None,
    max_lanes: int = 60,
    inset: bool = False,
    marks: Iterable[Mark] | None = None,
    legend: str = "right",
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """A measured recording as a Gantt chart: one row per lane, one bar per span.

    Rows are lanes in order of first start (``lanes="label"``: one row per span label, e.g.
    per request; or a function of a span). Bars are coloured by state; the legend lists the
    states present, outside the axes. Times are shifted so 0 is the first measured start.

    ``zoom=(t0, t1)`` sets the x-limits (seconds on that axis); with ``inset=True`` the
    whole run is drawn small above the zoom, the zoomed window shaded. ``theory`` is either a
    list of spans (times on the same axis: seconds since the first measured start) drawn as
    hatched outlines in rows "theory: <lane>" above the measurement, or a number of seconds
    (or a function returning one, called with the drawn spans or with nothing) drawn as a
    vertical line. Marks with a lane are markers on that row; a mark without a lane is a
    dotted vertical line across all rows. At most ``max_lanes`` rows are drawn, the rest
    counted in a note under the axes. ``legend``: "right", "top" or "none".
    """
    spans, recorded_marks = _spans_and_marks(timeline_or_spans)
    all_marks = recorded_marks if marks is None else list(marks)
    if max_lanes < 1:
        raise ValueError(f"max_lanes must be at least 1, got {max_lanes}")
    if legend not in ("right", "top", "none"):
        raise ValueError(f"legend must be 'right', 'top' or 'none', got {legend!r}")
    if zoom is not None:
        z0, z1 = (float(v) for v in zoom)
        if not z1 > z0:
            raise ValueError(f"zoom must be (start, end) with end > start, got {zoom!r}")
    if inset and zoom is None:
        raise ValueError("inset=True draws the whole run beside a zoom: give zoom=(t0, t1)")
    if inset and ax is not None:
        raise ValueError("inset=True draws its own figure of two axes: leave ax=None")

    row_of = _row_of(lanes)
    origin = min((s.start for s in spans), default=0.0)
    ordered = sorted(spans, key=lambda s: s.start)  # stable: ties keep recording order
    every_row: list[str] = list(dict.fromkeys(row_of(s) for s in ordered))
    if zoom is not None:  # only the lanes with something to show in the window
        rows = list(dict.fromkeys(row_of(s) for s in ordered
                                  if s.end - origin >= z0 and s.start - origin <= z1))
    else:
        rows = list(every_row)
    hidden = max(0, len(rows) - max_lanes)
    rows = rows[:max_lanes]

    theory_spans: list[Span] = []
    theory_line: float | None = None
    if theory is not None:
        if isinstance(theory, Sequence) and not isinstance(theory, str):
            theory_spans = list(theory)
            if not all(isinstance(s, Span) for s in theory_spans):
                raise TypeError("theory must be a list of Span, a number or a function")
        else:
            theory_line = _theory_value(theory, spans)
    theory_rows: list[str] = []
    for s in sorted(theory_spans, key=lambda s: s.start):
        r = _THEORY + row_of(s)
        if r not in theory_rows:
            theory_rows.append(r)
    all_rows = theory_rows + rows
    y_of = {r: i for i, r in enumerate(all_rows)}

    if figsize is None:
        figsize = (9.0, min(12.0, max(2.4, 1.3 + 0.26 * len(all_rows))))
    if inset:
        fig = plt.figure(figsize=(figsize[0], figsize[1] + 1.6), layout="tight")
        overview, main = fig.subplots(2, 1, height_ratios=[1.2, max(2.0, figsize[1])])
        axes = [overview, main]
    else:
        fig, main = _new_axes(ax, figsize)
        axes = [main]
    _opaque(fig, *axes)

    states_present: list[str] = []

    def draw(target: Axes, y_of: dict[str, int], tick_labels: bool) -> None:
        names = list(y_of)
        drawn = [s for s in ordered if row_of(s) in y_of]
        for s in drawn:
            if s.state not in states_present:
                states_present.append(s.state)
        target.barh(
            [y_of[row_of(s)] for s in drawn],
            [s.duration for s in drawn],
            left=[s.start - origin for s in drawn],
            height=0.72,
            color=[state_colour(s.state) for s in drawn],
            # Many rows: a dark edge would hide a thin bar; an edge of its own colour
            # keeps a bar less than a pixel tall visible.
            edgecolor=(_EDGE if len(names) <= 60
                       else [state_colour(s.state) for s in drawn]),
            linewidth=0.4 if len(names) <= 60 else 0.8,
            gid="span",
        )
        if theory_spans:
            target.barh(
                [y_of[_THEORY + row_of(s)] for s in theory_spans],
                [s.duration for s in theory_spans],
                left=[s.start for s in theory_spans],
                height=0.72,
                facecolor="white",
                edgecolor=[state_colour(s.state) for s in theory_spans],
                hatch="///",
                linewidth=1.0,
                gid="theory",
            )
        if theory_line is not None:
            target.axvline(theory_line, color=OKABE_ITO["black"], linestyle="--",
                           linewidth=1.2, gid="theory",
                           label=f"{_THEORY}{_format_seconds(theory_line)}")
        _draw_marks(target, all_marks, y_of, origin)
        if tick_labels:
            target.set_yticks(range(len(names)), names)
        else:
            target.set_yticks([])
        if tick_labels and len(names) > 40:  # keep every k-th label readable
            step = -(-len(names) // 30)
            for i, label in enumerate(target.get_yticklabels()):
                label.set_visible(i % step == 0)
        target.set_ylim(max(len(names), 1) - 0.5, -0.5)  # first lane on top
        target.grid(axis="y", visible=False)

    draw(main, y_of, tick_labels=True)
    note = (f"\n({hidden} more lane{'s' if hidden > 1 else ''} not drawn: "
            f"max_lanes={max_lanes})" if hidden else "")
    main.set_xlabel(_X_LABEL + note)
    main.set_ylabel(lane_label)
    shown = [s for s in spans if row_of(s) in y_of]
    end = max((s.end - origin for s in shown), default=1.0)
    end = max([end, *(s.end for s in theory_spans),
               *([theory_line] if theory_line is not None else [])])
    if zoom is not None:
        main.set_xlim(z0, z1)
    else:
        _fit_x(main, end)
    if inset:
        whole = {r: i for i, r in enumerate(theory_rows + every_row)}
        draw(overview, whole, tick_labels=False)
        run_end = max([end, *(s.end - origin for s in spans)])
        overview.set_xlim(0, run_end * 1.02 if run_end > 0 else 1.0)
        overview.axvspan(z0, z1, color=OKABE_ITO["sky blue"], alpha=0.25, zorder=0,
                         gid="zoom window")
        overview.set_title("the whole run (shaded: the window drawn below)", fontsize=9,
                           fontweight="normal", loc="left")
        overview.tick_params(labelsize=8)
    if title:
        (fig.suptitle(title, fontweight="bold", fontsize=11) if inset else main.set_title(title))
    if legend != "none":
        _state_legend(main, states_present, legend)
    return fig


def _draw_marks(target: Axes, marks: list[Mark], y_of: dict[str, int], origin: float) -> None:
    """Marks on a drawn row become markers (one marker shape per label); lane "" a line."""
    shapes: dict[str, str] = {}
    for label in dict.fromkeys(m.label for m in marks if m.lane):
        shapes[label] = _MARKERS[len(shapes) % len(_MARKERS)]
    for label, shape in shapes.items():
        on_rows = [m for m in marks if m.label == label and m.lane in y_of]
        if on_rows:
            target.plot([m.at - origin for m in on_rows], [y_of[m.lane] for m in on_rows],
                        linestyle="none", marker=shape, markersize=7,
                        markerfacecolor=OKABE_ITO["yellow"], markeredgecolor=_EDGE,
                        markeredgewidth=0.8, label=label, gid="mark", zorder=3)
    for m in marks:
        if not m.lane:
            target.axvline(m.at - origin, color="#444444", linestyle=":", linewidth=1.2,
                           gid="mark", zorder=3)
            target.annotate(m.label, (m.at - origin, 1.0), xycoords=("data", "axes fraction"),
                            xytext=(2, 2), textcoords="offset points", fontsize=8,
                            color="#222222", annotation_clip=False)


def _state_legend(ax: Axes, states: list[str], where: str) -> None:
    """One key per state present (in the course's order), plus the theory and marks drawn."""
    order = [s for s in STATES if s in states] + [s for s in states if s not in STATES]
    handles: list[Any] = [Patch(facecolor=state_colour(s), edgecolor=_EDGE,
                                linewidth=0.4, label=s) for s in order]
    if any(p.get_gid() == "theory" for p in ax.patches):
        handles.append(Patch(facecolor="white", edgecolor="#444444", hatch="///",
                             label="theory"))
    handles += [h for h in ax.get_lines() if h.get_gid() in ("theory", "mark")
                and not h.get_label().startswith("_")]
    if not handles:
        return
    if where == "right":
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0.0, title="state", alignment="left")
    else:
        ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.01),
                  borderaxespad=0.0, ncols=min(len(handles), 4))


def plot_in_flight(
    timeline_or_spans: Timeline | Iterable[Span],
    *,
    ax: Axes | None = None,
    label: str | None = None,
    limit: float | None = None,
    limit_label: str | None = None,
    state: str | None = IN_FLIGHT,
    origin: float | None = None,
    title: str | None = None,
    colour: str | None = None,
) -> Figure:
    """A step plot of how many spans were open at each instant, from the measured starts/ends.

    Counts only spans in ``state`` (default: in flight, so requests recorded while waiting for
    a slot are not counted twice); ``state=None`` counts every span. ``limit`` draws a
    horizontal dashed line (a semaphore's n, the connector's 100, a server's capacity).
    Several recordings can share one ``ax``: each takes the next course colour; give them
    a ``label`` and a shared ``origin`` (default: the first start of this recording).
    """
    spans, _ = _spans_and_marks(timeline_or_spans)
    fig, ax = _new_axes(ax, (9.0, 3.2))
    _opaque(fig, ax)
    times, counts = in_flight_steps(spans, state=state)
    start = min((s.start for s in spans), default=0.0) if origin is None else origin
    xs = [0.0] + [t - start for t in times]
    ys = [0, *counts]
    kwargs: dict[str, Any] = {"label": label or "_in flight", "linewidth": 1.6,
                              "gid": "in flight"}
    if colour is not None:
        kwargs["color"] = colour
    ax.step(xs, ys, where="post", **kwargs)
    if limit is not None:
        ax.axhline(limit, color="#666666", linestyle="--", linewidth=1.0, gid="limit",
                   label=limit_label or f"limit: {limit:g}", zorder=1)
    ax.set_xlabel(_X_LABEL)
    ax.set_ylabel("open at once" if state is None else f"{state} at once")
    curves = [line for line in ax.get_lines() if line.get_gid() == "in flight"]
    top = max([limit or 0, 1, *(max(line.get_ydata(), default=0) for line in curves)])
    right = max(max(line.get_xdata(), default=0) for line in curves)
    ax.set_ylim(0, top * 1.1)
    _fit_x(ax, right)
    ax.grid(axis="y", visible=True)
    if title:
        ax.set_title(title)
    handles = [h for h in ax.get_lines() if not h.get_label().startswith("_")]
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0.0)
    return fig


def plot_timeline(
    timeline: Timeline, *, title: str = "Requests over time", ax: Axes | None = None,
    max_rows: int = 200,
) -> Figure:
    """One horizontal bar per span in start order: sequential work makes a staircase,
    concurrent work a wall. Bars are coloured by state (see :func:`plot_gantt` for lanes)."""
    spans = sorted(timeline.spans, key=lambda s: s.start)[:max_rows]
    fig, ax = _new_axes(ax, (8.0, 4.0))
    _opaque(fig, ax)
    origin = min((s.start for s in spans), default=0.0)
    ax.barh(
        range(len(spans)),
        [s.duration for s in spans],
        left=[s.start - origin for s in spans],
        height=0.8,
        color=[state_colour(s.state) for s in spans],
        edgecolor=_EDGE if len(spans) <= 60 else "none",
        linewidth=0.3,
    )
    ax.set_ylim(len(spans) - 0.5 if spans else 1, -0.5)
    ax.set_xlabel("seconds since the first request started")
    ax.set_ylabel("request (in start order)")
    ax.set_title(title)
    ax.set_xlim(left=0)
    ax.grid(axis="y", visible=False)
    states = list(dict.fromkeys(s.state for s in spans))
    if len(states) > 1:
        _state_legend(ax, states, "right")
    return fig


def plot_time_vs_concurrency(
    concurrency: Sequence[int], measured: Sequence[float], *, n_requests: int, latency: float,
    title: str | None = None, ax: Axes | None = None,
) -> Figure:
    """Measured total time against the semaphore size, with ceil(N/n) × latency beside it."""
    if len(concurrency) != len(measured):
        raise ValueError("concurrency and measured must have the same length")
    fig, ax = _new_axes(ax, (7.0, 4.0))
    _opaque(fig, ax)
    fine = range(1, max(concurrency) + 1)
    ax.plot(list(fine), [theoretical_time(n_requests, n, latency) for n in fine],
            color=OKABE_ITO["black"], linestyle="--", linewidth=1.2,
            label="theory: ceil(N/n) × latency")
    ax.plot(list(concurrency), list(measured), "o-", color=OKABE_ITO["vermillion"],
            markeredgecolor=_EDGE, markeredgewidth=0.6, linewidth=1.6, label="measured")
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")  # "0.1", not "10^-1"
    ax.xaxis.set_major_formatter(plain)
    ax.yaxis.set_major_formatter(plain)
    ax.grid(axis="both", which="major")
    ax.set_xlabel("concurrency limit n (log scale)")
    ax.set_ylabel("total time (s, log scale)")
    ax.set_title(title or f"{n_requests} requests at {latency * 1000:.0f} ms latency")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return fig

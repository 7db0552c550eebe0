#!/usr/bin/python3
"""Draws each Grafana dashboard of grafana/dashboards/ from a live Prometheus, one PNG per
dashboard (docs/img/dashboard-<uid>.png), with the panels where the dashboard puts them:
time series as lines, stat/gauge/bar gauge panels as labelled bars, tables as tables, state
timelines as bands coloured by their value mappings.
No Grafana is needed; the queries are the dashboards' own, with the template variables and
$__rate_interval / $__range filled in.

Usage: scripts/plot-dashboards.py --prometheus URL --start UNIX --end UNIX
           [--var NAME=REGEX ...] [--out docs/img] [--scrape-interval 1] [--only UID ...] [--skip UID ...]
           [--caption "where the data came from"]
scripts/check-bundle --plot runs it against the Prometheus of its live test (every dashboard but the
GPUs one, which scripts/gpu-replay draws from recorded or simulated GPUs).
Needs python3-matplotlib.
"""
import argparse
import json
import math
import re
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates  # noqa: E402
import matplotlib.patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
from matplotlib.gridspec import GridSpec  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ROW_INCHES = 0.36  # one Grafana grid row
WIDTH_INCHES = 20.0


def query(base, expr, instant, start, end, step):
    params = {"query": expr}
    if instant:
        path, params["time"] = "query", end
    else:
        path = "query_range"
        params.update(start=start, end=end, step=step)
    req = urllib.request.Request(f"{base}/api/v1/{path}", data=urllib.parse.urlencode(params).encode(),
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(req, timeout=30) as r:
        body = json.loads(r.read())
    return body["data"]["result"] if body.get("status") == "success" else []


def substitute(expr, variables, range_s, rate_interval):
    expr = expr.replace("$__rate_interval", rate_interval).replace("$__range_s", str(range_s))
    expr = expr.replace("$__range", f"{range_s}s").replace("$__interval", "1s")
    for name, value in variables.items():
        expr = expr.replace("${" + name + "}", value).replace("$" + name, value)
    return expr


def legend(fmt, labels):
    if not fmt or fmt == "__auto":
        inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
        return f"{labels.get('__name__', '')}{{{inner}}}"
    out = fmt
    for k, v in labels.items():
        out = out.replace("{{" + k + "}}", v).replace("{{ " + k + " }}", v)
    while "{{" in out and "}}" in out:  # labels the series lacks
        a, b = out.index("{{"), out.index("}}")
        out = out[:a] + out[b + 2:]
    return out.strip()


def fmt_value(value, unit):
    if value is None or not math.isfinite(value):
        return "n/a"
    if unit == "percentunit":
        return f"{value * 100:.3g} %"
    if unit == "bytes":
        for factor, suffix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if abs(value) >= factor:
                return f"{value / factor:.3g} {suffix}"
        return f"{value:.3g} B"
    if unit == "Bps":
        return fmt_value(value, "bytes") + "/s"
    if unit == "s":
        if abs(value) >= 3600:
            return f"{value / 3600:.3g} h"
        if abs(value) >= 60:
            return f"{value / 60:.3g} min"
        if 0 < abs(value) < 0.001:
            return f"{value * 1e6:.3g} µs"
        if 0 < abs(value) < 1:
            return f"{value * 1000:.3g} ms"
        return f"{value:.3g} s"
    suffix = {"celsius": " °C", "watt": " W", "joule": " J", "hertz": " Hz", "cps": " /s", "reqps": " req/s"}.get(unit)
    if unit.startswith("suffix:"):
        suffix = " " + unit.split(":", 1)[1].strip()
    if abs(value) >= 1e9:
        text = f"{value / 1e9:.3g} G"
    elif abs(value) >= 1e6:
        text = f"{value / 1e6:.3g} M"
    elif abs(value) >= 1e4:
        text = f"{value / 1e3:.3g} k"
    else:
        text = f"{value:.4g}"
    return text + (suffix or "")


def draw_timeseries(ax, panel, results, unit):
    drawn = 0
    for target, series_list in results:
        for series in series_list:
            points = [(float(t), float(v)) for t, v in series["values"] if math.isfinite(float(v))]
            if not points:
                continue
            xs = [datetime.fromtimestamp(t) for t, v in points]
            ys = [v for _, v in points]
            ax.plot(xs, ys, linewidth=1.2, label=legend(target.get("legendFormat"), series["metric"])[:60])
            drawn += 1
    if drawn:
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: fmt_value(v, unit)))
        ax.tick_params(labelsize=6)
        ax.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%H:%M:%S"))
        if drawn <= 8:
            ax.legend(fontsize=6, loc="upper left")
    return drawn


# Grafana's named colours, as value mappings use them.
COLORS = {"green": "#73bf69", "blue": "#5794f2", "yellow": "#fade2a", "red": "#f2495c", "orange": "#ff9830",
          "purple": "#b877d9", "text": "#c7c7c7"}


def draw_state_timeline(ax, panel, results, unit, step):
    """State timelines: one band per series, coloured by the panel's value mappings."""
    mapping = {}
    for m in panel["fieldConfig"]["defaults"].get("mappings", []):
        if m.get("type") == "value":
            mapping.update({float(k): v for k, v in m["options"].items()})
    rows = []
    for target, series_list in results:
        for series in series_list:
            points = [(float(t), float(v)) for t, v in series["values"] if math.isfinite(float(v))]
            if points:
                rows.append((legend(target.get("legendFormat"), series["metric"])[:60], points))
    rows.sort()
    seen = {}
    for i, (_, points) in enumerate(rows):
        for j, (t, v) in enumerate(points):
            following = points[j + 1][0] if j + 1 < len(points) else t + step
            width = min(following - t, step)  # a missing sample leaves a gap
            state = mapping.get(v, {"text": fmt_value(v, unit), "color": "text"})
            color = COLORS.get(state.get("color"), state.get("color") or COLORS["text"])
            seen.setdefault(state["text"], color)
            ax.barh(i, width / 86400, left=matplotlib.dates.date2num(datetime.fromtimestamp(t)), height=0.8,
                    color=color, edgecolor=color, linewidth=0, align="center")
    if not rows:
        return 0
    ax.set_yticks(range(len(rows)), [label for label, _ in rows], fontsize=7)
    ax.invert_yaxis()
    ax.xaxis_date()
    ax.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%H:%M:%S"))
    ax.tick_params(axis="x", labelsize=6)
    handles = [matplotlib.patches.Patch(color=c, label=text) for text, c in seen.items()]
    ax.legend(handles=handles, fontsize=6, loc="upper right", ncols=len(handles))
    return len(rows)


def value_rows(results):
    rows = []
    for target, series_list in results:
        for series in series_list:
            value = float(series["value"][1]) if "value" in series else float(series["values"][-1][1])
            rows.append((legend(target.get("legendFormat"), series["metric"])[:50], value))
    return rows


def draw_stat(ax, panel, results, unit):
    """Stat and gauge panels: the values as big text, their names small, as Grafana shows them."""
    rows = value_rows(results)
    ax.axis("off")
    if not rows:
        return 0
    name_only = panel.get("options", {}).get("textMode") == "name"
    show_names = len(rows) > 1 or panel.get("options", {}).get("textMode") == "value_and_name"
    n = min(len(rows), 6)
    for i, (label, value) in enumerate(rows[:n]):
        y = 1 - (i + 0.5) / n
        big = label if name_only else fmt_value(value, unit)
        width_pt = panel["gridPos"]["w"] / 24 * WIDTH_INCHES * 72
        size = max(6, min(22, 40 / n, 0.9 * width_pt / (0.62 * max(len(big), 1))))
        ax.text(0.5, y + (0.08 / n if show_names else 0), big, ha="center", va="center", fontsize=size,
                fontweight="bold", color="#1f60c4", transform=ax.transAxes)
        if show_names and not name_only:
            ax.text(0.5, y - 0.22 / n, label, ha="center", va="center", fontsize=6, color="#555555",
                    transform=ax.transAxes)
    if len(rows) > n:
        ax.text(1, 0, f"+{len(rows) - n} more", ha="right", va="bottom", fontsize=6, transform=ax.transAxes)
    return len(rows)


def draw_bars(ax, panel, results, unit):
    """Bar gauges: one labelled horizontal bar per series."""
    rows = value_rows(results)
    if not rows:
        return 0
    labels = [r[0] for r in rows]
    values = [r[1] if math.isfinite(r[1]) else 0 for r in rows]
    ax.barh(range(len(rows)), values, color="#5794f2", height=0.6)
    ax.set_yticks([])
    ax.invert_yaxis()
    ax.set_xticks([])
    for i, (label, v) in enumerate(rows):
        ax.text(0, i - 0.38, label, va="bottom", ha="left", fontsize=7)
        ax.text(0, i, " " + fmt_value(v, unit), va="center", ha="left", fontsize=9, fontweight="bold")
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    return len(rows)


def draw_table(ax, panel, results, unit):
    rename, hidden = {}, set()
    for tr in panel.get("transformations", []):
        if tr["id"] == "organize":
            rename = tr["options"].get("renameByName", {})
            hidden = {k for k, v in tr["options"].get("excludeByName", {}).items() if v}
    column_units = {}
    for ov in panel["fieldConfig"].get("overrides", []):
        unit_prop = next((p["value"] for p in ov["properties"] if p["id"] == "unit"), None)
        column_units[(ov["matcher"]["id"], ov["matcher"]["options"])] = unit_prop
    # A server's rows merge whether or not a query carries its model (or version), unless a query
    # returns rows that differ in model alone (a router's models): then each model is a row.
    loose = ("model", "version")
    for _, series_list in results:
        keys = [tuple(sorted((k, v) for k, v in s["metric"].items() if k not in loose)) for s in series_list]
        if len(set(keys)) < len(keys):
            loose = ("version",)
    rows = {}
    value_cols = []
    for target, series_list in results:
        col = f"Value #{target['refId']}" if len(panel["targets"]) > 1 else "Value"
        if col not in hidden:
            value_cols.append(col)
        for series in series_list:
            labels = {k: v for k, v in series["metric"].items() if k not in hidden and k != "__name__"}
            key = tuple(sorted((k, v) for k, v in labels.items() if k not in loose))
            row = rows.setdefault(key, {})
            row.update(labels)
            row[col] = float(series["value"][1])
    if not rows:
        return 0
    label_cols = sorted({k for r in rows.values() for k in r if not k.startswith("Value")})
    cols = label_cols + value_cols
    def col_unit(col):
        name = rename.get(col, col)
        for (kind, option), u in column_units.items():
            if (kind == "byName" and option == name) or (kind == "byRegexp" and re.search(option, name)):
                return u
        return unit

    cells = []
    for row in list(rows.values())[:12]:
        cells.append([str(row.get(c, "")) if not c.startswith("Value") else
                      (fmt_value(row[c], col_unit(c)) if c in row else "") for c in cols])
    table = ax.table(cellText=cells, colLabels=[rename.get(c, c) for c in cols], loc="upper center",
                     cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.scale(1, 1.3)
    ax.axis("off")
    return len(cells)


def plot_dashboard(dash, args, variables):
    start, end = args.start, args.end
    range_s = int(end - start)
    rate_interval = f"{4 * args.scrape_interval}s"
    panels = [p for p in dash["panels"] if p.get("type") != "row"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    height = rows * ROW_INCHES + 1.1
    fig = plt.figure(figsize=(WIDTH_INCHES, height), dpi=args.dpi)
    grid = GridSpec(rows, 24, figure=fig, left=0.04, right=0.99, top=1 - 1.0 / height, bottom=0.3 / height,
                    hspace=3.0, wspace=1.6)
    fig.suptitle(f"{dash['title']}  ({datetime.fromtimestamp(start):%Y-%m-%d %H:%M:%S} to "
                 f"{datetime.fromtimestamp(end):%H:%M:%S}, {args.caption})", fontsize=12,
                 y=1 - 0.25 / height)
    for panel in panels:
        g = panel["gridPos"]
        ax = fig.add_subplot(grid[g["y"]:g["y"] + g["h"], g["x"]:g["x"] + g["w"]])
        unit = panel["fieldConfig"]["defaults"].get("unit", "")
        results = []
        for target in panel["targets"]:
            expr = substitute(target["expr"], variables, range_s, rate_interval)
            instant = target.get("instant", False) or panel["type"] == "table"
            results.append((target, query(args.prometheus, expr, instant, start, end, args.scrape_interval)))
        if panel["type"] == "timeseries":
            drawn = draw_timeseries(ax, panel, results, unit)
        elif panel["type"] == "state-timeline":
            drawn = draw_state_timeline(ax, panel, results, unit, args.scrape_interval)
        elif panel["type"] == "table":
            drawn = draw_table(ax, panel, results, unit)
        else:
            if not any(t.get("instant") for t, _ in results):  # stat over a range: Grafana reduces, so do we
                results = [(t, [{"metric": s["metric"], "value": [0, reduce(panel, s["values"])]} for s in r])
                           for t, r in results]
            drawn = (draw_bars if panel["type"] == "bargauge" else draw_stat)(ax, panel, results, unit)
        ax.set_title(panel["title"] + ("" if drawn else "  (no data)"), fontsize=9, loc="left",
                     color="black" if drawn else "grey")
        if not drawn:
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_color("#dddddd")
    out = Path(args.out) / f"dashboard-{dash['uid']}.png"
    fig.savefig(out)
    plt.close(fig)
    return out


def reduce(panel, values):
    calcs = panel.get("options", {}).get("reduceOptions", {}).get("calcs", ["lastNotNull"])
    numbers = [float(v) for _, v in values if math.isfinite(float(v))]
    if not numbers:
        return "NaN"
    if "mean" in calcs:
        return str(sum(numbers) / len(numbers))
    return str(numbers[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", required=True)
    parser.add_argument("--start", type=float, required=True)
    parser.add_argument("--end", type=float, required=True)
    parser.add_argument("--var", action="append", default=[], help="NAME=VALUE for a template variable")
    parser.add_argument("--out", default=str(ROOT / "docs/img"))
    parser.add_argument("--scrape-interval", type=int, default=1)
    parser.add_argument("--dpi", type=int, default=72)
    parser.add_argument("--only", action="append", default=[], help="draw only the dashboard with this uid")
    parser.add_argument("--skip", action="append", default=[], help="do not draw the dashboard with this uid")
    parser.add_argument("--caption", default="live Prometheus of scripts/check-bundle",
                        help="where the data came from, shown in the title")
    args = parser.parse_args()
    variables = {"job": ".*", "instance": ".*", "server": ".*", "gpu": ".*", "model": ".*"}
    variables.update(v.split("=", 1) for v in args.var)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    for path in sorted((ROOT / "grafana/dashboards").glob("*.json")):
        dash = json.loads(path.read_text(encoding="utf-8"))
        if (args.only and dash["uid"] not in args.only) or dash["uid"] in args.skip:
            continue
        out = plot_dashboard(dash, args, variables).resolve()
        print(f"  wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()

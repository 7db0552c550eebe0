#!/usr/bin/env python3
"""Writes the Grafana dashboards with Grafana's grafana-foundation-sdk (grafana/requirements.txt):

    grafana/dashboards/*.json    provisioned by grafana/provisioning (the datasource variable, no __inputs)
    dist/grafana.com/*.json      the same dashboards for import from grafana.com (__inputs, __requires)

The JSON files are checked in; this script is their source. Edit the panels here, run it, commit all:

    python3 grafana/generate.py           # rewrite both sets
    python3 grafana/generate.py --check   # exit 1 if a file differs from what this writes

Conventions (CONVENTIONS.md, Grafana): fixed uid `llm-exporter-<topic>`, "id": null, the `datasource`
variable used by every panel and target, a unit on every panel, ratios as `percentunit` from 0 to 1,
`[$__rate_interval]` in rate windows. scripts/check-bundle installs the SDK in a venv and runs --check.
"""
import json
import sys
from pathlib import Path

try:
    from grafana_foundation_sdk.builders import bargauge, common as cb, dashboard as db, gauge, prometheus as prom
    from grafana_foundation_sdk.builders import stat, statetimeline, table, timeseries
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import common, dashboard as dm
    from grafana_foundation_sdk.models.prometheus import PromQueryFormat, QueryEditorMode
except ImportError:
    sys.exit("grafana/generate.py: pip install -r grafana/requirements.txt (grafana-foundation-sdk)")

ROOT = Path(__file__).resolve().parent.parent
OUT, DIST = ROOT / "grafana/dashboards", ROOT / "dist/grafana.com"
GRAFANA = "12.0.0"  # the version docker-compose.yml pins; the SDK writes its schemaVersion, 41
DS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")

# Label selectors shared by the panels.
SEL = 'job=~"$job", instance=~"$instance"'
SSEL = SEL + ', server=~"$server"'
GSEL = SEL + ', gpu=~"$gpu"'
RI = "[$__rate_interval]"
RANGE = "[$__range]"
# The model a server serves, to join onto per-server series: X * on (instance, job, server) group_left (model) MODEL
MODEL = f"max by (instance, job, server, model) (llm_server_info{{{SSEL}}})"
BY_MODEL = f" * on (instance, job, server) group_left (model) {MODEL}"
# The proxy's twin of each server-reported histogram (llm-exporter --proxy). A panel takes the
# server's own where it has one and the proxy's where it has none ("or on (server)"), so no
# request is counted twice and the two bucket layouts are never mixed.
PROXIED = {"llm_time_to_first_token_seconds": "llm_proxy_time_to_first_token_seconds",
           "llm_inter_token_latency_seconds": "llm_proxy_inter_token_latency_seconds",
           "llm_request_duration_seconds": "llm_proxy_request_duration_seconds"}


def with_proxy(own, metric, proxied, on):
    """`own`, or for servers without it `proxied` (when `metric` has a proxy twin)."""
    return f"({own}) or on ({on}) {proxied}" if metric in PROXIED else own


def model_quantile(q, metric, window):
    """A per-model quantile: the server's histogram (model joined from llm_server_info), else the proxy's."""
    own = f"histogram_quantile({q}, sum by (instance, job, server, le) (rate({metric}_bucket{{{SSEL}}}{window}))){BY_MODEL}"
    proxied = (f"histogram_quantile({q}, sum by (instance, job, server, model, le) "
               f"(rate({PROXIED.get(metric)}_bucket{{{SSEL}, model=~\"$model\"}}{window})))")
    return with_proxy(own, metric, proxied, "instance, job, server")
TOKS = "suffix: tok/s"


def t(expr, legend="", instant=False, fmt=None):
    """A Prometheus target; refIds are given by Board.add()."""
    q = prom.Dataquery().expr(expr).legend_format(legend or "__auto").datasource(DS).editor_mode(QueryEditorMode.CODE)
    q = q.instant() if instant else q.range()
    return q.format(PromQueryFormat.TABLE) if fmt else q


def reduce(calcs=("lastNotNull",)):
    return cb.ReduceDataOptions().calcs(list(calcs)).fields("").values(False)


KINDS = {  # each panel type with the options every panel of that type shares
    "timeseries": lambda: timeseries.Panel().legend(
        cb.VizLegendOptions().display_mode(common.LegendDisplayMode.TABLE).placement(common.LegendPlacement.BOTTOM)
        .show_legend(True).calcs(["mean", "max"])).tooltip(
        cb.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.DESCENDING))
    .draw_style(common.GraphDrawStyle.LINE).line_width(1).fill_opacity(10).show_points(common.VisibilityMode.NEVER)
    .span_nulls(False).stacking(cb.StackingConfig().mode(common.StackingMode.NONE).group("A")),
    "stat": lambda: stat.Panel().reduce_options(reduce()).orientation(common.VizOrientation.AUTO)
    .color_mode(common.BigValueColorMode.VALUE).graph_mode(common.BigValueGraphMode.AREA)
    .justify_mode(common.BigValueJustifyMode.AUTO).text_mode(common.BigValueTextMode.AUTO),
    "gauge": lambda: gauge.Panel().reduce_options(reduce()).orientation(common.VizOrientation.AUTO)
    .show_threshold_labels(False).show_threshold_markers(True),
    "bargauge": lambda: bargauge.Panel().reduce_options(reduce()).display_mode(common.BarGaugeDisplayMode.GRADIENT)
    .show_unfilled(True).orientation(common.VizOrientation.HORIZONTAL),
    "table": lambda: table.Panel().show_header(True).cell_height(common.TableCellHeight.SM),
    "state-timeline": lambda: statetimeline.Panel(),
}


class Board:
    """Lays panels out left to right in rows 24 units wide; add() returns the SDK builder to refine."""

    def __init__(self):
        self.panels = []
        self.x = self.y = self.row_h = 0

    def add(self, kind, title, targets, unit, w=12, h=8, description="", minv=None, maxv=None, thresholds=None,
            overrides=(), transformations=None, text=None, calcs=None):
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        p = (KINDS[kind]().id(len(self.panels) + 1).title(title).description(description).datasource(DS)
             .grid_pos(dm.GridPos(h=h, w=w, x=self.x, y=self.y)).unit(unit)
             .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.PALETTE_CLASSIC))
             .thresholds(db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(
                 [dm.Threshold(value=None, color="green")] + [dm.Threshold(value=v, color=c) for v, c in thresholds or []]))
             .targets([target.ref_id(chr(ord("A") + i)) for i, target in enumerate(targets)]))
        if (unit == "percentunit" and kind != "table") or kind == "gauge":
            minv = 0 if minv is None else minv
        if unit == "percentunit" and maxv is None and kind != "table":
            maxv = 1
        if minv is not None:
            p.min(minv)
        if maxv not in (None, "none"):  # "none": a ratio that can pass 1, such as CPU cores
            p.max(maxv)
        if text:
            p.text_mode(common.BigValueTextMode(text))
        if calcs:
            p.reduce_options(reduce(calcs))
        for matcher, pattern, props in overrides:
            getattr(p, matcher)(pattern, [dm.DynamicConfigValue(id_val=k, value=v) for k, v in props.items()])
        if transformations:
            p.transformations(transformations)
        self.panels.append(p)
        self.x += w
        self.row_h = max(self.row_h, h)
        return p


def table_transform(rename, hide=("Time", "job", "__name__")):
    """Merge instant queries into one row per label set, rename the value columns."""
    return [dm.DataTransformerConfig(id_val="merge", options={}), dm.DataTransformerConfig(
        id_val="organize", options={"excludeByName": {name: True for name in hide}, "renameByName": rename,
                                "indexByName": {}})]


def unit_override(column, unit, minv=None, maxv=None):
    props = {"unit": unit, "min": minv, "max": maxv}
    return "override_by_name", column, {k: v for k, v in props.items() if v is not None}


def regex_override(pattern, unit):
    return "override_by_regexp", pattern, {"unit": unit}


VARIABLES = {
    "job": ("Job", "label_values(llm_exporter_build_info, job)"),
    "instance": ("Instance", 'label_values(llm_exporter_build_info{job=~"$job"}, instance)'),
    "server": ("Server", 'label_values(llm_server_up{job=~"$job", instance=~"$instance"}, server)'),
    "gpu": ("GPU", 'label_values(llm_gpu_info{job=~"$job", instance=~"$instance"}, gpu)'),
    "model": ("Model", 'label_values(llm_generation_tokens_total{job=~"$job", instance=~"$instance", '
                       'server=~"$server"}, model)'),
}


def dashboard(uid, title, description, board, var_names):
    d = (db.Dashboard(title).uid(uid).description(description).editable().tags(["llm-exporter"])
         .tooltip(dm.DashboardCursorSync.CROSSHAIR).refresh("30s").time("now-1h", "now").timezone("").version(1)
         .annotation(db.AnnotationQuery().name("Annotations & Alerts").built_in(1).enable(True).hide(True)
                     .datasource(dm.DataSourceRef(type_val="grafana", uid="-- Grafana --")).type("dashboard")
                     .icon_color("rgba(0, 211, 255, 1)"))
         .link(db.DashboardLink("LLM dashboards").type(dm.DashboardLinkType.DASHBOARDS).tags(["llm-exporter"])
               .as_dropdown(True).include_vars(True).keep_time(True).target_blank(False).icon("external link"))
         .with_variable(db.DatasourceVariable("datasource").label("Data source").type("prometheus")))
    for name in var_names:
        label, query = VARIABLES[name]
        d.with_variable(db.QueryVariable(name).label(label).query(query).datasource(DS).multi(True).include_all(True)
                        .all_value(".*").refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
                        .sort(dm.VariableSort.ALPHABETICAL_ASC)
                        .current(dm.VariableOption(selected=True, text=["All"], value=["$__all"])))
    for panel in board.panels:
        d.with_panel(panel)
    return d

# ---------------------------------------------------------------------------------------------
# LLM overview: every server on every host.

def overview():
    b = Board()
    b.add("stat", "Servers up", [t(f"sum(llm_server_up{{{SSEL}}})", "up", instant=True)], "none", w=4, h=4,
          description="LLM servers whose metrics endpoint answered the last scrape.")
    b.add("stat", "Servers down", [t(f"count(llm_server_up{{{SSEL}}} == 0) or vector(0)", "down", instant=True)],
          "none", w=4, h=4, thresholds=[(1, "red")], description="Configured LLM servers that do not answer.")
    b.add("stat", "Generation tokens/s", [t(f"sum(server:llm_generation_tokens:rate1m{{{SSEL}}})", "tokens/s",
                                            instant=True)], TOKS, w=4, h=4,
          description="Tokens generated per second by all selected servers (recording rule, 1 m rate).")
    b.add("stat", "Requests running", [t(f"sum(llm_requests_running{{{SSEL}}})", "running", instant=True)],
          "none", w=4, h=4)
    b.add("stat", "Requests waiting", [t(f"sum(llm_requests_waiting{{{SSEL}}})", "waiting", instant=True)],
          "none", w=4, h=4, thresholds=[(1, "orange")])
    b.add("stat", "GPUs", [t(f"count(llm_gpu_info{{{SEL}}}) or vector(0)", "GPUs", instant=True)], "none",
          w=4, h=4, description="GPUs the exporters see through NVML.")

    b.add("table", "Servers", [
        t(f"max by (instance, server, backend) (llm_server_up{{{SSEL}}})", instant=True, fmt="table"),
        t(f"max by (instance, server, backend, model) (llm_server_info{{{SSEL}}})", instant=True, fmt="table"),
        t(f"sum by (instance, server, backend) (server:llm_generation_tokens:rate1m{{{SSEL}}})", instant=True,
          fmt="table"),
        t(f"sum by (instance, server, backend) (llm_requests_running{{{SSEL}}})", instant=True, fmt="table"),
        t(f"sum by (instance, server, backend) (llm_requests_waiting{{{SSEL}}})", instant=True, fmt="table"),
        t(f"max by (instance, server, backend) (llm_kv_cache_usage_ratio{{{SSEL}}})", instant=True, fmt="table"),
    ], "none", w=24, h=8, description="One row per LLM server: up, model, tokens/s, queue and KV cache.",
        transformations=table_transform({"Value #A": "Up", "Value #C": "Generation tokens/s",
                                         "Value #D": "Running", "Value #E": "Waiting", "Value #F": "KV cache"},
                                        hide=("Time", "job", "__name__", "Value #B")),
        overrides=[unit_override("Generation tokens/s", TOKS), unit_override("KV cache", "percentunit", 0, 1)])

    b.add("timeseries", "Generation tokens/s per server",
          [t(f"sum by (instance, server) (rate(llm_generation_tokens_total{{{SSEL}}}{RI}))",
             "{{server}} on {{instance}}")], TOKS)
    b.add("timeseries", "Prompt tokens/s per server",
          [t(f"sum by (instance, server) (rate(llm_prompt_tokens_total{{{SSEL}}}{RI}))",
             "{{server}} on {{instance}}")], TOKS)
    b.add("timeseries", "Requests running and waiting", [
        t(f"sum by (instance, server) (llm_requests_running{{{SSEL}}})", "running {{server}} on {{instance}}"),
        t(f"sum by (instance, server) (llm_requests_waiting{{{SSEL}}})", "waiting {{server}} on {{instance}}"),
    ], "none")
    b.add("timeseries", "KV cache use", [
        t(f"max by (instance, server) (llm_kv_cache_usage_ratio{{{SSEL}}})", "{{server}} on {{instance}}"),
    ], "percentunit", thresholds=[(0.8, "orange")])
    b.add("timeseries", "GPU utilization per host", [
        t(f"avg by (instance) (llm_gpu_utilization_ratio{{{SEL}}})", "{{instance}}"),
    ], "percentunit", w=8, description="Average over the host's GPUs.")
    b.add("timeseries", "GPU memory used per host", [
        t(f"sum by (instance) (llm_gpu_memory_used_bytes{{{SEL}}}) / sum by (instance) "
          f"(llm_gpu_memory_total_bytes{{{SEL}}})", "{{instance}}"),
    ], "percentunit", w=8, thresholds=[(0.9, "red")])
    b.add("timeseries", "Hottest GPU per host", [
        t(f"max by (instance) (llm_gpu_temperature_celsius{{{SEL}}})", "{{instance}}"),
    ], "celsius", w=8, thresholds=[(85, "red")])
    b.add("table", "Firing alerts", [t('ALERTS{alertstate="firing"}', instant=True, fmt="table")], "none", w=24,
          h=6, description="Alerts firing now in Prometheus (all jobs and instances).",
          transformations=table_transform({}, hide=("Time", "__name__", "Value", "alertstate")))
    return dashboard("llm-exporter-overview", "LLM overview",
                     "Every LLM server on every host: up, model, tokens/s, queue, KV cache, GPUs, firing alerts.",
                     b, ["job", "instance", "server"])


# ---------------------------------------------------------------------------------------------
# LLM server: one server (or a few) in detail.

def server():
    b = Board()
    def s(title, target, unit, **kw):
        b.add("stat", title, [target], unit, w=4, h=4, **kw)

    s("Model", t(f"llm_server_info{{{SSEL}}}", "{{model}}", instant=True), "none",
      text="name", description="The served model (llm_server_info).")
    s("Tokens generated", t(f"sum(increase(llm_generation_tokens_total{{{SSEL}}}{RANGE}))", "tokens",
                            instant=True), "short", description="Tokens generated over the dashboard range.")
    s("Generation tokens/s", t(f"sum(rate(llm_generation_tokens_total{{{SSEL}}}{RI}))", "tokens/s"), TOKS,
      calcs=("mean",), description="Mean over the dashboard range.")
    s("Prompt tokens/s", t(f"sum(rate(llm_prompt_tokens_total{{{SSEL}}}{RI}))", "tokens/s"), TOKS,
      calcs=("mean",), description="Mean over the dashboard range.")
    s("Average time per generated token",
      t(f"sum(increase(llm_generation_seconds_total{{{SSEL}}}{RANGE})) / "
        f"sum(increase(llm_generation_tokens_total{{{SSEL}}}{RANGE}))", "per token", instant=True), "s",
      description="Generation time divided by generated tokens over the dashboard range.")
    s("Busy slots", t(f'sum(llm_slots{{{SSEL}, state="busy"}})', "busy", instant=True), "none")
    s("Context used", t(f"sum(llm_slot_context_used_tokens{{{SSEL}}})", "tokens", instant=True), "short",
      description="Tokens the slots' sequences hold now.")
    s("Context total", t(f"sum(llm_context_size_tokens{{{SSEL}}} * on (instance, job, server, backend, model) "
                         f"sum without (state) (llm_slots{{{SSEL}}}))", "tokens", instant=True), "short",
      description="Context window per slot times the number of slots.")
    s("Context used %", t(f"sum(llm_slot_context_used_tokens{{{SSEL}}}) / sum(llm_context_size_tokens{{{SSEL}}} "
                          f"* on (instance, job, server, backend, model) sum without (state) (llm_slots{{{SSEL}}}))",
                          "used", instant=True), "percentunit", thresholds=[(0.8, "orange")])
    s("KV cache use", t(f"max(llm_kv_cache_usage_ratio{{{SSEL}}})", "KV cache", instant=True), "percentunit",
      thresholds=[(0.8, "orange")])
    s("Requests waiting", t(f"sum(llm_requests_waiting{{{SSEL}}})", "waiting", instant=True), "none",
      thresholds=[(1, "orange")])
    s("Generation speed", t(f"sum(increase(llm_generation_tokens_total{{{SSEL}}}{RANGE})) / "
                            f"sum(increase(llm_generation_seconds_total{{{SSEL}}}{RANGE}))", "tokens/s",
                            instant=True), TOKS,
      description="Tokens per second of generation time: the speed one request sees.")

    pm = "by (server, model)"
    b.add("table", "Models of this server", [
        t(f"sum {pm} (increase(llm_generation_tokens_total{{{SSEL}}}{RANGE})) / $__range_s", instant=True,
          fmt="table"),
        t(f"sum {pm} (increase(llm_generation_seconds_total{{{SSEL}}}{RANGE})) / "
          f"sum {pm} (increase(llm_generation_tokens_total{{{SSEL}}}{RANGE}))", instant=True, fmt="table"),
        t(f"max {pm} (llm_kv_cache_usage_ratio{{{SSEL}}})", instant=True, fmt="table"),
        t(f"max {pm} (llm_model_loaded{{{SSEL}}})", instant=True, fmt="table"),
        t(f"sum {pm} (llm_process_resident_memory_bytes{{{SSEL}, model!=\"\"}})", instant=True, fmt="table"),
    ], "none", w=24, h=6,
          description="One row per model: a single-model server has one, a llama.cpp router, llama-swap or "
                      "Ollama one per model. Loaded and RSS are given for routers' models (RSS of the child).",
          transformations=table_transform({"Value #A": "Avg tokens/s", "Value #B": "Time per token",
                                           "Value #C": "KV cache use", "Value #D": "Loaded", "Value #E": "RSS"}),
          overrides=[unit_override("Avg tokens/s", TOKS), unit_override("Time per token", "s"),
                     unit_override("KV cache use", "percentunit", 0, 1), unit_override("RSS", "bytes")])
    b.add("timeseries", "Generation tokens/s", [
        t(f"sum by (server, model) (rate(llm_generation_tokens_total{{{SSEL}}}{RI}))", "{{server}} {{model}}")],
          TOKS, description="One line per model. llama.cpp counts generated tokens when a request completes, "
                            "so this moves in steps.")
    b.add("timeseries", "Prompt tokens/s", [
        t(f"sum by (server) (rate(llm_prompt_tokens_total{{{SSEL}}}{RI}))", "{{server}} processed"),
        t(f"sum by (server) (rate(llm_prompt_cached_tokens_total{{{SSEL}}}{RI}))", "{{server}} from cache"),
        t(f"sum by (server, source) (rate(llm_prompt_tokens_by_source_total{{{SSEL}}}{RI}))",
          "{{server}} {{source}}"),
    ], TOKS, description="By source (vLLM): computed here, a local cache hit, or a KV transfer from elsewhere.")
    b.add("timeseries", "Generation speed per request", [
        t(f"sum by (server) (rate(llm_generation_tokens_total{{{SSEL}}}{RI})) / "
          f"sum by (server) (rate(llm_generation_seconds_total{{{SSEL}}}{RI}))", "{{server}} generation"),
        t(f"sum by (server) (rate(llm_prompt_tokens_total{{{SSEL}}}{RI})) / "
          f"sum by (server) (rate(llm_prompt_seconds_total{{{SSEL}}}{RI}))", "{{server}} prompt"),
    ], TOKS, description="Tokens per second of time spent generating (or reading the prompt).")
    b.add("timeseries", "Prompt cache hit ratio", [
        t(f"sum by (server) (rate(llm_prompt_cached_tokens_total{{{SSEL}}}{RI})) / "
          f"(sum by (server) (rate(llm_prompt_cached_tokens_total{{{SSEL}}}{RI})) + "
          f"sum by (server) (rate(llm_prompt_tokens_total{{{SSEL}}}{RI})))", "{{server}}"),
    ], "percentunit")
    b.add("timeseries", "Context used per slot", [
        t(f"llm_slot_context_used_tokens{{{SSEL}}}", "{{server}} {{model}} slot {{slot}}"),
        t(f"max by (server, model) (llm_context_size_tokens{{{SSEL}}})", "{{server}} {{model}} window per slot"),
        t(f"max by (server) (llm_context_peak_tokens{{{SSEL}}})", "{{server}} peak"),
    ], "short")
    b.add("timeseries", "Context used per slot %", [
        t(f"llm_slot_context_used_tokens{{{SSEL}}} / ignoring (slot) group_left () "
          f"llm_context_size_tokens{{{SSEL}}}", "{{server}} {{model}} slot {{slot}}"),
    ], "percentunit", thresholds=[(0.8, "orange")])
    b.add("timeseries", "Slots busy and idle", [
        t(f"sum by (server, state) (llm_slots{{{SSEL}}})", "{{server}} {{state}}"),
    ], "none").fill_opacity(60).stacking(cb.StackingConfig().mode(common.StackingMode.NORMAL).group("A"))
    b.add("timeseries", "Queue and sleep", [
        t(f"sum by (server) (llm_requests_running{{{SSEL}}})", "{{server}} running"),
        t(f"sum by (server) (llm_requests_waiting{{{SSEL}}})", "{{server}} waiting"),
        t(f"sum by (server, reason) (llm_requests_waiting_by_reason{{{SSEL}}})", "{{server}} waiting: {{reason}}"),
        t(f"max by (server) (llm_server_sleeping{{{SSEL}}})", "{{server}} asleep"),
    ], "none", description="Requests running and waiting, and why they wait (vLLM: capacity, deferred); asleep "
                           "is 1 while a llama-server sleeps (--sleep-idle-seconds) or a vLLM server sleeps "
                           "(--enable-sleep-mode, POST /sleep) with its model unloaded.")
    b.add("timeseries", "KV cache use", [
        t(f"max by (server) (llm_kv_cache_usage_ratio{{{SSEL}}})", "{{server}}")], "percentunit",
          thresholds=[(0.8, "orange")])
    b.add("timeseries", "Decode calls/s and batch size", [
        t(f"sum by (server) (rate(llm_decode_calls_total{{{SSEL}}}{RI}))", "{{server}} decode calls/s"),
        t(f"max by (server) (llm_decode_busy_slots_average{{{SSEL}}})", "{{server}} busy slots per decode"),
    ], "short")
    for title, metric in (("Time to first token", "llm_time_to_first_token_seconds"),
                          ("Inter-token latency", "llm_inter_token_latency_seconds"),
                          ("Request duration (end to end)", "llm_request_duration_seconds"),
                          ("Time in queue", "llm_request_queue_seconds")):
        def quantile(q, metric=metric):
            own = f"histogram_quantile({q}, sum by (server, le) (rate({metric}_bucket{{{SSEL}}}{RI})))"
            proxied = f"histogram_quantile({q}, sum by (server, le) (rate({PROXIED.get(metric)}_bucket{{{SSEL}}}{RI})))"
            return with_proxy(own, metric, proxied, "server")
        b.add("timeseries", f"{title} p50 / p95 / p99", [
            t(quantile(q), f"p{int(q * 100)} {{{{server}}}}") for q in (0.5, 0.95, 0.99)
        ], "s", description="From the backend's histograms (vLLM, SGLang, TGI), else from llm-exporter's proxy "
                            "in front of the server (llama.cpp, Ollama; not for the queue).")
    b.add("timeseries", "Requests completed/s and preemptions/s", [
        t(f"sum by (server, reason) (rate(llm_requests_completed_total{{{SSEL}}}{RI}))",
          "{{server}} {{reason}}"),
        t(f"sum by (server) (rate(llm_preemptions_total{{{SSEL}}}{RI}))", "{{server}} preempted"),
    ], "reqps", description="vLLM, SGLang and TGI count them; llama.cpp does not.")
    b.add("timeseries", "Speculative decoding acceptance", [
        t(f"sum by (server) (rate(llm_speculative_accepted_tokens_total{{{SSEL}}}{RI})) / "
          f"sum by (server) (rate(llm_speculative_draft_tokens_total{{{SSEL}}}{RI}))", "{{server}}"),
    ], "percentunit", description="Accepted draft tokens per drafted token, when a draft model is used.")
    return dashboard("llm-exporter-server", "LLM server",
                     "One LLM server in detail: tokens, speed, context and slots, queue, KV cache, latencies.",
                     b, ["job", "instance", "server"])


# ---------------------------------------------------------------------------------------------
# GPUs

def gpus():
    b = Board()
    b.add("table", "GPUs", [t(f"llm_gpu_info{{{GSEL}}}", instant=True, fmt="table")], "none", w=24, h=5,
          transformations=table_transform({}, hide=("Time", "__name__", "Value", "job")))

    def now_and_range(title, expr, unit, thresholds=None, maxv=None):
        b.add("gauge", title, [t(expr, "GPU {{gpu}} on {{instance}}", instant=True)], unit, w=4, h=6,
              thresholds=thresholds, maxv=maxv)
        b.add("stat", f"{title}: min / avg / max over the range", [
            t(f"min_over_time(({expr}){RANGE[:-1]}:])", "min GPU {{gpu}} on {{instance}}", instant=True),
            t(f"avg_over_time(({expr}){RANGE[:-1]}:])", "avg GPU {{gpu}} on {{instance}}", instant=True),
            t(f"max_over_time(({expr}){RANGE[:-1]}:])", "max GPU {{gpu}} on {{instance}}", instant=True),
        ], unit, w=8, h=6, thresholds=thresholds, maxv=maxv, text="value_and_name")

    now_and_range("Utilization", f"llm_gpu_utilization_ratio{{{GSEL}}}", "percentunit")
    now_and_range("Memory used", f"llm_gpu_memory_used_bytes{{{GSEL}}} / llm_gpu_memory_total_bytes{{{GSEL}}}",
                  "percentunit", thresholds=[(0.9, "red")])
    now_and_range("Temperature", f"llm_gpu_temperature_celsius{{{GSEL}}}", "celsius",
                  thresholds=[(80, "orange"), (85, "red")], maxv=100)
    now_and_range("Power", f"llm_gpu_power_watts{{{GSEL}}}", "watt")

    b.add("timeseries", "Utilization", [
        t(f"llm_gpu_utilization_ratio{{{GSEL}}}", "GPU {{gpu}} on {{instance}} compute"),
        t(f"llm_gpu_memory_bandwidth_utilization_ratio{{{GSEL}}}", "GPU {{gpu}} on {{instance}} memory bandwidth"),
    ], "percentunit")
    b.add("timeseries", "Memory", [
        t(f"llm_gpu_memory_used_bytes{{{GSEL}}}", "GPU {{gpu}} on {{instance}} used"),
        t(f"llm_gpu_memory_total_bytes{{{GSEL}}}", "GPU {{gpu}} on {{instance}} total"),
    ], "bytes")
    b.add("timeseries", "Temperature", [t(f"llm_gpu_temperature_celsius{{{GSEL}}}", "GPU {{gpu}} on {{instance}}")],
          "celsius", thresholds=[(85, "red")])
    b.add("timeseries", "Power", [
        t(f"llm_gpu_power_watts{{{GSEL}}}", "GPU {{gpu}} on {{instance}} draw"),
        t(f"llm_gpu_power_limit_watts{{{GSEL}}}", "GPU {{gpu}} on {{instance}} limit"),
        t(f"rate(llm_gpu_energy_joules_total{{{GSEL}}}{RI})", "GPU {{gpu}} on {{instance}} from energy"),
    ], "watt")
    b.add("timeseries", "Clocks", [
        t(f"llm_gpu_clock_hertz{{{GSEL}}}", "GPU {{gpu}} on {{instance}} {{clock}}"),
        t(f"llm_gpu_clock_max_hertz{{{GSEL}}}", "GPU {{gpu}} on {{instance}} {{clock}} max"),
    ], "hertz")
    b.add("timeseries", "Throttle reasons", [
        t(f"llm_gpu_throttled{{{GSEL}}} == 1", "GPU {{gpu}} on {{instance}} {{reason}}"),
    ], "none", description="One line per active reason (1 = throttling for that reason).").draw_style(
        common.GraphDrawStyle.POINTS).point_size(6).show_points(common.VisibilityMode.ALWAYS).fill_opacity(0)
    b.add("stat", "Energy over the range", [
        t(f"increase(llm_gpu_energy_joules_total{{{GSEL}}}{RANGE})", "GPU {{gpu}} on {{instance}}", instant=True),
    ], "joule", w=8, h=6, text="value_and_name")
    b.add("stat", "Uncorrected ECC errors over the range", [
        t(f'increase(llm_gpu_ecc_errors_total{{{GSEL}, type="uncorrected"}}{RANGE})', "GPU {{gpu}} on {{instance}}",
          instant=True),
    ], "short", w=8, h=6, thresholds=[(1, "red")], text="value_and_name")
    b.add("stat", "PCIe link", [
        t(f"llm_gpu_pcie_link_generation{{{GSEL}}}", "GPU {{gpu}} gen", instant=True),
        t(f"llm_gpu_pcie_link_width{{{GSEL}}}", "GPU {{gpu}} width", instant=True),
        t(f"llm_gpu_performance_state{{{GSEL}}}", "GPU {{gpu}} P-state", instant=True),
    ], "none", w=8, h=6, text="value_and_name")
    b.add("timeseries", "PCIe throughput", [
        t(f"rate(llm_gpu_pcie_bytes_total{{{GSEL}}}{RI})", "GPU {{gpu}} on {{instance}} {{direction}}"),
    ], "Bps", w=8)
    b.add("timeseries", "Fans", [t(f"llm_gpu_fan_speed_ratio{{{GSEL}}}", "GPU {{gpu}} on {{instance}} fan {{fan}}")],
          "percentunit", w=8)
    b.add("timeseries", "Encoder and decoder", [
        t(f"llm_gpu_encoder_utilization_ratio{{{GSEL}}}", "GPU {{gpu}} on {{instance}} encoder"),
        t(f"llm_gpu_decoder_utilization_ratio{{{GSEL}}}", "GPU {{gpu}} on {{instance}} decoder"),
    ], "percentunit", w=8)
    b.add("table", "GPU memory per process", [
        t(f"llm_process_gpu_memory_bytes{{{GSEL}}} * on (instance, job, gpu) group_left (name) "
          f"llm_gpu_info{{{GSEL}}}", instant=True, fmt="table"),
    ], "bytes", w=12, h=8, transformations=table_transform({"Value": "GPU memory"}, hide=("Time", "job", "__name__")))
    b.add("timeseries", "GPU memory per server", [
        t(f"sum by (instance, server, gpu) (llm_process_gpu_memory_bytes{{{GSEL}}})",
          "{{server}} on GPU {{gpu}} of {{instance}}"),
    ], "bytes", w=12)
    return dashboard("llm-exporter-gpus", "GPUs",
                     "GPUs through NVML: utilization, memory, temperature and power with min/avg/max over the range, "
                     "clocks, throttling, energy, per-process GPU memory.", b, ["job", "instance", "gpu"])


# ---------------------------------------------------------------------------------------------
# Processes

def processes():
    b = Board()
    proc = "{{server}} {{process}} ({{pid}})"
    b.add("timeseries", "CPU per process", [
        t(f"sum without (mode) (rate(llm_process_cpu_seconds_total{{{SSEL}}}{RI}))", proc),
    ], "percentunit", maxv="none", description="100 % = one core busy; a process can use several cores.")
    b.add("timeseries", "CPU user and system", [
        t(f"sum by (server, mode) (rate(llm_process_cpu_seconds_total{{{SSEL}}}{RI}))", "{{server}} {{mode}}"),
    ], "percentunit", maxv="none")
    b.add("timeseries", "Resident memory (RSS)", [t(f"llm_process_resident_memory_bytes{{{SSEL}}}", proc)], "bytes")
    b.add("timeseries", "Virtual memory and swap", [
        t(f"llm_process_virtual_memory_bytes{{{SSEL}}}", proc + " virtual"),
        t(f"llm_process_swap_bytes{{{SSEL}}}", proc + " swap"),
    ], "bytes")
    b.add("timeseries", "Threads", [t(f"llm_process_threads{{{SSEL}}}", proc)], "short", w=8)
    b.add("timeseries", "Open file descriptors (of the limit)", [
        t(f"llm_process_open_fds{{{SSEL}}} / llm_process_max_fds{{{SSEL}}}", proc),
    ], "percentunit", w=8)
    b.add("timeseries", "Context switches/s", [
        t(f"rate(llm_process_context_switches_total{{{SSEL}}}{RI})", proc + " {{type}}"),
    ], "cps", w=8)
    b.add("timeseries", "Disk I/O", [
        t(f"rate(llm_process_read_bytes_total{{{SSEL}}}{RI})", proc + " read"),
        t(f"rate(llm_process_written_bytes_total{{{SSEL}}}{RI})", proc + " written"),
    ], "Bps")
    b.add("timeseries", "GPU memory per process", [
        t(f"llm_process_gpu_memory_bytes{{{SSEL}}}", proc + " GPU {{gpu}}"),
    ], "bytes", description="Only processes that NVML reports on a GPU.")
    b.add("timeseries", "GPU utilization per process", [
        t(f"llm_process_gpu_utilization_ratio{{{SSEL}}}", proc + " GPU {{gpu}}"),
    ], "percentunit")
    b.add("stat", "Uptime", [t(f"time() - llm_process_start_time_seconds{{{SSEL}}}", proc, instant=True)], "s",
          w=12, text="value_and_name")
    b.add("table", "Processes", [t(f"llm_process_info{{{SSEL}}}", instant=True, fmt="table")], "none", w=24, h=6,
          description="Workload class and container of each selected process.",
          transformations=table_transform({}, hide=("Time", "job", "__name__", "Value")))
    cpu = f'server:llm_process_cpu_seconds:rate1m{{{SSEL}, server!=""}}'
    rss = f'server:llm_process_resident_memory_bytes:sum{{{SSEL}, server!=""}}'
    b.add("table", "Servers compared over the range", [
        t(f"avg_over_time({cpu}{RANGE})", instant=True, fmt="table"),
        t(f"max_over_time({cpu}{RANGE})", instant=True, fmt="table"),
        t(f"min_over_time({cpu}{RANGE})", instant=True, fmt="table"),
        t(f"stddev_over_time({cpu}{RANGE})", instant=True, fmt="table"),
        t(f"avg_over_time({rss}{RANGE})", instant=True, fmt="table"),
        t(f"max_over_time({rss}{RANGE})", instant=True, fmt="table"),
        t(f"min_over_time({rss}{RANGE})", instant=True, fmt="table"),
        t(f"stddev_over_time({rss}{RANGE})", instant=True, fmt="table"),
    ], "percentunit", w=24, h=7,
        description="CPU (all processes of a server, 100 % = one core) and RSS: average, maximum, minimum and "
                    "standard deviation over the dashboard range, from the recording rules.",
        transformations=table_transform({"Value #A": "CPU avg", "Value #B": "CPU max", "Value #C": "CPU min",
                                         "Value #D": "CPU stddev", "Value #E": "RSS avg", "Value #F": "RSS max",
                                         "Value #G": "RSS min", "Value #H": "RSS stddev"}),
        overrides=[regex_override("^RSS .*", "bytes")])
    return dashboard("llm-exporter-processes", "LLM processes",
                     "The processes behind the LLM servers: CPU, memory, threads, file descriptors, I/O, GPU memory, "
                     "and the servers compared over the range.", b, ["job", "instance", "server"])


# ---------------------------------------------------------------------------------------------
# Models side by side

def models():
    b = Board()
    per = "by (instance, job, server)"
    legend = "{{model}} ({{server}})"
    # Series that carry model themselves (every token series, a router's children): no join.
    msel = SSEL + ', model=~"$model"'
    # Processes that serve one model (a router's or llama-swap's children, Ollama runners).
    psel = msel + ', model!=""'
    pm = "by (instance, job, server, model)"
    b.add("state-timeline", "Model state (routers, llama-swap)", [
        t(f'max {pm} (llm_model_state{{{msel}, state="loaded"}}) * 1 + '
          f'max {pm} (llm_model_state{{{msel}, state="sleeping"}}) * 2 + '
          f'max {pm} (llm_model_state{{{msel}, state="loading"}}) * 3 + '
          f'max {pm} (llm_model_state{{{msel}, state="failed"}}) * 4', legend)], "none", w=24, h=6,
          description="Per model of a llama.cpp router or llama-swap: unloaded (0), loaded (1), sleeping (2), "
                      "loading (3), failed (4).",
          ).fill_opacity(70).line_width(0).merge_values(True).show_value(common.VisibilityMode.NEVER).align_value(
        common.TimelineValueAlignment.LEFT).row_height(0.9).legend(cb.VizLegendOptions().show_legend(False).display_mode(
            common.LegendDisplayMode.LIST).placement(common.LegendPlacement.BOTTOM)).mappings([dm.ValueMap(options={
                str(i): dm.ValueMappingResult(text=text, color=color) for i, (text, color) in enumerate(
                    (("unloaded", "text"), ("loaded", "green"), ("sleeping", "blue"), ("loading", "yellow"),
                     ("failed", "red")))})])
    b.add("table", "Per model over the range", [
        t(f"sum {pm} (increase(llm_generation_tokens_total{{{msel}}}{RANGE})) / $__range_s", instant=True,
          fmt="table"),
        t(f"max_over_time((sum {pm} (rate(llm_generation_tokens_total{{{msel}}}{RI})))[$__range:])",
          instant=True, fmt="table"),
        t(f"sum {pm} (increase(llm_generation_seconds_total{{{msel}}}{RANGE})) / "
          f"sum {pm} (increase(llm_generation_tokens_total{{{msel}}}{RANGE}))", instant=True, fmt="table"),
        t(f"avg_over_time((sum {pm} (llm_process_resident_memory_bytes{{{psel}}}))[$__range:])", instant=True,
          fmt="table"),
        t(f"max_over_time((sum {pm} (llm_process_resident_memory_bytes{{{psel}}}))[$__range:])", instant=True,
          fmt="table"),
        t(f"sum {pm} (rate(llm_process_cpu_seconds_total{{{psel}}}{RANGE}))", instant=True, fmt="table"),
        t(f"max_over_time((sum {pm} (llm_process_gpu_memory_bytes{{{psel}}}))[$__range:])", instant=True,
          fmt="table"),
    ], "none", w=24, h=7,
          description="Tokens/s: average over the range and peak rate; time per generated token; RSS, "
                      "CPU and GPU memory of the processes that serve one model (of a router, llama-swap or Ollama; a "
                      "single-model server's processes are in the table below, by server).",
          transformations=table_transform({"Value #A": "Avg tokens/s", "Value #B": "Peak tokens/s",
                                           "Value #C": "Time per token", "Value #D": "Avg RSS",
                                           "Value #E": "Peak RSS", "Value #F": "Avg CPU cores",
                                           "Value #G": "Peak GPU memory"}),
          overrides=[regex_override(".* tokens/s", TOKS), unit_override("Time per token", "s"),
                     regex_override(".* RSS|.* GPU memory", "bytes"), unit_override("Avg CPU cores", "none")])
    def by_model_range(name):
        return f"sum {pm} (increase({name}{{{msel}}}{RANGE}))"
    b.add("table", "Per request, by model (measured by the proxy)", [
        t(by_model_range("llm_proxy_requests_total"), instant=True, fmt="table"),
        t(f"{by_model_range('llm_proxy_time_to_first_token_seconds_sum')} / "
          f"{by_model_range('llm_proxy_time_to_first_token_seconds_count')}", instant=True, fmt="table"),
        t(f"histogram_quantile(0.95, sum by (instance, job, server, model, le) "
          f"(rate(llm_proxy_time_to_first_token_seconds_bucket{{{msel}}}{RANGE})))", instant=True, fmt="table"),
        t(f"{by_model_range('llm_proxy_inter_token_latency_seconds_count')} / "
          f"{by_model_range('llm_proxy_inter_token_latency_seconds_sum')}", instant=True, fmt="table"),
        t(by_model_range("llm_proxy_prompt_tokens_total"), instant=True, fmt="table"),
        t(by_model_range("llm_proxy_generation_tokens_total"), instant=True, fmt="table"),
        t(f"{by_model_range('llm_proxy_request_duration_seconds_sum')} / "
          f"{by_model_range('llm_proxy_request_duration_seconds_count')}", instant=True, fmt="table"),
    ], "none", w=24, h=7,
          description="Requests forwarded by llm-exporter --proxy over the range: count, time to first token "
                      "(average and p95), tokens/s while streaming (1 / average inter-token latency), tokens, "
                      "average duration. Servers without the proxy in front have no rows.",
          transformations=table_transform({"Value #A": "Requests", "Value #B": "Avg TTFT", "Value #C": "p95 TTFT",
                                           "Value #D": "Tokens/s per request", "Value #E": "Prompt tokens",
                                           "Value #F": "Generated tokens", "Value #G": "Avg duration"}),
          overrides=[regex_override(".*TTFT|Avg duration", "s"), unit_override("Tokens/s per request", TOKS)])
    b.add("timeseries", "Generation tokens/s by model", [
        t(f"sum {pm} (rate(llm_generation_tokens_total{{{msel}}}{RI}))", legend)], TOKS)
    b.add("timeseries", "Resident memory by model (router children)", [
        t(f"sum {pm} (llm_process_resident_memory_bytes{{{psel}}})", legend)], "bytes")
    table_targets = [
        t(f"sum {per} (rate(llm_generation_tokens_total{{{SSEL}}}{RANGE})){BY_MODEL}", instant=True, fmt="table"),
        t(f"sum {per} (rate(llm_prompt_tokens_total{{{SSEL}}}{RANGE})){BY_MODEL}", instant=True, fmt="table"),
        t(f"(sum {per} (increase(llm_generation_tokens_total{{{SSEL}}}{RANGE})) / "
          f"sum {per} (increase(llm_generation_seconds_total{{{SSEL}}}{RANGE}))){BY_MODEL}", instant=True, fmt="table"),
        t(model_quantile(0.95, "llm_time_to_first_token_seconds", RANGE), instant=True, fmt="table"),
        t(model_quantile(0.95, "llm_request_duration_seconds", RANGE), instant=True, fmt="table"),
        t(f"sum {per} (llm_process_resident_memory_bytes{{{SSEL}}}){BY_MODEL}", instant=True, fmt="table"),
        t(f"sum {per} (llm_process_gpu_memory_bytes{{{SSEL}}}){BY_MODEL}", instant=True, fmt="table"),
        t(f"avg_over_time(server:llm_generation_tokens_per_joule:ratio5m{{{SSEL}}}{RANGE}){BY_MODEL}", instant=True,
          fmt="table"),
    ]
    b.add("table", "Models side by side", table_targets, "none", w=24, h=7,
          description="Averages over the dashboard range; memory now.",
          transformations=table_transform({"Value #A": "Generation tokens/s", "Value #B": "Prompt tokens/s",
                                           "Value #C": "Generation speed", "Value #D": "TTFT p95",
                                           "Value #E": "Request p95", "Value #F": "RSS", "Value #G": "GPU memory",
                                           "Value #H": "Tokens per joule"}),
          overrides=[regex_override(".* tokens/s|Generation speed", TOKS), regex_override(".* p95", "s"),
                     regex_override("RSS|GPU memory", "bytes"), unit_override("Tokens per joule", "suffix: tok/J")])
    b.add("bargauge", "Generation tokens/s (average over the range)", [
        t(f"sum {per} (rate(llm_generation_tokens_total{{{SSEL}}}{RANGE})){BY_MODEL}", legend, instant=True),
    ], TOKS, w=12, h=6)
    b.add("bargauge", "Generated tokens per joule of GPU energy (average over the range)", [
        t(f"avg_over_time(server:llm_generation_tokens_per_joule:ratio5m{{{SSEL}}}{RANGE}){BY_MODEL}", legend,
          instant=True),
    ], "suffix: tok/J", w=12, h=6, description="Generated tokens divided by the energy of the GPUs the server's "
                                                "processes use (a shared GPU counts in full for each server). "
                                                "NVML GPUs only: a Mac reports no GPU energy, so a server on a "
                                                "Mac has no value here.")
    b.add("timeseries", "Generation tokens/s", [
        t(f"sum {per} (rate(llm_generation_tokens_total{{{SSEL}}}{RI})){BY_MODEL}", legend)], TOKS)
    b.add("timeseries", "Prompt tokens/s", [
        t(f"sum {per} (rate(llm_prompt_tokens_total{{{SSEL}}}{RI})){BY_MODEL}", legend)], TOKS)
    b.add("timeseries", "Generation speed per request", [
        t(f"(sum {per} (rate(llm_generation_tokens_total{{{SSEL}}}{RI})) / "
          f"sum {per} (rate(llm_generation_seconds_total{{{SSEL}}}{RI}))){BY_MODEL}", legend)], TOKS)
    b.add("timeseries", "Resident memory (RSS)", [
        t(f"sum {per} (llm_process_resident_memory_bytes{{{SSEL}}}){BY_MODEL}", legend)], "bytes")
    for title, metric in (("Time to first token", "llm_time_to_first_token_seconds"),
                          ("Request duration (end to end)", "llm_request_duration_seconds")):
        b.add("timeseries", f"{title} p50 / p95 / p99", [
            t(model_quantile(q, metric, RI), f"p{int(q * 100)} " + legend) for q in (0.5, 0.95, 0.99)], "s",
              description="From the backend's histograms (vLLM, SGLang, TGI), else from llm-exporter's proxy in "
                          "front of the server (llama.cpp, Ollama), per model.")
    b.add("timeseries", "GPU memory", [
        t(f"sum {per} (llm_process_gpu_memory_bytes{{{SSEL}}}){BY_MODEL}", legend)], "bytes")
    b.add("timeseries", "Generated tokens per joule", [
        t(f"server:llm_generation_tokens_per_joule:ratio5m{{{SSEL}}}{BY_MODEL}", legend)], "suffix: tok/J")
    return dashboard("llm-exporter-models", "LLM models",
                     "The served models side by side: tokens/s, speed, latency quantiles, memory, GPU memory and "
                     "generated tokens per joule.", b, ["job", "instance", "server", "model"])


DASHBOARDS = {"overview.json": overview, "server.json": server, "gpus.json": gpus, "processes.json": processes,
              "models.json": models}


def provisioned(build):
    out = json.loads(json.dumps(build().build(), cls=JSONEncoder))
    out["id"] = None  # the SDK leaves unset fields out; a provisioned dashboard's id is null
    return out


def for_grafana_com(board):
    """The "export externally" form. The SDK has no __inputs or __requires (they belong to Grafana's export, not
    to the dashboard schema), so they are added here: the datasource variable defaults to the one chosen on import."""
    kinds = sorted({p["type"] for p in board["panels"]})
    board["templating"]["list"][0]["current"] = {"selected": False, "text": "${DS_PROMETHEUS}",
                                                 "value": "${DS_PROMETHEUS}"}
    return {"__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "description": "", "type": "datasource",
                          "pluginId": "prometheus", "pluginName": "Prometheus"}],
            "__requires": [{"type": "grafana", "id": "grafana", "name": "Grafana", "version": GRAFANA},
                           {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"}]
            + [{"type": "panel", "id": k, "name": k, "version": ""} for k in kinds], **board}


def main(argv):
    check = "--check" in argv
    stale = []
    for name, build in DASHBOARDS.items():
        board = provisioned(build)
        for path, out in ((OUT / name, board), (DIST / name, for_grafana_com(json.loads(json.dumps(board))))):
            text = json.dumps(out, indent=2, ensure_ascii=False) + "\n"
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            elif not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path.relative_to(ROOT)))
    if stale:
        print("grafana/generate.py: out of date (run python3 grafana/generate.py): " + ", ".join(stale),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

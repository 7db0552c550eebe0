#!/usr/bin/env python3
"""Measures prometheus_client.parser.text_string_to_metric_families on the inputs that
`parser-bench dump DIR` wrote, with the same scheme and JSON lines as parser-bench:

    bench.py DIR ROUND MS

Debian's python3-prometheus-client is enough (see ../run).
"""

import json
import sys
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families


def parse(body):
    """The number of samples; the parser is a generator, so this is what makes it work."""
    return sum(len(family.samples) for family in text_string_to_metric_families(body))


def measure(body, budget):
    """Runs parse for about `budget` seconds after a quarter of it as warm-up; at least once
    each, so a slow parser on a big input still gets one timed run per round."""
    start = time.perf_counter()
    n = 0
    while n == 0 or time.perf_counter() - start < budget / 4:
        parse(body)
        n += 1
    iters = 0
    start = time.perf_counter()
    while True:
        parse(body)
        iters += 1
        secs = time.perf_counter() - start
        if secs >= budget:
            return iters, secs


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: bench.py DIR ROUND MS")
    root, round_, budget = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) / 1000
    for name in (root / "manifest").read_text(encoding="utf-8").split():
        body = (root / "prom" / name).read_text(encoding="utf-8")
        rec = {"lang": "python", "parser": "python-prometheus-client", "input": name, "bytes": len(body.encode()), "round": round_}
        try:
            samples = parse(body)
        except Exception as e:  # noqa: BLE001 - any rejection is a result to report
            rec["error"] = f"{type(e).__name__}: {e}"[:200]
            print(json.dumps(rec), flush=True)
            continue
        iters, secs = measure(body, budget)
        rec.update(
            samples=samples,
            iters=iters,
            secs=round(secs, 6),
            mb_s=round(rec["bytes"] * iters / secs / 1e6, 3),
            ns_per_sample=round(secs * 1e9 / (iters * samples), 2) if samples else None,
        )
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()

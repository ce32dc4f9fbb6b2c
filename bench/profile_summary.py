#!/usr/bin/env python3
"""Where a profiled scoring pass spends its time, from Chrome traces of libtorch's
profiler (memscope's MEMSCOPE_PROFILE_SCORING, or torch.profiler's
export_chrome_trace for the published loop), side by side.

For each trace: its span, and on CUDA the time the GPU was busy (the union of kernel
intervals: a low share means the host, launching kernels, is what limits the pass),
the number of kernels, and the kernels that took the most time; on the CPU, the
operators with the most self time (their time less that of the operators they call).

    bench/profile_summary.py memscope=runs/profile/scoring-epoch-2.json published=published.json
    bench/profile_summary.py --top 20 TRACE.json [...]            # a trace's file name as its label
    bench/profile_summary.py --json out.json LABEL=TRACE [...]
"""

import argparse
import gzip
import json
from collections import defaultdict


def load(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        events = json.load(f)
    events = events["traceEvents"] if isinstance(events, dict) else events
    return [e for e in events if e.get("ph") == "X" and "dur" in e]


def union_length(intervals):
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def self_times(ops):
    """Each CPU operator's self time: its duration less its direct children's (operators
    nest on one thread)."""
    by_thread = defaultdict(list)
    for e in ops:
        by_thread[(e.get("pid"), e.get("tid"))].append(e)
    totals = defaultdict(lambda: [0.0, 0])
    for events in by_thread.values():
        events.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []  # [event, children's time]
        def close(item):
            event, children = item
            total = totals[event["name"]]
            total[0] += event["dur"] - children
            total[1] += 1
            if stack:
                stack[-1][1] += event["dur"]
        for e in events:
            while stack and e["ts"] >= stack[-1][0]["ts"] + stack[-1][0]["dur"]:
                close(stack.pop())
            stack.append([e, 0.0])
        while stack:
            close(stack.pop())
    return totals


def summarize(path, top):
    events = load(path)
    kernels = [e for e in events if e.get("cat") == "kernel"]
    ops = [e for e in events if e.get("cat") == "cpu_op"]
    starts = [e["ts"] for e in events]
    ends = [e["ts"] + e["dur"] for e in events]
    span = (max(ends) - min(starts)) if events else 0.0
    summary = {"trace": path, "span_ms": span / 1e3, "cpu_ops": len(ops), "kernels": len(kernels)}
    if kernels:
        busy = union_length([(e["ts"], e["ts"] + e["dur"]) for e in kernels])
        summary["gpu_busy_ms"] = busy / 1e3
        summary["gpu_busy_share"] = busy / span if span else None
        by_name = defaultdict(lambda: [0.0, 0])
        for e in kernels:
            by_name[e["name"]][0] += e["dur"]
            by_name[e["name"]][1] += 1
        ranked = sorted(by_name.items(), key=lambda kv: -kv[1][0])[:top]
        summary["top_kernels"] = [{"name": n, "ms": t / 1e3, "count": c} for n, (t, c) in ranked]
    totals = self_times(ops)
    ranked = sorted(totals.items(), key=lambda kv: -kv[1][0])[:top]
    summary["top_cpu_ops_self"] = [{"name": n, "ms": t / 1e3, "count": c} for n, (t, c) in ranked]
    return summary


def show(label, s):
    print(f"{label}: {s['trace']}")
    line = f"  span {s['span_ms']:.1f} ms, {s['cpu_ops']} operators, {s['kernels']} kernels"
    if "gpu_busy_ms" in s:
        line += f", GPU busy {s['gpu_busy_ms']:.1f} ms ({100 * s['gpu_busy_share']:.0f} % of the span)"
    print(line)
    if s.get("top_kernels"):
        print("  kernels, most time first:")
        for k in s["top_kernels"]:
            print(f"    {k['ms']:9.2f} ms  {k['count']:6d}x  {k['name'][:100]}")
    print("  operators, most self time first (host time):")
    for o in s["top_cpu_ops_self"]:
        print(f"    {o['ms']:9.2f} ms  {o['count']:6d}x  {o['name']}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("traces", nargs="+", help="TRACE.json[.gz] or LABEL=TRACE.json[.gz]")
    p.add_argument("--top", type=int, default=12)
    p.add_argument("--json", help="also write the summaries here")
    args = p.parse_args()
    results = {}
    for item in args.traces:
        label, _, path = item.rpartition("=")
        label = label or path
        results[label] = summarize(path, args.top)
        show(label, results[label])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Cracktrader vs Backtrader: the same SMA(10, 30) crossover on the same bars.

Not run in CI. Reproducible: it builds `cracktrader` (release; the
`sma-cross` component comes from `cargo xtask plugins`), installs a pinned
Backtrader from PyPI into a throwaway virtualenv, writes the synthetic series
of the Rust benchmarks (tests/bench.rs `write_synthetic_csv`, ported below bar
for bar), backtests it with both, and prints both throughputs and their ratio
side by side, with the fills and final equity of each (identical on the
bundled EURUSD data; 0.2% of fills differ on the synthetic series, where f64
rounding of two differently computed SMAs decides some crossings; see
docs/benchmarks.md).

Rules, as in plugins/sma-cross: on each close update SMA(fast) and
SMA(slow); from the second bar where both are ready, buy up to `quantity`
when fast - slow goes from <= 0 to > 0, sell the whole position when it goes
from >= 0 to < 0; market orders fill at the next bar's open; commission 0.1%
of notional; 100,000 starting cash.

Usage: cargo xtask plugins && scripts/compare_backtrader.py [--bars N] [--data FILE.csv]
(default: 1,000,000 synthetic bars; --data takes a CSV in the bundled format,
e.g. examples/data/EURUSD.csv)
"""

import argparse
import datetime
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import venv

BACKTRADER = "backtrader==1.9.78.123"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MASK = (1 << 64) - 1


def write_synthetic_csv(path, n):
    """tests/bench.rs `write_synthetic_csv`: a xorshift64* random walk."""
    state = 0x9E3779B97F4A7C15

    def next_random():
        nonlocal state
        state ^= state >> 12
        state ^= (state << 25) & MASK
        state ^= state >> 27
        return (state * 0x2545F4914F6CDD1D) & MASK

    def price(p):
        return f"{p // 100000}.{p % 100000:05d}"

    start = datetime.datetime.fromtimestamp(1_500_000_000, datetime.timezone.utc)
    close = 110_000
    with open(path, "w") as out:
        out.write(",Open,High,Low,Close,Volume\n")
        for i in range(n):
            open_ = close
            close = max(open_ + next_random() % 41 - 20, 1_000)
            wick = next_random() % 10
            t = start + datetime.timedelta(minutes=i)
            out.write(
                f"{t:%Y-%m-%d %H:%M:%S},{price(open_)},{price(max(open_, close) + wick)},"
                f"{price(max(min(open_, close) - wick, 1))},{price(close)},1000\n"
            )


SESSION = """[session]
name = "compare-backtrader"

[[instruments]]
symbol = "EURUSD"
base_currency = "EUR"
quote_currency = "USD"
tick_size = "0.00001"
lot_size = "1"

[[data]]
instrument = "EURUSD"
path = "{data}"

[[execution]]
id = "sim-usd"
currency = "USD"
starting_cash = "100000"
commission = "0.001"

[[strategies]]
id = "sma"
plugin = "{plugin}"
execution = "sim-usd"
instruments = ["EURUSD"]

[strategies.params]
instrument = "EURUSD"
fast = 10
slow = 30
quantity = "1000"
"""

BACKTRADER_RUN = r'''
import sys, time
import backtrader as bt

class SmaCross(bt.Strategy):
    params = dict(fast=10, slow=30, quantity=1000)

    def __init__(self):
        self.fast = bt.indicators.SMA(self.data.close, period=self.p.fast)
        self.slow = bt.indicators.SMA(self.data.close, period=self.p.slow)
        self.prev = None
        self.fills = 0

    def notify_order(self, order):
        if order.status == order.Completed:
            self.fills += 1

    def next(self):
        diff = self.fast[0] - self.slow[0]
        prev, self.prev = self.prev, diff
        if prev is None:
            return
        position = self.position.size
        if prev <= 0 and diff > 0:
            qty = self.p.quantity - position
            if qty > 0:
                self.buy(size=qty)
        elif prev >= 0 and diff < 0 and position > 0:
            self.sell(size=position)

data = bt.feeds.GenericCSVData(
    dataname=sys.argv[1], dtformat="%Y-%m-%d %H:%M:%S", datetime=0, open=1, high=2,
    low=3, close=4, volume=5, openinterest=-1, headers=True,
    timeframe=bt.TimeFrame.Minutes)
cerebro = bt.Cerebro(stdstats=False)
cerebro.adddata(data)
cerebro.addstrategy(SmaCross)
cerebro.broker.setcash(100000.0)
cerebro.broker.setcommission(commission=0.001)
start, cpu = time.perf_counter(), time.process_time()
strategy = cerebro.run()[0]
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
print(f"{elapsed} {cpu} {strategy.fills} {cerebro.broker.getvalue()}")
'''


def run(cmd, **kwargs):
    print("+", " ".join(cmd), file=sys.stderr)
    return subprocess.run(cmd, check=True, **kwargs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--data", help="CSV in the bundled format instead of synthetic bars")
    args = parser.parse_args()

    run(["cargo", "build", "--release", "--quiet", "-p", "cracktrader", "--bin", "cracktrader"],
        cwd=ROOT)
    plugin = os.path.join(ROOT, "target", "plugins", "sma-cross.wasm")
    if not os.path.isfile(plugin):
        sys.exit(f"{plugin} is missing: run `cargo xtask plugins` first")
    cracktrader = os.path.join(ROOT, "target", "release", "cracktrader")

    with tempfile.TemporaryDirectory(prefix="compare-backtrader-") as tmp:
        env_dir = os.path.join(tmp, "venv")
        venv.create(env_dir, with_pip=True)
        python = os.path.join(env_dir, "bin", "python")
        run([python, "-m", "pip", "install", "--quiet", BACKTRADER])

        if args.data:
            data = os.path.abspath(args.data)
        else:
            data = os.path.join(tmp, "synthetic.csv")
            write_synthetic_csv(data, args.bars)
        with open(data) as f:
            bars = sum(1 for _ in f) - 1
        session = os.path.join(tmp, "session.toml")
        with open(session, "w") as f:
            f.write(SESSION.format(data=data, plugin=plugin))

        # Cracktrader: its own figures (step loop, and loading: CSV, plugin
        # from the compiled-component cache, instantiation), and the wall and
        # CPU time of the whole process. The first run fills the cache.
        backtest = [cracktrader, "backtest", session, "--report", os.path.join(tmp, "report.json")]
        run(backtest, capture_output=True)
        start, cpu = time.perf_counter(), cpu_children()
        out = run(backtest, capture_output=True, text=True).stdout
        ct_wall, ct_cpu = time.perf_counter() - start, cpu_children() - cpu
        match = re.search(r"\(([\d.]+) ms run, ([\d.]+) ms load\)", out)
        ct_run, ct_load = float(match.group(1)) / 1e3, float(match.group(2)) / 1e3
        ct_fills = int(re.search(r"from (\d+) fills", out).group(1))
        ct_equity = re.search(r"equity\s+\S+ → (\S+)", out).group(1)

        # Backtrader: cerebro.run(), which includes reading the CSV (preload).
        script = os.path.join(tmp, "bt_run.py")
        with open(script, "w") as f:
            f.write(BACKTRADER_RUN)
        bt_out = run([python, script, data], capture_output=True, text=True).stdout.split()
        bt_time, bt_cpu = float(bt_out[0]), float(bt_out[1])
        bt_fills, bt_equity = int(bt_out[2]), float(bt_out[3])

    load = os.getloadavg()
    print(f"SMA(10, 30) crossover, {bars} bars of {os.path.basename(data)}; "
          f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'':34} {'wall s':>8} {'bars/s':>10} {'CPU s':>8} {'bars/CPU s':>11} {'fills':>6} {'final equity':>14}")
    rows = [
        ("cracktrader (wasm), step loop", ct_run, None, ct_fills, ct_equity),
        ("cracktrader, load + step loop", ct_run + ct_load, None, "", ""),
        ("cracktrader, whole process", ct_wall, ct_cpu, "", ""),
        (f"{BACKTRADER}, cerebro.run()", bt_time, bt_cpu, bt_fills, f"{bt_equity:.5f}"),
    ]
    for name, wall, cpu, fills, equity in rows:
        cpu_cols = f"{cpu:8.3f} {bars / cpu:11.0f}" if cpu else f"{'':8} {'':11}"
        print(f"{name:34} {wall:8.3f} {bars / wall:10.0f} {cpu_cols} {fills:>6} {equity:>14}")
    print(f"ratio cracktrader/backtrader in bars/s: wall, step loop {bt_time / ct_run:.1f}x; "
          f"wall, whole process vs cerebro.run() {bt_time / ct_wall:.1f}x; "
          f"CPU, whole process vs cerebro.run() {bt_cpu / ct_cpu:.1f}x")
    if ct_fills != bt_fills:
        print(f"note: fills differ ({ct_fills} vs {bt_fills})", file=sys.stderr)


def cpu_children():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()

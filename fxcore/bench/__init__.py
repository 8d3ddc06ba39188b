"""Replay benchmark: selectors over a table of measured subdomains (the BO paper, Fig. 4)."""

from fxcore.bench.metrics import worst_mask
from fxcore.bench.replay import (
    OracleSelector,
    ReplayFidelity,
    Trace,
    images_per_row,
    make_selector,
    parse_selector,
    replay,
    run_bench,
)
from fxcore.bench.table import Table, list_tables, load_table

__all__ = [
    "OracleSelector",
    "ReplayFidelity",
    "Table",
    "Trace",
    "images_per_row",
    "list_tables",
    "load_table",
    "make_selector",
    "parse_selector",
    "replay",
    "run_bench",
    "worst_mask",
]

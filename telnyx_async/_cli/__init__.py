"""The ``telnyx-async`` command line: get, bulk, list, demo and fake-server.

Exit statuses: 0 every id succeeded, 1 some failed, 2 usage error (no key, bad
flags, an unreadable ids file), 130 interrupted. Results go to stdout (or
``--output``); progress, the summary and messages go to stderr. The API key is
never printed. Any other exception is a bug and ends with its traceback.

Ctrl-C is handled at the edge, where a command's coroutine is run: the
coroutines themselves let cancellation through, as any asyncio code must.

Modules: ``_main`` (parser, entry point), ``_common`` (exit statuses, flags,
the session, Ctrl-C), ``_results`` (JSON Lines records, bulk runs, summaries,
resuming), and one module per command.
"""

from ._main import build_parser, main
from ._results import BulkTally, error_record, read_previous, report, result_line, run_bulk

__all__ = [
    "BulkTally",
    "build_parser",
    "error_record",
    "main",
    "read_previous",
    "report",
    "result_line",
    "run_bulk",
]

"""``%%sql``: ask the lab a question from a notebook cell.

Load it with ``%load_ext dvlab.magic``; then a cell such as ::

    %%sql -o errors
    SELECT service, count(*) AS n
    FROM logs
    WHERE level = 'error' AND site = $site
    GROUP BY service

runs against the lab (``--lab PATH``, default ``$DVLAB_DB`` or ``./lab.duckdb``)
and returns a polars DataFrame, also stored in the variable ``errors`` when
``-o`` is given. Each ``$name`` is bound from the notebook variable of that
name, never pasted into the SQL; ``$name`` inside a quoted string or a comment
is left alone. The lab is opened read-only for the one query, as
:meth:`dvlab.lab.store.Lab.sql` does.

Importing this module loads no lab and registers nothing; IPython calls
:func:`load_ipython_extension` on ``%load_ext``.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from dvlab.lab.store import default_path, open_lab

if TYPE_CHECKING:
    import polars as pl
    from IPython.core.interactiveshell import InteractiveShell

# What the parameter scan skips over: quoted strings and identifiers, $$-quoted
# strings, comments.
_SKIPPED = r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\$\$.*?\$\$|--[^\n]*|/\*.*?\*/"
_TOKENS = re.compile(rf"{_SKIPPED}|\$([A-Za-z_][A-Za-z0-9_]*)", re.DOTALL)
#: every ``$name`` in the text, where it is a parameter or not
_ANY_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def sql_parameter_names(sql: str) -> list[str]:
    r"""The ``$name`` parameters of ``sql`` in order of first use, outside strings and comments.

    DuckDB's parser says which they are (``E'…'`` and ``$tag$…$tag$`` strings included);
    SQL it cannot parse is scanned here, and DuckDB then says what is wrong with it.

    >>> sql_parameter_names("SELECT * FROM logs WHERE site = $site AND message <> '$site $x' -- $y")
    ['site']
    >>> sql_parameter_names("SELECT E'it\\'s $x', $tag$ $y $tag$, $z")
    ['z']
    """
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error:
        statements = None
    if statements is None:
        found = (m.group(1) for m in _TOKENS.finditer(sql))
    else:
        used = {n.lower() for statement in statements for n in statement.named_parameters}
        found = (m.group(1) for m in _ANY_PARAMETER.finditer(sql) if m.group(1).lower() in used)
    names: list[str] = []
    for name in found:
        if name is not None and name not in names:
            names.append(name)
    return names


def bind_from_namespace(sql: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """The value of each ``$name`` in ``sql``, taken from ``namespace``; all missing ones named."""
    names = sql_parameter_names(sql)
    missing = [name for name in names if name not in namespace]
    if missing:
        listed = ", ".join(f"${name}" for name in missing)
        raise UsageError(
            f"%%sql binds {listed} from notebook variables of the same name, and "
            f"{'it is' if len(missing) == 1 else 'they are'} not defined; "
            f"assign {', '.join(missing)} in a cell above"
        )
    return {name: namespace[name] for name in names}


@magics_class
class LabMagics(Magics):
    """The ``%%sql`` cell magic."""

    @magic_arguments()
    @argument(
        "--lab",
        metavar="PATH",
        default=None,
        help="the lab to query (default: $DVLAB_DB, else lab.duckdb)",
    )
    @argument(
        "-o",
        "--out",
        metavar="NAME",
        default=None,
        help="also store the result in the notebook variable NAME",
    )
    @cell_magic
    def sql(self, line: str, cell: str) -> pl.DataFrame:
        """Run the cell's SQL against the lab; the result as a polars DataFrame."""
        try:
            # quotes as a shell reads them: a lab path may hold blanks
            argv = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%%sql {line.strip()}: {exc}") from None
        args = self.sql.parser.parse_args(argv)
        shell = self.shell
        if shell is None:
            raise UsageError("%%sql runs inside an IPython shell or notebook")
        if not cell.strip():
            raise UsageError("%%sql needs a query in the cell below the %%sql line")
        if args.out is not None and not args.out.isidentifier():
            raise UsageError(f"-o takes a variable name, not {args.out!r}")

        params = bind_from_namespace(cell, shell.user_ns)
        lab = open_lab(Path(args.lab) if args.lab else default_path())
        frame = lab.sql(cell, params or None).pl()

        if args.out is not None:
            shell.user_ns[args.out] = frame
        return frame


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """Register ``%%sql``; IPython calls this on ``%load_ext dvlab.magic``."""
    ipython.register_magics(LabMagics)

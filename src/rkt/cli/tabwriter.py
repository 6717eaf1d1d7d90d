"""Go's ``text/tabwriter`` as rkt configured it (minwidth 0, tabwidth 8, padding 1, padded
with tabs, no flags), for text laid out as rkt laid it out: the help pages.

Cells are tab-terminated; the last cell of a line takes no part in alignment. A column block is
a run of consecutive lines that all have a terminated cell in that column; each cell of the
block is padded with tabs to the block's widest cell plus one, rounded up to a tab stop.
"""

from __future__ import annotations

TAB_WIDTH = 8
PADDING = 1


def tabwrite(text: str) -> str:
    """``text`` as rkt's tabwriter would have written it."""
    lines = [line.split("\t") for line in text.split("\n")]
    if len(lines[-1]) > 1 and lines[-1][-1] == "":
        # Text that ends in a tab: Go's Flush ends an empty last cell only at a newline, so
        # the tab-terminated cell before it is the line's last, and gets no padding.
        lines[-1].pop()
    out: list[str] = []
    _format(lines, 0, len(lines), [], out)
    return "\n".join(out)


def _format(
    lines: list[list[str]], start: int, end: int, widths: list[int], out: list[str]
) -> None:
    column = len(widths)
    line0 = start
    this = start
    while this < end:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        _write(lines, line0, this, widths, out)
        line0 = this
        width = 0
        while this < end and column < len(lines[this]) - 1:
            width = max(width, len(lines[this][column]) + PADDING)
            this += 1
        _format(lines, line0, this, [*widths, width], out)
        line0 = this
    _write(lines, line0, end, widths, out)


def _write(lines: list[list[str]], start: int, end: int, widths: list[int], out: list[str]) -> None:
    for cells in lines[start:end]:
        parts = []
        for index, cell in enumerate(cells):
            parts.append(cell)
            if index < len(widths) and index < len(cells) - 1:
                cell_width = -(-widths[index] // TAB_WIDTH) * TAB_WIDTH
                parts.append("\t" * -(-(cell_width - len(cell)) // TAB_WIDTH))
        out.append("".join(parts))

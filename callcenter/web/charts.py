"""Server-side SVG charts: vertical bars (a series over days) and horizontal bars (shares, counts).

Plain SVG text with every label escaped; no script, no external fonts.
"""

from __future__ import annotations

from html import escape

__all__ = ["bar_chart", "column_chart"]

_FONT = 'font-family="WenQuanYi Micro Hei, Noto Sans CJK SC, sans-serif" font-size="11"'


def column_chart(points: list[tuple[str, float]], title: str, width: int = 640, height: int = 200,
                 target: float | None = None) -> str:
    """Columns for ``points`` (label, value); ``target`` draws a dashed line at that value."""
    top = max([v for _, v in points] + [target or 0, 1])
    left, bottom, plot_h = 32, height - 28, height - 48
    step = (width - left - 8) / max(len(points), 1)
    parts = [f'<text x="{left}" y="14" {_FONT} font-weight="bold">{escape(title)}</text>',
             f'<line x1="{left}" y1="{bottom}" x2="{width - 8}" y2="{bottom}" stroke="#888"/>',
             f'<text x="{left - 4}" y="{bottom - plot_h + 4}" text-anchor="end" {_FONT}>{_fmt(top)}</text>']
    every = max(1, len(points) // 10)
    for n, (label, value) in enumerate(points):
        h = plot_h * value / top
        x = left + n * step + step * 0.15
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{bottom - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
                     f'fill="#c0392b"><title>{escape(label)}: {_fmt(value)}</title></rect>')
        if n % every == 0:
            parts.append(f'<text x="{x:.1f}" y="{bottom + 14}" {_FONT}>{escape(label)}</text>')
    if target is not None:
        y = bottom - plot_h * target / top
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}" stroke="#2c7" '
                     f'stroke-dasharray="4 3"/>')
    return _svg(width, height, title, parts)


def bar_chart(rows: list[tuple[str, float]], title: str, width: int = 640, as_share: bool = False,
              target: float | None = None) -> str:
    """Horizontal bars, one per row; ``as_share`` prints values 0..1 as percentages."""
    height = 28 + 22 * max(len(rows), 1)
    top = 1.0 if as_share else max([v for _, v in rows] + [target or 0, 1])
    label_w, bar_w = 150, width - 150 - 70
    parts = [f'<text x="4" y="14" {_FONT} font-weight="bold">{escape(title)}</text>']
    for n, (label, value) in enumerate(rows):
        y = 24 + 22 * n
        w = bar_w * value / top
        shown = f"{value * 100:.0f}%" if as_share else _fmt(value)
        parts += [f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" {_FONT}>{escape(label)}</text>',
                  f'<rect class="bar" x="{label_w}" y="{y}" width="{w:.1f}" height="16" fill="#2e6da4"/>',
                  f'<text x="{label_w + w + 4:.1f}" y="{y + 13}" {_FONT}>{shown}</text>']
    if target is not None:
        x = label_w + bar_w * target / top
        parts.append(f'<line x1="{x:.1f}" y1="20" x2="{x:.1f}" y2="{height - 4}" stroke="#2c7" '
                     'stroke-dasharray="4 3"/>')
    return _svg(width, height, title, parts)


def _svg(width: int, height: int, title: str, parts: list[str]) -> str:
    body = "".join(parts)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">{body}</svg>')


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"

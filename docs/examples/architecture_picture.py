"""Draw docs/assets/architecture.svg: the package's floors, one box per room, and the research wing beside them.

Run from the repository root: python docs/examples/architecture_picture.py
"""

from pathlib import Path

FLOORS = [
    ("Entry points", ["api.py (score, analyses)", "cli/ (score, report, compare, cqa)",
                      "integrations/ (evaluate, harnesses, Ray)"], "#e8f0fe"),
    ("A run", ["options.py + settings.py", "scoring.py", "analyses.py", "results.py"], "#e6f4ea"),
    ("Scorers", ["scorers/base (contract)", "scorers/functional (formulas)", "information, gates, composite",
                 "scorers/registry, resolve"], "#fef7e0"),
    ("Evidence", ["evidence.py (gather)", "types.py", "constraints.py", "units.py"], "#fce8e6"),
    ("Model calls", ["backends/resolve", "backends/loading (folders)", "backends/hf, vllm, server",
                     "tokens, prompts, cache, replay"], "#f3e8fd"),
    ("Arithmetic, statistics", ["information.py (bits)", "reliability/", "resampling.py",
                                "signature.py, serialization.py"], "#e0f7fa"),
]
WING = ("Research wing", ["research/hanna, lamp", "research/perturb, fitting", "research/cqa, models"], "#eeeeee")


def draw(path: Path) -> None:
    width, row_h, gap, left = 1040, 62, 14, 170
    height = len(FLOORS) * (row_h + gap) + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + 220}" height="{height}" '
           'font-family="sans-serif" font-size="12">',
           '<defs><marker id="a" markerWidth="8" markerHeight="8" refX="4" refY="4" orient="auto">'
           '<path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>']
    y = 20
    for title, rooms, colour in FLOORS:
        out.append(f'<text x="10" y="{y + row_h / 2 + 4:.0f}" font-weight="bold">{title}</text>')
        box = (width - left - 10 * (len(rooms) - 1)) / len(rooms)
        for i, room in enumerate(rooms):
            x = left + i * (box + 10)
            out.append(f'<rect x="{x:.0f}" y="{y}" width="{box:.0f}" height="{row_h - 10}" rx="6" fill="{colour}" '
                       'stroke="#888"/>')
            out.append(f'<text x="{x + box / 2:.0f}" y="{y + (row_h - 10) / 2 + 4:.0f}" '
                       f'text-anchor="middle">{room}</text>')
        if title != FLOORS[-1][0]:  # imports go down, never up
            out.append(f'<line x1="{left - 20}" y1="{y + row_h - 8}" x2="{left - 20}" y2="{y + row_h + gap + 2}" '
                       'stroke="#555" marker-end="url(#a)"/>')
        y += row_h + gap
    x0 = width + 20
    out.append(f'<rect x="{x0}" y="20" width="180" height="{y - 34}" rx="8" fill="{WING[2]}" stroke="#888"/>')
    out.append(f'<text x="{x0 + 90}" y="44" text-anchor="middle" font-weight="bold">{WING[0]}</text>')
    for i, room in enumerate(WING[1]):
        out.append(f'<text x="{x0 + 90}" y="{80 + 40 * i}" text-anchor="middle">{room}</text>')
    out.append(f'<text x="{x0 + 90}" y="{y - 40}" text-anchor="middle" font-style="italic">uses the core;</text>')
    out.append(f'<text x="{x0 + 90}" y="{y - 24}" text-anchor="middle" font-style="italic">the core does not use it</text>')
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


if __name__ == "__main__":
    draw(Path("docs/assets/architecture.svg"))

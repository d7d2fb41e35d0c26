"""Self-assessment benchmark: prints figures, asserts nothing.

A tenant's store is filled in bulk (the fill is not the figure) with ``--cases`` review cases over
the last 30 days (a third decided) and an audit chain of ``--entries`` entries, the shapes
``benchmarks/review.py`` uses. Then, through the real code (``synthwatch.service.assessments``):

1. collecting the evidence of a full assessment (A1-A8, live audio rooms): the time of each
   evidence set, and of the whole collection and evaluation;
2. rendering the report: JSON (with the charts), HTML, and PDF when WeasyPrint is installed.

    python benchmarks/assess.py                                  # SQLite in a temporary folder
    python benchmarks/assess.py --database postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    python benchmarks/assess.py --cases 10000 --entries 100000   # quicker
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from review import _core, _database, fill_cases, fill_chain  # noqa: E402

FACTS = {k: {"zh": f"{k}（声明）", "en": f"{k} (declared)"} for k in (
    "platform", "functions", "scope", "user_scale", "software_hardware", "deployment_locations", "licences",
    "responsible_officer", "assessor")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database", help="PostgreSQL admin URL (default: SQLite in a temporary folder)")
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--entries", type=int, default=300_000)
    ap.add_argument("--no-pdf", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sw-bench-assess-") as tmp:
        folder = Path(tmp)
        url, drop = _database(args.database, folder)
        try:
            app = _core(url, folder / "home")
            core = app.state.core
            tenant = core.create_tenant("bench")
            core.create_key(tenant, "reviewer", "bench")
            print(f"database: {core.db.dialect} ({core.db.display_url}); load average "
                  f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
            print(f"(inserted {args.cases:,} cases in {fill_cases(core, tenant.id, args.cases):.1f} s)")
            print(f"(filled the audit chain to {args.entries:,} entries in "
                  f"{fill_chain(core, tenant.id, args.entries):.1f} s)")
            from synthwatch.assess.pdf import pdf_available, render_pdf
            from synthwatch.assess.report import dump_json, render_html
            from synthwatch.service.assessments import workflow as wf

            spec = {"function": {"name": {"zh": "语音直播间", "en": "Live audio rooms"}, "kind": "live_audio_room"},
                    "triggers": ["T1"], "facts": {**FACTS, "attested_by": "bench", "attested_at": "2026-12-01"}}
            marks: list[tuple[str, float]] = []

            def step(name: str, i: int, n: int) -> None:
                marks.append((name, time.perf_counter()))

            t0 = time.perf_counter()
            rec = wf.create(core, tenant.id, spec, wf.Actor("bench"), progress=step)
            total = time.perf_counter() - t0
            for (name, t), (_, t_next) in zip(marks, marks[1:], strict=False):
                print(f"  collect {name:<22} {t_next - t:7.2f} s")
            print(f"assessment created (collect {len(rec.evidence)} evidence sets, evaluate, store): {total:.2f} s; "
                  f"review.latency over {rec.evidence['review.latency'].figures['cases_opened']:,} cases, "
                  f"audit.chain {rec.evidence['audit.chain'].figures['entries']:,} entries")
            t0 = time.perf_counter()
            doc = wf.report_document(core, rec)
            data = dump_json(doc)
            t_json = time.perf_counter() - t0
            t0 = time.perf_counter()
            html = render_html(doc)
            t_html = time.perf_counter() - t0
            print(f"report.json with {len(doc['charts'])} charts: {t_json:.2f} s ({len(data):,} bytes); "
                  f"report.html: {t_html:.2f} s ({len(html.encode()):,} bytes)")
            if pdf_available() and not args.no_pdf:
                t0 = time.perf_counter()
                pdf = render_pdf(html)
                print(f"report.pdf: {time.perf_counter() - t0:.2f} s ({len(pdf):,} bytes)")
            core.db.dispose()
        finally:
            if drop is not None:
                drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

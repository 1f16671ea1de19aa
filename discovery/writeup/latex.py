"""``report.pdf`` through LaTeX, only when a TeX engine is on PATH; otherwise it says it skipped."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from discovery.writeup.document import Document, to_latex

ENGINES = ("pdflatex", "xelatex", "lualatex")
TIMEOUT = 180.0  # seconds; a TeX run that hangs must not hold the end of a search
MIN_SECONDS = 1.0  # per TeX pass; less than this left before a deadline: no PDF (it rarely compiles in time)


@dataclass(frozen=True)
class PdfOutcome:
    """The PDF's path, or None and why not."""

    path: Path | None
    message: str


def find_engine() -> str | None:
    """The first TeX engine on PATH, or None."""
    return next((e for e in ENGINES if shutil.which(e)), None)


def build_pdf(doc: Document, out: Path, *, timeout: float = TIMEOUT) -> PdfOutcome:
    """Write ``report.tex`` and, with an engine present, compile ``report.pdf`` in ``out``."""
    tex = out / "report.tex"
    tex.write_text(to_latex(doc), encoding="utf-8")
    bib = out / "report.bib"
    entries = "".join(r.bibtex for r in doc.references())
    if entries:
        bib.write_text(entries, encoding="utf-8")
    else:
        bib.unlink(missing_ok=True)
    engine = find_engine()
    pdf = out / "report.pdf"
    pdf.unlink(missing_ok=True)  # a PDF of an earlier report must not pass for this one
    if engine is None:
        return PdfOutcome(None, "PDF skipped: no TeX engine on PATH (" + ", ".join(ENGINES) + "); "
                          "report.tex is written for when one is installed")
    # Citations are numbered on a second pass (the first one writes them to report.aux).
    passes = 2 if doc.references() else 1
    if timeout / passes < MIN_SECONDS:
        return PdfOutcome(None, "PDF skipped: the run's --time limit left no time to compile it "
                                "(`discover report` builds it)")
    try:
        for _ in range(passes):
            done = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", "report.tex"], cwd=out,
                                  capture_output=True, text=True, timeout=timeout / passes,
                                  stdin=subprocess.DEVNULL, check=False)
            if done.returncode != 0:
                break
    except subprocess.TimeoutExpired:
        return PdfOutcome(None, f"PDF failed: {engine} did not finish within {timeout:.0f}s")
    finally:
        for suffix in (".aux", ".out"):
            (out / f"report{suffix}").unlink(missing_ok=True)
    if done.returncode != 0 or not pdf.is_file():
        lines = [line for line in done.stdout.splitlines() if line.startswith("!")]
        why = lines[0] if lines else f"exit code {done.returncode}"
        return PdfOutcome(None, f"PDF failed: {engine}: {why} (see report.log)")
    (out / "report.log").unlink(missing_ok=True)
    return PdfOutcome(pdf, f"PDF written with {engine}")

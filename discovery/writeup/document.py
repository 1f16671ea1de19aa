"""A small document model and its three renderings: Markdown, self-contained HTML, LaTeX.

The report is built once as a list of blocks; each output format renders the same blocks,
so report.md, report.html and report.pdf never disagree. Inline text may use `code`,
**bold**, *emphasis*, [links](url) and citations ``[@key]`` of the papers in the document's
``References`` block (numbered [1], [2]... in order of that block; a key it does not hold
is shown as plain text, never as a citation); everything else is escaped.
"""

from __future__ import annotations

import base64
import html
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    text: str


@dataclass
class Bullets:
    items: list[str]
    ordered: bool = False


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    align: str = ""  # one letter per column: l or r
    wide: int | None = None  # index of a column of long text (wrapped in LaTeX)


@dataclass
class Image:
    path: str  # relative to the report folder
    caption: str


@dataclass
class Code:
    text: str
    lang: str = ""


@dataclass
class Reference:
    key: str  # what the text cites: [@key]
    text: str  # the reference as listed
    url: str | None = None
    bibtex: str = ""  # its BibTeX entry (report.tex, report.bib)


@dataclass
class References:
    """The numbered list of cited papers, with its own heading in every format."""

    items: list[Reference]


Block = Heading | Para | Bullets | Table | Image | Code | References


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)

    def references(self) -> list[Reference]:
        """The cited papers, in the order they are numbered."""
        return [r for b in self.blocks if isinstance(b, References) for r in b.items]


_CITE = re.compile(r"\[@([A-Za-z0-9][\w:.\-]*)\]")


def cited_keys(text: str) -> list[str]:
    """The keys ``text`` cites with ``[@key]``, in order."""
    return _CITE.findall(text)


def _numbers(doc: Document) -> dict[str, int]:
    return {r.key: i for i, r in enumerate(doc.references(), 1)}


def _md_text(text: str, numbers: dict[str, int]) -> str:
    return _CITE.sub(lambda m: f"[{numbers[m.group(1)]}]" if m.group(1) in numbers else m.group(0), text)


# -- Markdown -----------------------------------------------------------------------------------

def to_markdown(doc: Document) -> str:
    """The document as GitHub-flavoured Markdown (images linked by relative path)."""
    out = [f"# {doc.title}", ""]
    numbers = _numbers(doc)
    for b in doc.blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Para):
            out += [_md_text(b.text, numbers), ""]
        elif isinstance(b, Bullets):
            out += [(f"{i}. " if b.ordered else "- ") + _md_text(item, numbers)
                    for i, item in enumerate(b.items, 1)] + [""]
        elif isinstance(b, References):
            out += ["## References", ""]
            for i, r in enumerate(b.items, 1):
                out += [f"[{i}] {r.text}" + (f" <{r.url}>" if r.url else ""), ""]
        elif isinstance(b, Table):
            align = b.align or "l" * len(b.header)
            out.append("| " + " | ".join(_md_cell(h) for h in b.header) + " |")
            out.append("|" + "|".join("---:" if a == "r" else "---" for a in align) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            out.append("")
        elif isinstance(b, Image):
            out += [f"![{b.caption}]({b.path})", ""]
        elif isinstance(b, Code):
            fence = "````" if "```" in b.text else "```"
            out += [fence + b.lang, b.text.rstrip("\n"), fence, ""]
    return "\n".join(out).rstrip() + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# -- HTML -----------------------------------------------------------------------------------------

_CSS = """
body{font:15px/1.55 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1.2rem;color:#1f2328}
h1{font-size:1.8rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
h2{font-size:1.35rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem;margin-top:2rem}
h3{font-size:1.1rem}
code{background:#f6f8fa;padding:.1rem .3rem;border-radius:4px;font-size:88%}
pre{background:#f6f8fa;padding:.8rem;border-radius:6px;overflow:auto;font-size:85%;line-height:1.4}
pre code{background:none;padding:0}
table{border-collapse:collapse;margin:.8rem 0;font-size:90%;display:block;overflow-x:auto}
th,td{border:1px solid #d0d7de;padding:.3rem .6rem;vertical-align:top}
th{background:#f6f8fa}
td.r,th.r{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1rem 0}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#57606a;font-size:90%}
ol.refs{list-style:none;padding-left:0}
ol.refs li{margin:.3rem 0}
"""


def to_html(doc: Document, folder: Path, *, embed: bool = True) -> str:
    """A self-contained HTML page: images become data URIs read from ``folder``."""
    body = []
    numbers = _numbers(doc)
    for b in doc.blocks:
        if isinstance(b, Heading):
            level = min(6, b.level)
            body.append(f"<h{level} id=\"{_slug(b.text)}\">{_inline_html(b.text)}</h{level}>")
        elif isinstance(b, Para):
            body.append(f"<p>{_inline_html(b.text, numbers)}</p>")
        elif isinstance(b, Bullets):
            tag = "ol" if b.ordered else "ul"
            body.append(f"<{tag}>" + "".join(f"<li>{_inline_html(i, numbers)}</li>" for i in b.items) + f"</{tag}>")
        elif isinstance(b, References):
            items = "".join(
                f"<li id=\"ref-{i}\">[{i}] {html.escape(r.text)}"
                + (f" <a href=\"{html.escape(_safe_url(r.url))}\">{html.escape(r.url)}</a>" if r.url else "") + "</li>"
                for i, r in enumerate(b.items, 1))
            body.append(f"<h2 id=\"references\">References</h2><ol class=\"refs\">{items}</ol>")
        elif isinstance(b, Table):
            align = b.align or "l" * len(b.header)
            head = "".join(f"<th class=\"{a}\">{_inline_html(h)}</th>" for h, a in zip(b.header, align))
            rows = "".join("<tr>" + "".join(f"<td class=\"{a}\">{_inline_html(c)}</td>" for c, a in zip(row, align))
                           + "</tr>" for row in b.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif isinstance(b, Image):
            src = _data_uri(folder / b.path) if embed else html.escape(b.path)
            if src is None:
                body.append(f"<p><em>(figure missing: {html.escape(b.path)})</em></p>")
                continue
            body.append(f"<figure><img src=\"{src}\" alt=\"{html.escape(b.caption)}\">"
                        f"<figcaption>{_inline_html(b.caption)}</figcaption></figure>")
        elif isinstance(b, Code):
            body.append(f"<pre><code>{html.escape(b.text.rstrip())}</code></pre>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(doc.title)}</title><style>{_CSS}</style></head><body>\n"
            f"<h1>{_inline_html(doc.title)}</h1>\n" + "\n".join(body) + "\n</body></html>\n")


_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])|\[([^\]]+)\]\(([^)\s]+)\)"
                     r"|\[@([A-Za-z0-9][\w:.\-]*)\]")


def _safe_url(url: str) -> str:
    return url if url.lower().startswith(("http://", "https://")) else "#"


def _inline_html(text: str, numbers: dict[str, int] | None = None) -> str:
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(html.escape(text[pos:m.start()]))
        code, bold, em, label, url, cite = m.groups()
        if code is not None:
            out.append(f"<code>{html.escape(code)}</code>")
        elif bold is not None:
            out.append(f"<strong>{html.escape(bold)}</strong>")
        elif em is not None:
            out.append(f"<em>{html.escape(em)}</em>")
        elif cite is not None:
            n = (numbers or {}).get(cite)
            out.append(f"<a href=\"#ref-{n}\" class=\"cite\">[{n}]</a>" if n else html.escape(m.group(0)))
        else:
            safe = url if not url.lower().startswith("javascript:") else "#"
            out.append(f"<a href=\"{html.escape(safe)}\">{html.escape(label)}</a>")
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _data_uri(path: Path) -> str | None:
    if not path.is_file():
        return None
    kind = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml",
            ".gif": "image/gif"}.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"


# -- LaTeX ----------------------------------------------------------------------------------------

_TEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
                "%": r"\%", "_": r"\_", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}",
                "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}
_UNICODE_TEX = {"±": r"$\pm$", "×": r"$\times$", "≈": r"$\approx$", "≤": r"$\le$", "≥": r"$\ge$",
                "→": r"$\rightarrow$", "—": "---", "–": "--", "’": "'", "‘": "`", "“": "``", "”": "''",
                "…": "...", "µ": r"$\mu$", "−": "-", "•": r"$\bullet$", "°": r"$^\circ$"}


def tex_escape(text: str) -> str:
    """Plain text made safe for pdflatex (symbols mapped, other non-Latin-1 characters dropped)."""
    out = []
    for ch in text:
        if ch in _TEX_SPECIAL:
            out.append(_TEX_SPECIAL[ch])
        elif ch in _UNICODE_TEX:
            out.append(_UNICODE_TEX[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            plain = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append(plain if plain else "?")
    return "".join(out)


def _inline_tex(text: str, numbers: dict[str, int] | None = None) -> str:
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(tex_escape(text[pos:m.start()]))
        code, bold, em, label, _url, cite = m.groups()
        if code is not None:
            out.append(r"\texttt{" + tex_escape(code) + "}")
        elif bold is not None:
            out.append(r"\textbf{" + tex_escape(bold) + "}")
        elif em is not None:
            out.append(r"\emph{" + tex_escape(em) + "}")
        elif cite is not None:
            out.append(r"\cite{" + cite + "}" if cite in (numbers or {}) else tex_escape(m.group(0)))
        else:
            out.append(tex_escape(label))
        pos = m.end()
    out.append(tex_escape(text[pos:]))
    return "".join(out)


def to_latex(doc: Document) -> str:
    """A LaTeX article using only packages of a base TeX installation (graphicx, longtable)."""
    sec = {2: "section*", 3: "subsection*", 4: "subsubsection*"}
    body = []
    numbers = _numbers(doc)
    for b in doc.blocks:
        if isinstance(b, Heading):
            body.append(f"\\{sec.get(b.level, 'paragraph')}{{{_inline_tex(b.text)}}}")
        elif isinstance(b, Para):
            body.append(_inline_tex(b.text, numbers) + "\n")
        elif isinstance(b, Bullets):
            env = "enumerate" if b.ordered else "itemize"
            items = "\n".join(f"  \\item {_inline_tex(i, numbers)}" for i in b.items)
            body.append(f"\\begin{{{env}}}\n{items}\n\\end{{{env}}}")
        elif isinstance(b, References):
            items = "\n".join(f"\\bibitem{{{r.key}}} {tex_escape(r.text)}" for r in b.items)
            body.append(f"\\begin{{thebibliography}}{{{len(b.items)}}}\n{items}\n\\end{{thebibliography}}")
        elif isinstance(b, Table):
            align = b.align or "l" * len(b.header)
            cols = "".join("p{0.42\\textwidth}" if i == b.wide else ("r" if a == "r" else "l")
                           for i, a in enumerate(align))
            head = " & ".join(r"\textbf{" + _inline_tex(h) + "}" for h in b.header) + r" \\ \hline"
            rows = "\n".join(" & ".join(_inline_tex(c) for c in row) + r" \\" for row in b.rows)
            body.append(f"{{\\small\\begin{{longtable}}{{{cols}}}\n{head}\n\\endhead\n{rows}\n\\end{{longtable}}}}")
        elif isinstance(b, Image):
            body.append("\\begin{center}\n"
                        "\\includegraphics[width=0.9\\textwidth,height=0.4\\textheight,keepaspectratio]"
                        f"{{{b.path}}}\\\\\n"
                        f"{{\\small {_inline_tex(b.caption)}}}\n\\end{{center}}")
        elif isinstance(b, Code):
            text = "".join(ch if ord(ch) < 128 else "?" for ch in b.text.rstrip())
            text = text.replace("\\end{verbatim}", "\\end {verbatim}").replace("\t", "    ")
            body.append("{\\footnotesize\\begin{verbatim}\n" + text + "\n\\end{verbatim}}")
    entries = "".join(r.bibtex for r in doc.references() if r.bibtex)
    # The cited papers' BibTeX travels inside report.tex (and is written out as report.bib when compiled).
    bib = (f"\\begin{{filecontents*}}[overwrite]{{report.bib}}\n{entries}\\end{{filecontents*}}\n"
           if entries else "")
    return (bib + "\\documentclass[10pt,a4paper]{article}\n"
            "\\usepackage{graphicx}\n\\usepackage{longtable}\n"
            "\\setlength{\\textwidth}{16cm}\\setlength{\\oddsidemargin}{0cm}\\setlength{\\evensidemargin}{0cm}\n"
            "\\setlength{\\textheight}{23cm}\\setlength{\\topmargin}{-1cm}\n"
            "\\setlength{\\parindent}{0pt}\\setlength{\\parskip}{4pt}\n"
            f"\\title{{{_inline_tex(doc.title)}}}\n\\date{{}}\n\\begin{{document}}\n\\maketitle\n"
            + "\n\n".join(body) + "\n\\end{document}\n")

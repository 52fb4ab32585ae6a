"""gankit.utils.report: one Markdown text written as .md and .html."""

from __future__ import annotations

from gankit.utils.report import markdown_to_html, write_report_pages

MD = """# Results: `p`

| model | MNIST |
|---|---|
| **gankit** | 230.0 ± 2.2 |
| paper | 225 ± 2 |

![Figure 2](figure2.png)

```json
{"a": "<b>"}
```
"""


def test_pages_are_written_side_by_side(tmp_path):
    md, page = write_report_pages(tmp_path, MD, title="gankit reproduce: p")
    assert (md, page) == (tmp_path / "results.md", tmp_path / "results.html")
    assert md.read_text(encoding="utf-8") == MD
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and "<title>gankit reproduce: p</title>" in html
    assert "<table>" in html and "<strong>gankit</strong>" in html and "230.0 ± 2.2" in html
    assert '<img alt="Figure 2" src="figure2.png"' in html  # not there: left as it is
    assert "&lt;b&gt;" in html and "<b>" not in html  # code is escaped, once
    assert "<code>p</code>" in html
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temporary files


def test_name_and_title_escaping(tmp_path):
    write_report_pages(tmp_path, "# r\n", title="a <b> & c", name="report")
    assert (tmp_path / "report.md").is_file()
    assert "<title>a &lt;b&gt; &amp; c</title>" in (tmp_path / "report.html").read_text()
    assert "<h1>r</h1>" in markdown_to_html("# r\n", "t")


def test_pictures_of_the_folder_are_inlined_and_nothing_else(tmp_path):
    (tmp_path / "figure2.png").write_bytes(b"\x89PNG fake")
    (tmp_path.parent / "secret.png").write_bytes(b"outside")
    text = "![a](figure2.png) ![b](../secret.png) ![c](missing.png)"
    html = markdown_to_html(text, "t", tmp_path)
    assert 'src="data:image/png;base64,iVBORyBmYWtl"' in html
    assert 'src="../secret.png"' in html and 'src="missing.png"' in html
    assert "Content-Security-Policy" in html  # and the page fetches nothing

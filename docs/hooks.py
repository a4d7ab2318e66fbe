"""MkDocs hook: table cells written for GitHub render the same on the site.

GitHub splits a table row at every `|`, even inside a code span, so the Markdown escapes those
pipes as `\\|`; Python-Markdown keeps pipes inside code spans in their cell and would print the
backslash. In table rows, `\\|` inside a code span becomes `|` before the page is rendered.
"""
import re

CODE = re.compile(r"`[^`\n]*`")


def on_page_markdown(markdown, **kwargs):
    lines = markdown.split("\n")
    for i, line in enumerate(lines):
        if line.lstrip().startswith("|") and "\\|" in line:
            lines[i] = CODE.sub(lambda m: m.group(0).replace("\\|", "|"), line)
    return "\n".join(lines)

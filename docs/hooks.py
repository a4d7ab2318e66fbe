"""MkDocs hooks: table cells written for GitHub render the same on the site, and Sphinx roles
in docstrings read as code.

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


# The docstrings use Sphinx roles (:func:`name`, :class:`~pkg.mod.Name`); mkdocstrings' parser
# leaves them as text, ":func:" before the code. Shown as the code alone, "~" keeping the last part.
ROLE = re.compile(r":(?:mod|class|func|meth|attr|data|exc|obj):<code>(~?)([^<]*)</code>")


def on_page_content(html, **kwargs):
    return ROLE.sub(lambda m: "<code>" + (m.group(2).rsplit(".", 1)[-1] if m.group(1) else m.group(2)) + "</code>", html)

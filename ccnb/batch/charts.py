"""The chart pack: every figure of every report at slide size, PNG and SVG, with a contact sheet.

During a batch run (``ccnb run`` sets ``CCNB_CHART_DIR`` and, per notebook, ``CCNB_NOTEBOOK``)
each figure a report section shows is also saved as ``<notebook>-<section>.png`` (1920 x 1080,
16:9) and ``.svg`` in ``outputs/<client>/charts/``, its text enlarged to stay legible when
pasted full-slide; ``charts/index.html`` shows them all. In JupyterLab nothing is written.

Drawing a figure twice more at slide size costs about 0.2 s, twice what showing it costs. So
the kernel only pickles the figure, with the matplotlib settings it was drawn under
(`save_slide`, a few milliseconds), and the runner draws the slides (`render_slides`) where
it renders the notebook's HTML, while the next notebook runs. The pickles are the runner's
own kernels' files in the run's staging folder, read once and deleted.
"""

from __future__ import annotations

import html
import os
import pickle
import weakref
from pathlib import Path

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import TransformNode

__all__ = [
    "CHART_DIR_VARIABLE",
    "NOTEBOOK_VARIABLE",
    "SLIDE_PIXELS",
    "render_slides",
    "save_slide",
    "write_contact_sheet",
]

CHART_DIR_VARIABLE = "CCNB_CHART_DIR"
NOTEBOOK_VARIABLE = "CCNB_NOTEBOOK"
#: a full 16:9 slide in pixels, and the inches and dpi giving it
SLIDE_PIXELS = (1920, 1080)
_SLIDE_INCHES = (16.0, 9.0)
_DPI = 120
#: text is enlarged by this factor: a figure drawn for a 9-inch-wide page column is shown
#: about twice as large on a slide, where 10 pt labels would read as small print
_TEXT_SCALE = 1.5


def _folder() -> Path | None:
    folder = os.environ.get(CHART_DIR_VARIABLE, "").strip()
    return Path(folder) if folder else None


_PENDING = ".figure.pickle"
#: settings that choose a backend or an interactive mode: not the drawing's
_NOT_DRAWING = ("backend", "backend_fallback", "interactive")


def save_slide(figure: Figure, section: str) -> Path | None:
    """Queue ``figure`` for the chart pack during a batch run; None otherwise.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        A report section's figure, already shown and closed.
    section : str
        The section's name, e.g. ``"segments"``; the file is ``<notebook>-<section>.png``
        (``-2``, ``-3`` for a section shown again in the same notebook).

    Returns
    -------
    pathlib.Path or None
        The PNG `render_slides` will write.
    """
    folder = _folder()
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{os.environ.get(NOTEBOOK_VARIABLE, 'report')}-{section}"
    name, number = stem, 1
    while (folder / f"{name}{_PENDING}").exists() or (folder / f"{name}.png").exists():
        number += 1
        name = f"{stem}-{number}"
    settings = {key: value for key, value in mpl.rcParams.items() if key not in _NOT_DRAWING}
    with open(folder / f"{name}{_PENDING}", "wb") as file:
        pickle.dump((figure, settings), file, protocol=pickle.HIGHEST_PROTOCOL)
    return folder / f"{name}.png"


def render_slides(folder: Path | None = None, *, notebook: str | None = None) -> list[Path]:
    """Draw the queued figures at slide size, as PNG and SVG, and delete their pickles.

    Parameters
    ----------
    folder : pathlib.Path, optional
        The chart pack's folder; by default the run's (``CCNB_CHART_DIR``).
    notebook : str, optional
        Only this notebook's figures (its stem), else every queued one.

    Returns
    -------
    list of pathlib.Path
        The PNGs written.
    """
    folder = folder or _folder()
    if folder is None or not folder.is_dir():
        return []
    pattern = f"{notebook}-*{_PENDING}" if notebook else f"*{_PENDING}"
    written = []
    for pending in sorted(folder.glob(pattern)):
        figure, settings = _load_pending(pending)
        # a fixed salt for the SVG's element ids and no date: the same figure gives the same
        # bytes, so a re-run that changed nothing leaves the chart pack as it was
        with mpl.rc_context({**settings, "svg.hashsalt": "ccnb"}):
            figure.set_size_inches(*_SLIDE_INCHES)
            for text in figure.findobj(Text):
                text.set_fontsize(text.get_fontsize() * _TEXT_SCALE)
            figure.set_layout_engine("constrained")
            png = folder / pending.name.replace(_PENDING, ".png")
            figure.savefig(png, dpi=_DPI)
            figure.set_layout_engine("none")  # the SVG keeps the PNG's layout, not redone
            figure.savefig(png.with_suffix(".svg"), metadata={"Date": None})
        pending.unlink()
        written.append(png)
    return written


def _load_pending(pending: Path) -> tuple[Figure, dict]:
    """A queued figure and its settings, its transforms' links re-keyed for this process.

    matplotlib 3.11 keys each transform's record of the transforms that depend on it by the
    dependents' ``id()`` and unpickles those keys as they were in the process that pickled the
    figure. A transform created while drawing can be given one of those addresses, replace the
    record and cut the link, and the figure then draws a bar from its layout before resizing:
    about one slide in a hundred lost or moved a bar in a loop of the test that compares
    pixels. The unpickler's memo holds every object it made; their records are keyed again by
    the dependents' ids here, as ``TransformNode.set_children`` keys them.
    """
    with open(pending, "rb") as file:
        unpickler = pickle.Unpickler(file)
        figure, settings = unpickler.load()
    for node in unpickler.memo.copy().values():
        if isinstance(node, TransformNode):
            dependents = [ref() for ref in node._parents.values()]
            node._parents = {}
            for dependent in dependents:
                if dependent is not None:
                    key = id(dependent)
                    node._parents[key] = weakref.ref(
                        dependent, lambda _, pop=node._parents.pop, key=key: pop(key, None)
                    )
    return figure, settings


def write_contact_sheet(folder: Path, *, title: str) -> Path | None:
    """``charts/index.html``: every PNG of the pack, largest first in reading order.

    Parameters
    ----------
    folder : pathlib.Path
        The chart pack's folder.
    title : str
        The page's title (the client's name).

    Returns
    -------
    pathlib.Path or None
        The page, or None when the folder holds no chart.
    """
    pngs = sorted(folder.glob("*.png")) if folder.is_dir() else []
    if not pngs:
        return None
    tiles = "\n".join(
        f'<figure><a href="{html.escape(png.name)}"><img src="{html.escape(png.name)}" '
        f'alt="{html.escape(png.stem)}" loading="lazy"></a><figcaption>'
        f'{html.escape(png.stem)} · <a href="{html.escape(png.stem)}.svg">SVG</a>'
        "</figcaption></figure>"
        for png in pngs
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>Charts: {html.escape(title)}</title>\n<style>"
        "body{font-family:system-ui,sans-serif;margin:2rem}"
        "main{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:1.5rem}"
        "img{width:100%;border:1px solid #ccc}figcaption{font-size:.9rem;color:#333}"
        "</style>\n</head>\n<body>\n"
        f"<h1>Charts: {html.escape(title)}</h1>\n<p>Each chart at slide size (1920 x 1080) as "
        "PNG, and as SVG.</p>\n<main>\n"
        f"{tiles}\n</main>\n</body>\n</html>\n"
    )
    path = folder / "index.html"
    path.write_text(page, encoding="utf-8")
    return path

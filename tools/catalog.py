"""What each notebook of the lecture is, read from the notebook itself.

A notebook's role is written once, in its front matter: a subtitle that begins
"Beyond the slides" marks a deck that goes past the lecture; every other numbered
notebook is one of the lecture's own. An exercise is a notebook in exercises/solutions/
named after the lecture notebook it practises (tools/exercises.py's exercise_names).
The deck index, the tests (which checks apply, what JupyterLab runs) and "What next?"'s
links are all derived from these.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

from lecture.tooling import NOTEBOOKS, misnamed_notebooks, numbered_notebooks
from render_slides import RenderError, front_matter, no_slides, read_notebook
BEYOND = "Beyond the slides"  # how a notebook's subtitle says it goes past the lecture


@dataclass(frozen=True)
class Notebook:
    path: Path
    title: str
    subtitle: str

    @property
    def stem(self):
        return self.path.stem

    @property
    def beyond(self):
        """Whether it goes past the lecture (its subtitle says so)."""
        return self.subtitle.startswith(BEYOND)


def notebook(path):
    """One notebook, with its front matter's title and subtitle."""
    path = Path(path)
    front = front_matter(read_notebook(path))
    return Notebook(path, str(front.get("title", path.stem)), str(front.get("subtitle", "")))


def notebooks(folder=NOTEBOOKS):
    """Every numbered notebook, in lecture order."""
    return [notebook(path) for path in numbered_notebooks(folder)]


def lecture(folder=NOTEBOOKS):
    """The lecture's own notebooks."""
    return [n for n in notebooks(folder) if not n.beyond]


def beyond(folder=NOTEBOOKS):
    """The notebooks that go past the lecture."""
    return [n for n in notebooks(folder) if n.beyond]


def problems(folder=NOTEBOOKS):
    """One line for each notebook that cannot become a deck: a name make's rules and the
    decks' links cannot take, a file that is not a notebook, a notebook with no slides."""
    found = misnamed_notebooks(folder)
    for path in numbered_notebooks(folder):
        try:
            empty = no_slides(read_notebook(path), path)
        except RenderError as e:
            empty = str(e)
        if empty:
            found.append(empty)
    return found


if __name__ == "__main__":  # `make slides` and `make pdf` check the notebooks first
    if sys.argv[1:] != ["--check"]:
        sys.exit("usage: python tools/catalog.py --check")
    lines = problems()
    if lines:
        sys.exit("\n".join(f"make slides: {line}" for line in lines))

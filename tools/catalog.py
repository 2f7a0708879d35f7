"""What each notebook of the lecture is, read from the notebook itself.

A notebook's role is written once, in its front matter: a subtitle that begins
"Beyond the slides" marks a deck that goes past the lecture; every other numbered
notebook is one of the lecture's own. An exercise is a notebook in exercises/solutions/
named after the lecture notebook it practises (tools/exercises.py's exercise_names).
The deck index, the tests (which checks apply, what JupyterLab runs) and "What next?"'s
links are all derived from these.
"""

from dataclasses import dataclass
from pathlib import Path

from render_slides import front_matter, read_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
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
    return [notebook(path) for path in sorted(Path(folder).glob("[0-9]*.ipynb"))]


def lecture(folder=NOTEBOOKS):
    """The lecture's own notebooks."""
    return [n for n in notebooks(folder) if not n.beyond]


def beyond(folder=NOTEBOOKS):
    """The notebooks that go past the lecture."""
    return [n for n in notebooks(folder) if n.beyond]

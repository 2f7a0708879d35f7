"""The package's build hook (hatchling): what an install of the project adds to its
environment besides the `lecture` package, so that `make setup`, `uv sync` and `pip
install .` all end in the same Jupyter set-up:

    share/jupyter/kernels/sta663-jax/kernel.json      the lecture's kernel, with its guard
    etc/jupyter/jupyter_server_config.json            new notebooks get that kernel
    share/jupyter/lab/settings/overrides.json         tools/jupyterlab/overrides.json
    etc/jupyter/labconfig/page_config.json            tools/jupyterlab/page_config.json
    share/jupyter/labextensions/sta663-lesson/        tools/jupyterlab/lesson.css as an extension

They are wheel data files (as ipykernel ships its own kernel spec), written into the
environment's prefix by the installer, editable installs included; nothing is written
into anyone's home folder. The kernel runs `python`, which Jupyter replaces with the
interpreter it runs on (jupyter_client does so for a spec whose first word is `python`).
"""

import importlib.util
import json
import shutil
import tempfile
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

ROOT = Path(__file__).resolve().parent
LAB_FILES = ROOT / "tools" / "jupyterlab"


def _lecture():
    """The lecture package's own file, which names the kernel (it needs only the standard
    library until its setup() is called; the build environment has nothing else)."""
    spec = importlib.util.spec_from_file_location("_lecture_for_build", ROOT / "src" / "lecture" / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_lecture_module = _lecture()
KERNEL_NAME, KERNEL_DISPLAY = _lecture_module.KERNEL_NAME, _lecture_module.KERNEL_DISPLAY
LESSON_EXTENSION = "sta663-lesson"

# A JupyterLab extension of the project's, written here rather than built: a module
# federation container (what JupyterLab loads from an extension's remoteEntry.js) whose
# "./style" module adds tools/jupyterlab/lesson.css to the page, and whose "./extension"
# module has one plugin, tools/jupyterlab/figure-alt.js (figures' alt text from `#| fig-alt:`).
REMOTE_ENTRY = """var _JUPYTERLAB;
(_JUPYTERLAB = void 0 === _JUPYTERLAB ? {} : _JUPYTERLAB)[%(name)s] = {
  init: function () {},
  get: function (module) {
    if (module === "./extension") {
      return Promise.resolve(function () { return {__esModule: true, default: [%(plugin)s]}; });
    }
    if (module === "./style") {
      return Promise.resolve(function () {
        var style = document.createElement("style");
        style.id = %(name)s;
        style.textContent = %(css)s;
        document.head.appendChild(style);
        return {};
      });
    }
    return Promise.reject(new Error("Module " + module + " does not exist in container."));
  }
};
"""


def jupyter_files():
    """{path under the environment's prefix: its text}."""
    kernel = {
        # "--IPKernelApp.extensions=lecture": the run-the-setup-first guard (lecture.load_ipython_extension)
        "argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--IPKernelApp.extensions=lecture"],
        "display_name": KERNEL_DISPLAY,
        "language": "python",
        "metadata": {"debugger": True},
    }
    css = (LAB_FILES / "lesson.css").read_text(encoding="utf-8")
    extension = f"share/jupyter/labextensions/{LESSON_EXTENSION}"
    return {
        f"share/jupyter/kernels/{KERNEL_NAME}/kernel.json": json.dumps(kernel, indent=1) + "\n",
        # the environment-wide level (a jupyter_server_config.d drop-in only enables extensions)
        "etc/jupyter/jupyter_server_config.json":
            json.dumps({"MappingKernelManager": {"default_kernel_name": KERNEL_NAME}}, indent=1) + "\n",
        "share/jupyter/lab/settings/overrides.json": (LAB_FILES / "overrides.json").read_text(encoding="utf-8"),
        "etc/jupyter/labconfig/page_config.json": (LAB_FILES / "page_config.json").read_text(encoding="utf-8"),
        f"{extension}/static/remoteEntry.js":
            REMOTE_ENTRY % {"name": json.dumps(LESSON_EXTENSION), "css": json.dumps(css),
                            "plugin": (LAB_FILES / "figure-alt.js").read_text(encoding="utf-8").strip()},
        f"{extension}/package.json": json.dumps({
            "name": LESSON_EXTENSION, "version": "1.0.0",
            "description": "The lecture's notebooks read as a lesson: slide layout hidden (tools/jupyterlab/lesson.css)",
            "jupyterlab": {"_build": {"load": "static/remoteEntry.js", "extension": "./extension",
                                      "style": "./style"}}}, indent=1) + "\n",
    }


class JupyterFilesHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version, build_data):
        if self.target_name != "wheel":
            return
        self._folder = Path(tempfile.mkdtemp(prefix="sta663-build-"))
        for relative, text in jupyter_files().items():
            source = self._folder / relative
            source.parent.mkdir(parents=True, exist_ok=True)
            source.write_text(text, encoding="utf-8")
            build_data["shared_data"][str(source)] = relative

    def finalize(self, version, build_data, artifact_path):
        folder = getattr(self, "_folder", None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

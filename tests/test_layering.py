"""The layering rules (issues #13 and #22), kept by tests (no bpy needed).

Every rule below applies to every module a folder walk finds, not to a hand-written list:

* each pipeline stage has its folder: ``video``, ``detection``, ``lifting`` (with
  ``networks/``), ``smoothing``, ``solving``, ``retargeting``, ``output``;
* no product module (``posemoe_blender/**``) is over :data:`MAX_LINES` lines;
* no import cycle among the product modules, counting the imports that run when a module is
  imported: module level, class bodies and ``try``/``if`` blocks there, relative and absolute.
  An import inside a function (a lazy import, run when the function is called) is exempt, and
  so is an ``if TYPE_CHECKING:`` block;
* no edit of the import path (``sys.path``, ``site.addsitedir``) in ``posemoe_blender``,
  ``posemoe_lab`` or ``tests``, child-process scripts written in a test included. The one
  exception is :data:`SYS_PATH_EXCEPTION`, ``addon/deps.py``: Blender's Python has no torch,
  MediaPipe, SciPy or OpenCV, so the add-on installs them into its own ``site-packages`` folder
  and must put that folder on the path itself (``addon/__init__.py`` only calls it);
* Ray's private API (``ray`` + ``._private``) is used nowhere in the repository;
* code comments and docstrings carry no dates (dates and figures live in docs/benchmarks*.md),
  in every product module and in the benchmark runner;
* the stages never import ``bpy`` (or Blender's other modules) at module level: only
  :data:`BLENDER_MODULES` may, and ``addon/__init__.py``, ``worker.py``, ``remote.py`` and
  ``deps.py`` do not, since they run in a Python without Blender (the worker subprocess, the
  registration before ``register()``). The registration path as a whole is tested in a
  Blender-like process (``test_blender_like.test_registration_imports_no_heavy_module``);
* ``posemoe_blender`` never imports ``posemoe_lab`` (the lab imports the product, not back);
* the extension zip carries only what an animator runs: no lab, no training or evaluation
  module, no module that imports Ray, with ``weights/`` and the bone maps; ``batch --ray`` from
  the zip's copy says in one line that Ray batches run from the project's install;
* one dependency-free options module holds ConvertOptions, the lifter names and defaults;
* bone maps are JSON data files found by a folder walk;
* the fitted landmark correction is a data file with its provenance;
* one atomic-write helper (``fileio.atomic_output``) serves the writers.
"""

from __future__ import annotations

import ast
import fnmatch
import io
import json
import os
import re
import subprocess
import sys
import tokenize
import zipfile
from pathlib import Path

import numpy as np
import pytest

from posemoe_blender import options
from posemoe_blender.detection import landmarks
from posemoe_blender.retargeting import presets as rp
from posemoe_blender.errors import PoseMoEError
from posemoe_blender.fileio import atomic_output

PKG = Path(options.__file__).resolve().parent
REPO = PKG.parent
LAB = REPO / "posemoe_lab"
TESTS = REPO / "tests"

#: The stage folders, in pipeline order (each a package with at least one module).
STAGES = ["video", "detection", "lifting", "lifting/networks", "smoothing", "solving", "retargeting",
          "output"]
#: The most lines a product module may have.
MAX_LINES = 600
#: The one module that may edit ``sys.path`` (the add-on's own site-packages folder).
SYS_PATH_EXCEPTION = PKG / "addon" / "deps.py"
#: Product modules (globs relative to the package) that may import Blender's modules at module level.
BLENDER_MODULES = ["output/*.py", "retargeting/rig.py", "addon/controller.py", "addon/operators.py",
                   "addon/panel.py", "addon/preferences.py", "addon/properties.py"]
#: Blender's own top-level modules.
BLENDER = {"bpy", "bpy_extras", "bmesh", "mathutils", "addon_utils", "gpu", "blf", "bl_math", "idprop"}
#: Folders no repository walk enters.
_SKIP = {".git", ".venv", "venv", "dist", "build", "__pycache__", "node_modules"}


def _python_files(root: Path) -> list[Path]:
    """Every ``*.py`` under ``root``, hidden and build folders skipped, in a stable order."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP and not d.startswith("."))
        found += [Path(dirpath) / n for n in sorted(filenames) if n.endswith(".py")]
    return found


PRODUCT = _python_files(PKG)


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def _imports(path: Path) -> set:
    tree = _tree(path)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            out.add("." * node.level + (node.module or ""))
    return out


def _absolute_imports(tree: ast.AST) -> list[str]:
    """Every absolute module name an import statement anywhere in ``tree`` names."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            out.append(node.module or "")
    return out


def _import_time_imports(tree: ast.Module) -> list[ast.stmt]:
    """The import statements that run when the module is imported: module level, including
    class bodies and ``if``/``try``/``with`` blocks; not function bodies (lazy imports) and not
    ``if TYPE_CHECKING:`` blocks."""
    out = []

    def visit(body):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                out.append(node)
                continue
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            for field in ("body", "orelse", "finalbody", "handlers"):
                sub = getattr(node, field, None)
                if isinstance(sub, list):
                    visit(sub)
            for case in getattr(node, "cases", []):
                visit(case.body)

    visit(tree.body)
    return out


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _import_graph() -> dict[str, set[str]]:
    """Product module -> the product modules its import-time imports load (a package's
    ``__init__`` counts for every module imported through it)."""
    modules = {_module_name(p): p for p in PRODUCT}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in _import_time_imports(_tree(path)):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                targets = [base] + [f"{base}.{a.name}" for a in node.names]  # a name may be a submodule
            for target in targets:
                parts = target.split(".")
                edges |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & modules.keys()
        graph[name] = edges - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _cycle_path(graph: dict[str, set[str]], component: list[str]) -> str:
    """One cycle through the component's first module, as ``a -> b -> a``."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node] & members):
            if child == start:
                return " -> ".join(paths[node] + [start])
            if child not in paths:
                paths[child] = paths[node] + [child]
                queue.append(child)
    return " <-> ".join(component)


# --------------------------------------------------------------------------- the modules of issue #13

def test_options_module_is_the_one_place_and_dependency_free():
    assert _imports(PKG / "options.py") <= {"__future__", "dataclasses", "typing", ".errors"}
    assert _imports(PKG / "errors.py") <= {"sys", "__future__"}
    from posemoe_blender import cli
    from posemoe_blender import pipeline
    assert pipeline.ConvertOptions is options.ConvertOptions
    assert pipeline.LIFTERS is options.LIFTERS and pipeline.NETWORK_NAMES is options.NETWORK_NAMES
    parser = cli.build_parser()
    convert = parser._subparsers._group_actions[0].choices["convert"]
    actions = {a.dest: a for a in convert._actions}
    assert tuple(actions["lifter"].choices) == options.LIFTERS
    assert actions["lifter"].default == options.DEFAULT_LIFTER
    assert tuple(actions["fbx_preset"].choices) == options.FBX_PRESETS
    assert tuple(actions["device"].choices) == options.DEVICES
    assert set(options.LIFTER_NAMES) == set(options.LIFTER_HELP) == set(options.LIFTERS)
    opts, ignored = options.options_from_values(lifter="entangled", foot_lock=False, colour="red")
    assert opts.lifter == "entangled" and not opts.foot_lock and ignored == ["colour"]
    with pytest.raises(PoseMoEError, match="unknown lifter 'nope'"):
        options.check_lifter("nope")


def test_bone_maps_are_json_files_found_by_a_folder_walk(tmp_path):
    shipped = sorted(p.stem.upper() for p in rp.BONE_MAP_DIR.glob("*.json"))
    assert sorted(rp.PRESETS) == shipped
    for key, mapping in rp.PRESETS.items():
        assert rp.detect_mapping(mapping.bones.values()) is mapping, key  # its own bones
        assert rp.get_preset(key.lower()) is mapping
    assert rp.get_preset("rigify") is rp.RIGIFY_FK and rp.get_preset("Unreal") is rp.UE5
    assert rp.get_preset("rigify-metarig") is rp.RIGIFY_METARIG
    assert rp.detect_mapping(["Bone", "Bone.001"]) is None
    # another folder (with a sub-folder): a new map is found, in its order
    (tmp_path / "studio").mkdir()
    rp.save_mapping(tmp_path / "studio" / "our_rig.json", rp.BoneMapping(
        name="Our rig", bones={"Hips": "root_pelvis", "LThigh": "leg_upper_L"}))
    found = rp.find_bone_maps([rp.BONE_MAP_DIR, tmp_path])
    assert list(found)[-1] == "OUR_RIG" and found["OUR_RIG"].bones["LeftUpperLeg"] == "leg_upper_L"  # old name, translated
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(PoseMoEError, match="broken.json: not valid JSON"):
        rp.find_bone_maps([tmp_path])
    assert rp.resolve_mapping(str(tmp_path / "studio" / "our_rig.json")).name == "Our rig"


def test_landmark_correction_is_a_data_file_with_provenance(tmp_path):
    data = json.loads(landmarks.CORRECTION_FILE.read_text())
    assert {"fitted_by", "date", "data", "detector", "checked"} <= set(data["provenance"])
    assert "fit_landmark_correction.py" in data["provenance"]["fitted_by"]
    np.testing.assert_array_equal(landmarks.load_correction(), landmarks.CORRECTION)
    assert landmarks.CORRECTION.shape == (17, 2) and landmarks.CORRECTION[0, 0] == pytest.approx(0.1397)
    path = tmp_path / "c.json"
    landmarks.save_correction(path, landmarks.CORRECTION * 2, {"fitted_by": "a test"})
    np.testing.assert_allclose(landmarks.load_correction(path), landmarks.CORRECTION * 2, atol=1e-4)
    assert json.loads(path.read_text())["provenance"] == {"fitted_by": "a test"}


def test_atomic_output(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_output(target) as tmp:
        assert Path(tmp).parent == tmp_path and Path(tmp).name.startswith(".posemoe-")
        Path(tmp).write_text("complete")
        assert not target.exists()
    assert target.read_text() == "complete"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            Path(tmp).write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "complete" and sorted(os.listdir(tmp_path)) == ["out.txt"]
    with pytest.raises(PoseMoEError, match="cannot write .*missing_folder"):
        with atomic_output(tmp_path / "missing_folder" / "x.txt"):
            pass


#: The writers that must go through ``fileio.atomic_output`` (no staging of their own).
WRITERS = ["joints.py", "retargeting/presets.py", "detection/landmarks.py", "output/fbx.py",
           "output/blend.py"]


@pytest.mark.parametrize("module", WRITERS)
def test_writers_use_the_one_atomic_helper(module):
    text = (PKG / module).read_text(encoding="utf-8")
    assert "atomic_output" in text
    assert "os.replace(" not in text and "mkstemp(" not in text and "staging_file(" not in text
    build = (REPO / "posemoe_lab" / "extension.py").read_text(encoding="utf-8")
    assert "atomic_output" in build and "os.replace(" not in build


# --------------------------------------------------------------------------- folders and sizes

def test_each_stage_has_its_folder():
    missing = [stage for stage in STAGES if not (PKG / stage / "__init__.py").is_file()
               or not [p for p in (PKG / stage).glob("*.py") if p.name != "__init__.py"]]
    assert missing == []


def test_no_product_module_over_the_line_limit():
    long = [f"{_rel(p)}: {n} lines" for p in PRODUCT
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert long == []


# --------------------------------------------------------------------------- imports

def test_the_import_graph_is_built_from_every_module():
    """The graph the cycle rule reads: every product module, its relative imports resolved;
    lazy and ``TYPE_CHECKING`` imports left out."""
    graph = _import_graph()
    assert set(graph) == {_module_name(p) for p in PRODUCT}
    assert "posemoe_blender.errors" in graph["posemoe_blender.options"]  # from .errors import ...
    tree = ast.parse("import a\nfrom .b import c\nif TYPE_CHECKING:\n    import d\n"
                     "try:\n    import e\nexcept ImportError:\n    e = None\n"
                     "class K:\n    import f\ndef g():\n    import h\n")
    assert [ast.unparse(n) for n in _import_time_imports(tree)] == [
        "import a", "from .b import c", "import e", "import f"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycle_path({"a": {"b"}, "b": {"a", "c"}, "c": set()}, ["a", "b"]) == "a -> b -> a"


def test_no_import_cycle_among_product_modules():
    graph = _import_graph()
    assert [_cycle_path(graph, c) for c in _cycles(graph)] == []


def test_the_product_never_imports_the_lab():
    """At any level, lazy imports included."""
    bad = [f"{_rel(p)}: {m}" for p in PRODUCT for m in _absolute_imports(_tree(p))
           if m.split(".")[0] == "posemoe_lab"]
    assert bad == []


def test_stages_never_import_bpy_at_module_level():
    allowed = {p for pattern in BLENDER_MODULES for p in PRODUCT
               if fnmatch.fnmatch(p.relative_to(PKG).as_posix(), pattern)}
    assert PKG / "retargeting" / "rig.py" in allowed and PKG / "addon" / "worker.py" not in allowed
    bad = []
    for path in PRODUCT:
        if path in allowed:
            continue
        for node in _import_time_imports(_tree(path)):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if node.level == 0 else [])
            bad += [f"{_rel(path)}:{node.lineno}: {n}" for n in names if n.split(".")[0] in BLENDER]
    assert bad == []


def test_no_sys_path_edit():
    """Code and the child-process scripts tests write alike (a text search); the one exception
    is the add-on's site-packages folder in :data:`SYS_PATH_EXCEPTION`."""
    edit = re.compile(r"\bsys\.path\s*(\.\s*(append|insert|extend|remove|pop|clear)\s*\(|"
                      r"\[[^\]]*\]\s*[+\-]?=(?!=)|[+\-]?=(?!=))|\baddsitedir\s*\(")
    bad = []
    for path in _python_files(PKG) + _python_files(LAB) + _python_files(TESTS):
        if path == SYS_PATH_EXCEPTION:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if edit.search(line):
                bad.append(f"{_rel(path)}:{n}: {line.strip()}")
    assert bad == []
    assert edit.search((SYS_PATH_EXCEPTION).read_text(encoding="utf-8"))  # the exception is still needed


def test_no_private_ray_api_anywhere():
    private = "ray." + "_private"
    bad = []
    for dirpath, dirnames, filenames in os.walk(REPO):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith((".py", ".sh", ".toml", ".cfg", ".ini")) or name == "Makefile":
                path = Path(dirpath) / name
                for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                    if private in line:
                        bad.append(f"{_rel(path)}:{n}: {line.strip()}")
    assert bad == []


# --------------------------------------------------------------------------- comments

#: Beside the product modules: the lab's benchmark runner, under the rule since issue #13.
COMMENT_RULE_EXTRA = [LAB / "evaluation" / "bench.py"]


def test_no_dates_in_code_comments():
    """Comments and strings (docstrings, messages) of every product module; numbers in code
    (an image size of 1920) are not comments."""
    date = re.compile(r"\b20\d\d-\d\d-\d\d\b|\b(19|20)\d\d\b(?! ?fps)")
    bad = []
    for path in PRODUCT + COMMENT_RULE_EXTRA:
        text = path.read_text(encoding="utf-8")
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type not in (tokenize.COMMENT, tokenize.STRING):
                continue
            for k, line in enumerate(token.string.splitlines()):
                if date.search(line) and not re.search(r"arXiv|\d{4}\.\d{5}", line):  # a paper's id
                    bad.append(f"{_rel(path)}:{token.start[0] + k}: {line.strip()}")
    assert bad == []


# --------------------------------------------------------------------------- the extension zip

#: Path parts of the lab's training and evaluation code; none may appear in the zip.
LAB_PARTS = {"posemoe_lab", "training", "evaluation", "experiments", "renders"}
#: Module names that only training or evaluation code has.
LAB_MODULES = re.compile(r"^(train\w*|dataset|datapack|bench\w*|eval\w*|metrics|runner)\.py$")
#: Imports only training code makes (inference needs neither).
TRAINING_IMPORTS = ("torch.optim", "torch.utils.data")


def extension_zip_problems(zip_path) -> list[str]:
    """What an extension zip carries that an animator does not run, or lacks (empty: none).
    Also called on the installed zip by ``test_addon.test_zip_layout_and_manifest``."""
    problems = []
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
        for name in sorted(names):
            parts = name.split("/")
            if LAB_PARTS & set(parts[:-1]) or LAB_MODULES.match(parts[-1]):
                problems.append(f"{name}: a lab (training or evaluation) file")
            if not name.endswith(".py"):
                continue
            for module in _absolute_imports(ast.parse(zf.read(name).decode("utf-8"), name)):
                if module.split(".")[0] in {"ray", "posemoe_lab"} or module.startswith(TRAINING_IMPORTS):
                    problems.append(f"{name}: imports {module}")
    weights = [f"weights/{p.name}" for p in sorted((REPO / "weights").glob("*")) if p.is_file() and p.stat().st_size]
    bone_maps = [_rel(p) for p in sorted(rp.BONE_MAP_DIR.glob("*.json"))]
    data = [_rel(landmarks.CORRECTION_FILE), "posemoe_blender/batch/core.py"]
    problems += [f"{n}: missing" for n in weights + bone_maps + data if n not in names]
    if not any(n.startswith("weights/") and n.endswith(".pt") for n in names) or not bone_maps:
        problems.append("no weights or no bone maps at all")
    return problems


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory):
    from posemoe_lab import extension
    return extension.build(tmp_path_factory.mktemp("dist"))


def test_extension_zip_carries_only_what_an_animator_runs(extension_zip):
    with zipfile.ZipFile(extension_zip) as zf:
        names = set(zf.namelist())
    assert "posemoe_blender/batch/ray_cluster.py" not in names
    assert {"posemoe_blender/pipeline.py", "posemoe_blender/cli.py", "posemoe_blender/addon/worker.py",
            "posemoe_blender/lifting/networks/posemoe.py"} <= names
    assert extension_zip_problems(extension_zip) == []


def test_extension_zip_problems_are_found(tmp_path):
    """The zip check itself: a lab module, a Ray import and a missing bone map are named."""
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("posemoe_lab/training/train.py", "import torch.optim\n")
        zf.writestr("posemoe_blender/batch/ray_cluster.py", "import ray\n")
    problems = extension_zip_problems(bad)
    assert "posemoe_lab/training/train.py: a lab (training or evaluation) file" in problems
    assert "posemoe_lab/training/train.py: imports torch.optim" in problems
    assert "posemoe_blender/batch/ray_cluster.py: imports ray" in problems
    assert "posemoe_blender/data/bone_maps/mixamo.json: missing" in problems


def test_the_extension_build_refuses_ray_and_lab_imports(tmp_path):
    from posemoe_lab import extension
    module = tmp_path / "x.py"
    module.write_text("def f():\n    import ray.util\n    from posemoe_lab import training\n")
    assert extension.refused_imports([(module, "posemoe_blender/x.py"), (None, "__init__.py")]) == [
        "posemoe_blender/x.py: ray.util", "posemoe_blender/x.py: posemoe_lab"]
    assert extension.refused_imports(extension.entries()) == []


def test_ray_batch_from_the_extension_copy_is_one_line(extension_zip, tmp_path):
    """The zip's own package, run by an outside Python (as ``addon/remote.py`` does): ``batch
    --ray`` stops with one line before anything is written."""
    copy = tmp_path / "extension"
    with zipfile.ZipFile(extension_zip) as zf:
        zf.extractall(copy)
    (tmp_path / "x.mp4").write_bytes(b"not a video")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "posemoe_blender", "batch", str(tmp_path / "x.mp4"),
                           "-o", str(out), "--ray", "auto"], cwd=copy, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == ("error: --ray: Ray batches run from the project's install, "
                           "not from the Blender extension's copy\n")
    assert not out.exists()

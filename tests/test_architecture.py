"""The apps under matchmaker/ form a one-way stack (docs/architecture.md): each imports only
the layers below it, never one beside it or above it.

Every import counts, wherever it is written: at the top of a module, inside a function (a lazy
import still couples the two), under `if TYPE_CHECKING:`. So do string references to another
app's model ("federation.Peer" in a ForeignKey, `apps.get_model`). Migrations are left out: they
name the apps whose tables they depend on, which is history, not design.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent / "matchmaker"

# Bottom first. Apps in one layer may not import each other.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"lib"}),  # framework helpers with no domain: errors, secrets, downloads, ...
    frozenset({"reference"}),  # the loaded HPO release and gene catalogue
    frozenset({"cases"}),  # pseudonymised cases, their validation, the shareable queryset
    frozenset({"matching", "federation"}),  # the engine and its index; peers, MME protocol, audit
    frozenset({"casework"}),  # every case and match writer; store -> index -> match -> notify
    frozenset({"beacon", "observability", "security"}),  # interfaces, cross-cutting concerns
    frozenset({"web"}),  # the clinicians' pages, the REST API and the MME endpoints
)
LAYER_OF = {app: depth for depth, apps in enumerate(LAYERS) for app in apps}
# The composition root: settings, URLs, WSGI/ASGI, the Celery app. It may import any app;
# no app imports it (settings are read through django.conf).
ROOT_MODULES = frozenset({"settings", "urls", "wsgi", "asgi", "celery", "__init__"})

_MODEL_REFERENCE = re.compile(r"""["']([a-z_]+)\.([A-Z]\w*)["']""")


@dataclass(frozen=True, slots=True)
class Dependency:
    source: str  # the file, relative to the project package
    importer: str  # its app (or the root module's name)
    imported: str  # the app or root module it reaches
    how: str  # the import or the string reference, as written


def app_of(relative: Path) -> str:
    """The app a file belongs to: its first folder, or the module's own name at the root."""
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def dependencies(project: Path) -> Iterator[Dependency]:
    """Every reach from one app of `project` into another: imports and string model refs."""
    for path in sorted(project.rglob("*.py")):
        relative = path.relative_to(project)
        if "migrations" in relative.parts:
            continue
        importer = app_of(relative)
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            for module in _imported_modules(node, relative):
                parts = module.split(".")
                if parts[0] != project.name or len(parts) < 2:
                    continue
                if parts[1] != importer:
                    yield Dependency(str(relative), importer, parts[1], f"import {module}")
        for label, model in _MODEL_REFERENCE.findall(source):
            if label in LAYER_OF and label != importer:
                yield Dependency(str(relative), importer, label, f'"{label}.{model}"')


def _imported_modules(node: ast.AST, relative: Path) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:  # relative: resolve against the file's package
            package = [PROJECT.name, *relative.parts[:-1]][: len(relative.parts) + 1 - node.level]
            return [".".join([*package, *([node.module] if node.module else [])])]
        if node.module:
            # `from matchmaker import casework` names the app in the imported names.
            if node.module == PROJECT.name:
                return [f"{node.module}.{alias.name}" for alias in node.names]
            return [node.module]
    return []


def violations(project: Path) -> list[str]:
    """Each dependency that goes sideways, upwards, into the root, or into an unknown app."""
    found = []
    for dependency in dependencies(project):
        if dependency.importer in ROOT_MODULES and dependency.importer not in LAYER_OF:
            continue  # the composition root may reach anything
        importer_layer = LAYER_OF.get(dependency.importer)
        imported_layer = LAYER_OF.get(dependency.imported)
        if importer_layer is None or imported_layer is None:
            unknown = dependency.importer if importer_layer is None else dependency.imported
            reason = (
                "reaches into the composition root"
                if unknown in ROOT_MODULES
                else f"involves {unknown!r}, which is in no layer"
            )
        elif imported_layer > importer_layer:
            reason = "imports a layer above it"
        elif imported_layer == importer_layer:
            reason = "imports an app beside it in the same layer"
        else:
            continue
        found.append(
            f"{dependency.source}: {dependency.importer} -> {dependency.imported} "
            f"({dependency.how}): {reason}"
        )
    return found


def test_every_app_imports_only_the_layers_below_it() -> None:
    problems = violations(PROJECT)
    assert not problems, "the apps no longer stack (docs/architecture.md):\n" + "\n".join(problems)


def test_every_app_has_a_layer() -> None:
    apps = {path.parent.name for path in PROJECT.glob("*/__init__.py")}
    assert apps == set(LAYER_OF), "place a new app in LAYERS (and in docs/architecture.md)"


def _package(root: Path, files: dict[str, str]) -> Path:
    project = root / "matchmaker"
    for name, text in files.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return project


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (  # an upward import, hidden inside a function
            {"cases/services.py": "def f():\n    from matchmaker.casework import tasks\n"},
            "cases -> casework (import matchmaker.casework): imports a layer above it",
        ),
        (  # a sideways string reference to a model
            {"matching/models.py": 'peer = ForeignKey("federation.Peer")\n'},
            'matching -> federation ("federation.Peer"): imports an app beside it',
        ),
        (  # `from matchmaker import app`, under TYPE_CHECKING
            {"reference/x.py": "if TYPE_CHECKING:\n    from matchmaker import cases\n"},
            "reference -> cases (import matchmaker.cases): imports a layer above it",
        ),
        (  # a relative import
            {"lib/errors.py": "from ..web import views\n"},
            "lib -> web (import matchmaker.web): imports a layer above it",
        ),
        (  # an app reaching into the composition root
            {"web/apps.py": "import matchmaker.checks\n"},
            "web -> checks (import matchmaker.checks): involves 'checks'",
        ),
    ],
)
def test_the_check_catches(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    problems = violations(_package(tmp_path, files))
    assert any(expected in problem for problem in problems), problems


def test_the_check_allows_imports_downwards_and_within_an_app(tmp_path: Path) -> None:
    project = _package(
        tmp_path,
        {
            "web/views.py": "from matchmaker.casework.services import lifecycle\n",
            "casework/models.py": 'peer = ForeignKey("federation.Peer")\n',
            "casework/tasks.py": "from matchmaker.casework.services import matches\n",
            "urls.py": "from matchmaker.web import views\n",
        },
    )
    assert violations(project) == []

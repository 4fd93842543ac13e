"""The layers of ``shared/``, and the one way imports run between them.

Lowest first; a module may import its own layer and any layer below it, never one above:

1. ``domain``: ``shared/domain/``. The payment, its statuses and rules, the contracts,
   reasons and errors. No I/O.
2. ``pipeline``: ``shared/messaging/routes.py``, the pipeline declared once (which queue
   carries which message to which stage). A table, no I/O; it lives beside the transport
   that reads it, but the stage signer reads it too (which stages hold a key pair), so it
   ranks just above the domain.
3. ``config``: ``shared/config.py``, the settings of a process.
4. ``security``: ``shared/security/``, pure cryptography and key policy: key rings and
   sealing, session tokens, TOTP and OCRA arithmetic, dynamic linking, stage signatures, the
   audit chain's MACs, what people are told about refusals, which keys a process needs. No
   Redis adapter.
5. ``adapters``: ``shared/redis/`` (the key space, the payment store and every other store
   that lives on Redis: sessions, one-time-code state, login throttles, the audit chain's
   storage, the directory, leases, dead letters, the server keys kept in Redis in
   development) and ``shared/messaging/`` (transport only: the broker, RabbitMQ), with
   ``shared/logging.py``.
6. ``app``: ``shared/app/``, the application layer: the application clients, the command
   path, the guard, the deadline rule, the actor glue, people's access and the pay link;
   :class:`~shared.app.deps.Deps`, what a process's handlers are given.
7. ``metrics``: ``shared/metrics/``, what a process counts; it reads what the app layer's
   actor leaves behind, so it sits above it.
8. ``root``: ``shared/bootstrap.py``, the composition root that builds every dependency
   of a process, and ``shared/testing.py``, helpers for tests and the demo.

``services/`` (the entrypoints) sit above all of them, and nothing in ``shared/`` imports
``services/``. Every import counts, also one made inside a function or under
``TYPE_CHECKING``: an annotation that names a layer above is still a dependency on it.

Exceptions kept: none (:data:`EXCEPTIONS`). The same order, with the reasons, is in
``docs/architecture-layers.md``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "shared"

#: Each layer and the module prefixes it holds, lowest first.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("domain", ("shared.domain",)),
    ("pipeline", ("shared.messaging.routes",)),
    ("config", ("shared.config",)),
    ("security", ("shared.security",)),
    ("adapters", ("shared.redis", "shared.messaging", "shared.logging")),
    ("app", ("shared.app",)),
    ("metrics", ("shared.metrics",)),
    ("root", ("shared.bootstrap", "shared.testing")),
)

#: Upward imports kept on purpose, ``(importer, imported): why``. None today; add one only
#: with its reason, here and in docs/architecture-layers.md.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path) -> set[str]:
    """Every first-party module ``path`` imports (``from package import module`` names the
    module; ``from module import name`` names the module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            base = node.module or ""
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if is_module(full) else base)
    return {name for name in found if name.split(".")[0] in ("shared", "services")}


def layer_of(module: str) -> int:
    """The rank of the layer whose longest prefix matches ``module``."""
    best, rank = -1, -1
    for position, (_name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), position
    return rank


def shared_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SHARED.rglob("*.py"))}


def upward_imports() -> list[tuple[str, str, str, str]]:
    """Every import from a layer to one above it: importer, its layer, imported, its layer."""
    found = []
    for module, path in shared_modules().items():
        if module == "shared":
            continue
        own = layer_of(module)
        for imported in sorted(imports_of(path)):
            if imported == "shared" or imported.startswith("services"):
                continue
            rank = layer_of(imported)
            if rank > own and (module, imported) not in EXCEPTIONS:
                found.append((module, LAYERS[own][0], imported, LAYERS[rank][0]))
    return found


def test_every_module_of_shared_has_a_layer() -> None:
    unplaced = [m for m in shared_modules() if m != "shared" and layer_of(m) < 0]
    assert unplaced == []


def test_imports_between_the_layers_run_one_way() -> None:
    upward = [f"{m} ({ml}) imports {i} ({il})" for m, ml, i, il in upward_imports()]
    assert upward == []


def test_shared_never_imports_services() -> None:
    offending = {
        module: sorted(i for i in imports_of(path) if i.startswith("services"))
        for module, path in shared_modules().items()
    }
    assert {m: i for m, i in offending.items() if i} == {}


def test_every_exception_kept_is_still_an_import() -> None:
    modules = shared_modules()
    stale = [pair for pair in EXCEPTIONS if pair[1] not in imports_of(modules[pair[0]])]
    assert stale == []

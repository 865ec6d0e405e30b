"""Lean layers: a package only some functions import is in a layer of its own, attached to the
functions whose code can import it (derived from their imports, lazy ones included), and to no
other; the shared layer carries the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.config import PACKAGE_LAYERS
from infra.imports import packages_reached
from tests.infra.synth import Synthesized

pytestmark = pytest.mark.infra


def _layer_ids(synth: Synthesized) -> dict[str, str]:
    """Logical id of each project layer, by name: ``shared`` or a package layer's name."""
    ids = {}
    for logical_id, layer in synth.resources(synth.api, "AWS::Lambda::LayerVersion").items():
        description = layer["Properties"].get("Description", "")
        if logical_id.startswith("Dependencies"):
            ids["shared"] = logical_id
        for package in PACKAGE_LAYERS:
            if description == package.description:
                ids[package.name] = logical_id
    return ids


def _layer_named(by_id: dict[str, str], ref: str) -> str:
    """The layer a ``Ref`` names: its logical id, or in a nested stack the parameter CDK passes
    it through (``referenceto<stack path><construct path><hash>Ref``: the logical id without
    its own 8-character hash)."""
    if ref in by_id:
        return by_id[ref]
    path = ref.removesuffix("Ref")[:-8]
    (name,) = [name for logical_id, name in by_id.items() if path.endswith(logical_id[:-8])]
    return name


def test_each_function_gets_the_shared_layer_and_only_the_package_layers_it_imports(synthesized):
    # Given the synthesized dev app and the layers it publishes
    ids = _layer_ids(synthesized)
    assert set(ids) == {"shared", "pdf-layer", "migrations-layer"}
    by_id = {logical_id: name for name, logical_id in ids.items()}
    attached = {}
    for entry in synthesized.registry:
        _, function = synthesized.function(entry.name)
        refs = [layer["Ref"] for layer in function["Properties"]["Layers"]]
        attached[entry.name] = [_layer_named(by_id, ref) for ref in refs]
        # Then every function has the shared layer first, and a package layer exactly when its
        # code (the handler's imports, and shared/ behind them) can import that package
        reached = packages_reached(entry.folder)
        expected = ["shared"] + [p.name for p in PACKAGE_LAYERS if p.module in reached]
        assert attached[entry.name] == expected, entry.name
    # And that is pypdf for the ingest worker and the maintenance job (which re-queues or
    # fails stuck documents through the ingest module) alone, alembic for the migrate job alone
    assert [n for n, layers in attached.items() if "pdf-layer" in layers] == [
        "documents-ingest",
        "system-maintenance",
    ]
    assert [n for n, layers in attached.items() if "migrations-layer" in layers] == [
        "system-migrate"
    ]


def test_a_lazy_import_through_shared_counts_as_an_import(tmp_path: Path):
    # Given a function whose handler imports pypdf only inside a function, through shared/
    folder = tmp_path / "reports" / "render"
    folder.mkdir(parents=True)
    (folder / "handler.py").write_text(
        "def handler(event, context):\n"
        "    from shared.documents.ingest import ingest_notification\n"
        "    return ingest_notification\n"
    )
    # Then its reach includes pypdf (shared.documents.extract imports it on first PDF), so it
    # would get the PDF layer
    assert "pypdf" in packages_reached(folder)
    # And one that imports none of that does not reach it, nor alembic
    plain = tmp_path / "reports" / "plain"
    plain.mkdir()
    (plain / "handler.py").write_text("from shared.platform.settings import Settings\n")
    assert packages_reached(plain).isdisjoint({"pypdf", "alembic"})


def test_an_unbuilt_package_layer_fails_the_synth_with_a_hint(synthesized, tmp_path: Path):
    from infra.app import build_app
    from infra.config import ConfigurationError

    # Given a build folder with the shared layer only
    layer_dir = tmp_path / "layer"
    (layer_dir / "python").mkdir(parents=True)
    # Then the synth refuses, naming the layer and the command that builds it
    with pytest.raises(ConfigurationError, match=r"pdf-layer is not built.*make layer"):
        build_app(registry=synthesized.registry, layer_dir=layer_dir)

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def fake_models(tmp_path):
    from tests.fakes import write_fake
    for color in ("red", "yellow", "blue", "black"):
        write_fake(tmp_path, color, 1)
    return tmp_path


@pytest.fixture(scope="session")
def tiny_saved_models(tmp_path_factory):
    """Four tiny (untrained) colour models exported by the real exporter."""
    from training.artifacts.export import export_color
    from training.net.model import build_backbone, build_classifier, build_head
    root = tmp_path_factory.mktemp("tiny_models")
    cfg = tiny_config()
    backbone, classifier = build_backbone(cfg), build_classifier(cfg)
    for color in ("red", "yellow", "blue", "black"):
        export_color(root, color, backbone, build_head(cfg, color), classifier, cfg, {"reads": [color]})
    return root


def tiny_config():
    from training.net.model import ModelConfig
    return ModelConfig(blocks=((8, False, (2, 2)), (8, False, (2, 2)), (8, True, None), (8, True, (2, 1)), (8, True, None)),
                       feature_width=8, head_width=8, sequence_width=8)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the session (skipped where PostgreSQL is not installed:
    ``scripts/test`` installs it)."""
    pytest.importorskip("psycopg")
    from tests import postgres
    if postgres.binaries() is None:
        pytest.skip("PostgreSQL is not installed (scripts/install-postgres.sh)")
    with postgres.running() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server, request):
    """A fresh database on the session's PostgreSQL server."""
    import re

    from tests import postgres
    return postgres.fresh_database(postgres_server, "t_" + re.sub(r"\W", "_", request.node.name)[:50].lower())

from pathlib import Path

import pytest

from mlops_core.errors import ReferenceNotFoundError
from mlops_core.ledger import Ledger


@pytest.fixture
def chain(tmp_path: Path) -> Ledger:
    ledger = Ledger(tmp_path / "lineage.db")
    for node in ("dataset:abc123def", "run:r1", "model:m/1", "alias:m@champion", "drift:d1", "retrain:x1"):
        ledger.add_node(node, project="p")
    ledger.link("dataset:abc123def", "run:r1", "trained")
    ledger.link("run:r1", "model:m/1", "produced")
    ledger.link("model:m/1", "alias:m@champion", "promoted", exclusive_dst=True)
    ledger.link("model:m/1", "drift:d1", "monitored")
    ledger.link("drift:d1", "retrain:x1", "requested")
    return ledger


def test_upstream_from_retrain_reaches_the_dataset(chain: Ledger) -> None:
    [path] = chain.upstream("retrain:x1")
    assert [n.id for n in path] == ["dataset:abc123def", "run:r1", "model:m/1", "drift:d1", "retrain:x1"]


def test_downstream_from_dataset_reaches_deployment_and_retrain(chain: Ledger) -> None:
    ends = {tuple(n.id for n in p)[-1] for p in chain.downstream("dataset:abc123def")}
    assert ends == {"alias:m@champion", "retrain:x1"}


def test_alias_moves_and_keeps_history(chain: Ledger) -> None:
    chain.add_node("model:m/2", project="p")
    chain.link("model:m/2", "alias:m@champion", "promoted", exclusive_dst=True)
    [path] = chain.upstream("alias:m@champion")
    assert [n.id for n in path] == ["model:m/2", "alias:m@champion"]
    history = chain.edges(dst="alias:m@champion", active_only=False)
    assert {e.src for e in history} == {"model:m/1", "model:m/2"}


def test_resolve_by_key_and_prefix(chain: Ledger) -> None:
    assert chain.resolve("m@champion").id == "alias:m@champion"
    assert chain.resolve("abc123").id == "dataset:abc123def"
    assert chain.resolve("model:m/1").kind == "model"


@pytest.mark.parametrize("ref", ["nope", "", "zzzzzzzz"])
def test_unknown_reference_is_a_clear_error(chain: Ledger, ref: str) -> None:
    with pytest.raises(ReferenceNotFoundError) as info:
        chain.resolve(ref)
    assert "mlops lineage --list" in (info.value.fix or "")


def test_ambiguous_prefix(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.db")
    ledger.add_node("run:aaaaaa1", project="p")
    ledger.add_node("run:aaaaaa2", project="p")
    with pytest.raises(ReferenceNotFoundError, match="ambiguous"):
        ledger.resolve("aaaaaa")


def test_link_to_unknown_node_changes_nothing(chain: Ledger) -> None:
    before = chain.edges(active_only=False)
    with pytest.raises(ReferenceNotFoundError):
        chain.link("run:r1", "model:missing/9", "produced")
    assert chain.edges(active_only=False) == before


def test_cycles_do_not_loop(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.db")
    ledger.add_node("run:a", project="p")
    ledger.add_node("model:m/1", project="p")
    ledger.link("run:a", "model:m/1", "produced")
    ledger.link("model:m/1", "run:a", "retrained")
    assert ledger.upstream("run:a")

"""Why each migration is in a backward plan: the chains and their text (pure).

The graphs are built in memory with Django's own ``MigrationGraph``; no
database is involved.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from django.db.migrations import Migration
from django.db.migrations.graph import MigrationGraph

from migration_guard.run.planning import (
    Plan,
    Reason,
    Resolution,
    Step,
    backward_reasons,
)

Key = tuple[str, str]


def _graph(edges: dict[Key, list[Key]]) -> MigrationGraph:
    """``edges`` maps each migration to the migrations it depends on."""
    graph = MigrationGraph()
    for key in edges:
        graph.add_node(key, Migration(key[1], key[0]))
    for child, parents in edges.items():
        for parent in parents:
            graph.add_dependency(None, child, parent)
    return graph


def _plan(edges: dict[Key, list[Key]], targets: list[Any], steps: list[Key]) -> Plan:
    graph = _graph(edges)
    executor: Any = SimpleNamespace(loader=SimpleNamespace(graph=graph))
    return Plan(
        executor=executor,
        resolution=Resolution(targets=targets, app_labels_only=False),
        steps=[Step(graph.nodes[key], backwards=True) for key in steps],
    )


def test_a_migration_the_target_unapplies_directly_names_the_target() -> None:
    assert Reason((("a", "0002"),), "a goes back to 0001").describe() == (
        "a goes back to 0001"
    )


def test_a_chain_across_apps_names_every_edge() -> None:
    reason = Reason(
        (("a", "0002"), ("b", "0001"), ("c", "0001")), "a goes back to 0001"
    )
    assert reason.describe() == (
        "depends on b.0001, which depends on a.0002 (a goes back to 0001)"
    )


def test_a_long_run_inside_one_app_is_shortened_to_its_ends() -> None:
    chain = (*(("a", f"{n:04d}") for n in range(2, 10)), ("b", "0001"))
    reason = Reason(chain, "a goes back to 0001")
    assert reason.describe() == (
        "depends on a.0009, ... 6 more in a ..., which depends on a.0002"
        " (a goes back to 0001)"
    )


def test_reasons_follow_dependencies_to_the_target() -> None:
    edges: dict[Key, list[Key]] = {
        ("a", "0001"): [],
        ("a", "0002"): [("a", "0001")],
        ("a", "0003"): [("a", "0002")],
        ("b", "0001"): [("a", "0002")],
        ("b", "0002"): [("b", "0001")],
    }
    steps = [("b", "0002"), ("b", "0001"), ("a", "0003"), ("a", "0002")]
    reasons = backward_reasons(_plan(edges, [("a", "0001")], steps))
    described = {f"{k[0]}.{k[1]}": r.describe() for k, r in reasons.items()}
    assert described == {
        "a.0002": "a goes back to 0001",
        "a.0003": "depends on a.0002 (a goes back to 0001)",
        "b.0001": "depends on a.0002 (a goes back to 0001)",
        "b.0002": "depends on b.0001, which depends on a.0002 (a goes back to 0001)",
    }


def test_among_chains_with_as_many_app_crossings_the_shortest_wins() -> None:
    # b.0002 depends on a.0002 directly and through b.0001 -> a.0003 -> a.0002,
    # one crossing between apps either way: the direct edge is the reason.
    edges: dict[Key, list[Key]] = {
        ("a", "0001"): [],
        ("a", "0002"): [("a", "0001")],
        ("a", "0003"): [("a", "0002")],
        ("b", "0001"): [("a", "0003")],
        ("b", "0002"): [("b", "0001"), ("a", "0002")],
    }
    steps = [("b", "0002"), ("b", "0001"), ("a", "0003"), ("a", "0002")]
    reasons = backward_reasons(_plan(edges, [("a", "0001")], steps))
    assert reasons[("b", "0002")].chain == (("a", "0002"), ("b", "0002"))


def test_zero_roots_at_the_apps_first_migration() -> None:
    edges: dict[Key, list[Key]] = {
        ("a", "0001"): [],
        ("b", "0001"): [("a", "0001")],
    }
    steps = [("b", "0001"), ("a", "0001")]
    reasons = backward_reasons(_plan(edges, [("a", None)], steps))
    assert reasons[("a", "0001")].describe() == "a goes back to zero"
    assert reasons[("b", "0001")].describe() == (
        "depends on a.0001 (a goes back to zero)"
    )

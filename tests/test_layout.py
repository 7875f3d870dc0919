"""The house's layout rules (docs/architecture.md, "Layout" and "Style"), checked so a change that breaks one goes red.

- No module over ~300 lines, no function over ~60 (STYLE: a bigger one is a smell; these are the limits).
- Every module says its one job in a docstring.
- An import inside a function defers a heavy library (torch, transformers, peft, accelerate, textual) and says so
  with a ``# lazy: <reason>`` comment on its line; anything else belongs at the top of the module.
The layers themselves are import-linter's job (`.ci/lint-imports`, run by `make test`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("anchormix", "agent", "model", "tools", "tui")
MAX_MODULE_LINES = 310
MAX_FUNCTION_LINES = 60


def modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", modules(), ids=_name)
def test_a_module_is_small_says_its_job_and_imports_at_the_top(path):
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    assert len(lines) <= MAX_MODULE_LINES, f"{_name(path)}: {len(lines)} lines (limit {MAX_MODULE_LINES}): split it"
    assert ast.get_docstring(tree), f"{_name(path)}: no module docstring saying its job"
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, f"{_name(path)}:{node.lineno} {node.name}: {length} lines"
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    assert "# lazy:" in lines[inner.lineno - 1], (
                        f"{_name(path)}:{inner.lineno}: an import inside {node.name}() without a '# lazy: <reason>'")


def test_the_layout_the_design_draws_is_the_tree():
    """The files docs/architecture.md's layout names exist where it says (a rename must update the map)."""
    expected = [
        "tools/conventions.py", "tools/measurements.py", "tools/registry.py", "tools/toolbox.py", "tools/outputs.py", "tools/memory_bound.py",
        "tools/daw/ardour.py", "tools/daw/reaper.py", "tools/daw/project.py",
        "agent/state.py", "agent/nodes.py", "agent/graph.py", "agent/planning.py", "agent/rules.py", "agent/trace.py",
        "agent/balance.py", "agent/outcome.py", "agent/toolcall.py", "agent/advice.py", "agent/checkpoint_db.py",
        "agent/chat/conversation.py", "agent/chat/handlers.py", "agent/chat/state.py", "agent/chat/store.py",
        "agent/chat/request_rules.py",
        "model/corpus/manifest.py", "model/corpus/midi.py", "model/corpus/procedural.py", "model/corpus/lmms.py", "model/features.py",
        "model/prompt.py", "model/draws.py", "model/backbone.py", "model/weights.py", "model/alm/network.py",
        "model/alm/build.py", "model/alm/train.py", "model/alm/planner.py", "model/advice/writer.py",
        "model/evaluation/baselines.py", "model/evaluation/evaluate.py", "model/evaluation/peak_fit.py", "model/intent/intent_model.py",
        "model/tagger/role_tagger.py", "model/conf/base.yaml", "anchormix/planners.py", "anchormix/cli.py",
        "anchormix/views.py", "anchormix/train_cli.py", "anchormix/eval_cli.py", "anchormix/batch/jobs.py", "anchormix/batch/ray_pool.py",
        "tui/app.py", "docs/architecture.md",
    ]
    assert [p for p in expected if not (ROOT / p).exists()] == []


def test_the_model_keeps_its_top_level_small():
    """Issue 27: model/ is split by learner; what they share stays at its root, twelve modules at most."""
    top = sorted(p.name for p in (ROOT / "model").glob("*.py"))
    assert len(top) <= 12, top

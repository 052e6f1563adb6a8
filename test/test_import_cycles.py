"""No import cycles among the modules of loc_core, loc_ros and rosbags_tools: the module-to-module
imports, read with ast from the source (nothing is imported), between the project's own modules.
A package's __init__ counts as the package; `from pkg import name` counts as importing pkg.name
when that is a module."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ('loc_core', 'loc_ros', 'rosbags_tools')


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob('*.py')}


def _imports(tree: ast.Module):
    """Every import statement of the module, at its top or deferred inside a function: an import
    moved into a function to dodge a cycle still ties the two modules together. Only blocks under
    `if TYPE_CHECKING:` are left out (they never run)."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and 'TYPE_CHECKING' in ast.unparse(node.test):
            skipped |= {id(child) for stmt in node.body for child in ast.walk(stmt)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skipped:
            yield node


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        is_package = path.name == '__init__.py'
        targets = set()
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
                continue
            base = node.module or ''
            if node.level:
                anchor = name.split('.') if is_package else name.split('.')[:-1]
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = '.'.join(anchor + ([node.module] if node.module else []))
            targets.add(base)
            targets |= {f'{base}.{alias.name}' for alias in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_the_graph_sees_real_imports():
    graph = import_graph()
    assert 'loc_core.data.cloud_layout' in graph['loc_ros.conversions']
    assert 'rosbags_tools.conventions' in graph['rosbags_tools.pointcloud']


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, f'import cycles: {found}'

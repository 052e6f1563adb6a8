"""Load a script of bench/ as a module, for tests of its pure functions."""
import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / 'bench'


def load_bench(name: str):
    """bench/<name>.py as a module (bench/ joins sys.path first: scripts import their siblings)."""
    if str(BENCH) not in sys.path:
        sys.path.append(str(BENCH))
    spec = importlib.util.spec_from_file_location(f'{name}_bench', BENCH / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

"""Regenerate docs/hooks.md from mlops_core/hookspecs.py: uv run python docs/gen_hooks.py > docs/hooks.md"""

import inspect

from mlops_core import hookspecs

print("# Hooks\n")
print(inspect.getdoc(hookspecs))
print("\nThis page is generated from `mlops_core/hookspecs.py` by `docs/gen_hooks.py`.\n")
for name, fn in inspect.getmembers(hookspecs, inspect.isfunction):
    if not name.startswith("mlops_"):
        continue
    first = " (firstresult)" if (getattr(fn, "mlops_spec", {}) or {}).get("firstresult") else ""
    print(f"## `{name}{inspect.signature(fn)}`{first}\n")
    print(inspect.getdoc(fn) or "", "\n")

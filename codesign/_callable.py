"""Let ``codesign.simulate(...)`` call the function even after ``import codesign.simulate``.

The public API names (design.md) coincide with module names (``codesign.simulate``,
``codesign.sweep``, ...). Importing a submodule binds the *module* to that attribute of the
package, so each API module makes itself callable: calling the module calls its function of
the same name. ``from codesign.simulate import simulate`` keeps working as usual.
"""

from __future__ import annotations

import sys
import types


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return getattr(self, self.__name__.rsplit(".", 1)[-1])(*args, **kwargs)


def make_callable(module_name: str) -> None:
    sys.modules[module_name].__class__ = _CallableModule

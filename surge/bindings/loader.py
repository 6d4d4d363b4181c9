"""Which binding a run uses: `--binding package.module:Name` loaded and checked against the
operations the day needs (docs/bindings.md). The mock core's binding is the default."""

from __future__ import annotations

import importlib

from surge.day.profile import Profile
from surge.visit.binding import OPERATIONS, Binding
from surge.visit.journeys import USES, journeys_of

DEFAULT = "surge.bindings.mock_core:MockCore"


class BindingError(Exception):
    """A `--binding` that cannot be used, in one line."""


def load(spec: str) -> type[Binding]:
    """The binding class `package.module:Name` names; raises `BindingError` (one line)."""
    module_name, colon, name = spec.partition(":")
    if not colon or not module_name or not name:
        raise BindingError(f"--binding: {spec!r} is not package.module:Name")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise BindingError(f"--binding: no module {module_name!r}") from None
        raise BindingError(f"--binding: module {module_name!r} failed to import: {error}") from None
    except Exception as error:  # the module's own code failed: say so, not where
        raise BindingError(
            f"--binding: module {module_name!r} failed to import: {type(error).__name__}: {error}"
        ) from None
    found = getattr(module, name, None)
    if found is None:
        raise BindingError(f"--binding: module {module_name!r} has no {name!r}")
    operations = getattr(found, "operations", None)
    if not isinstance(found, type) or not isinstance(operations, frozenset):
        raise BindingError(
            f"--binding: {spec} is not a binding (a class with an `operations` frozenset)"
        )
    unknown = sorted(operations - OPERATIONS)
    if unknown:
        raise BindingError(f"--binding: {spec} names unknown operations {', '.join(unknown)}")
    return found


def spec_of(binding: type[Binding]) -> str:
    """The `package.module:Name` that names `binding`."""
    return f"{binding.__module__}:{binding.__qualname__}"


def needed(profile: Profile, *, onboarding: bool = False) -> frozenset[str]:
    """The operations the profile's day calls (and `onboard` when the customers are onboarded
    rather than read from a data pool)."""
    used = {"branches", *(("onboard",) if onboarding else ())}
    for channel, journey in journeys_of(profile):
        used |= USES[channel][journey]
    return frozenset(used)


def missing(binding: type[Binding], profile: Profile, *, onboarding: bool = False) -> str | None:
    """One line naming the operations the day needs and `binding` lacks, or None."""
    lacking = sorted(needed(profile, onboarding=onboarding) - binding.operations)
    if not lacking:
        return None
    lacks = ", ".join(lacking)
    return f"--binding: {spec_of(binding)} does not support {lacks}, which this run needs"

"""The one registry of faults: the kinds a scenario's `faults:` list names, and the scenario sections
that act as faults. Both are found the same way, by importing every module of faults/kinds/ and
faults/sections/ once (load()); each module registers its class with one decorator.

Owns: @fault_kind, @scenario_section, the kind and section tables, and the validation of one
`faults:` entry (validate_spec: the kinds validate their own parameters). Adding a fault kind is
adding a file to faults/kinds/ (as toxiproxy adds a toxic); nothing else to edit.
Not here: what a kind decides (its module), when it is consulted (faults/pipeline.py).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Annotated, Any, TypeVar, Union

from pydantic import Field, TypeAdapter

from .base import Fault, FaultSpec, FaultStage, SectionFault
from .outcome import SlaClass, Verdict

F = TypeVar("F", bound=type[Fault])
S = TypeVar("S", bound=type[SectionFault])

KINDS: dict[str, type[Fault]] = {}  # kind name (the spec's `kind` literal) -> run-time class
SECTIONS: list[type[SectionFault]] = []  # in the order they were imported (sections() sorts them)

_loaded = False
_adapter: TypeAdapter[Any] | None = None


def fault_kind(
    spec: type[FaultSpec], *, stage: FaultStage, sla: tuple[SlaClass, str] | None = None
) -> Callable[[F], F]:
    """Class decorator on a Fault subclass: the only registration of a kind. Its name is the
    `kind` literal of `spec` (its parameters), `stage` orders it in the pipeline, and `sla` is the
    (class, reason) of the outcomes it decides, unless a scenario's `sla:` says otherwise."""
    kind = spec.model_fields["kind"].default
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"{spec.__name__} needs `kind: Literal[...] = '...'`")

    def register(cls: F) -> F:
        if KINDS.get(kind, cls) is not cls:
            raise TypeError(f"fault kind {kind!r} registered twice")
        cls.kind = kind
        cls.spec_type = spec
        cls.stage = stage
        cls.default_sla = Verdict(*sla) if sla is not None else None
        KINDS[kind] = cls
        return cls

    return register


def scenario_section(*, stage: FaultStage) -> Callable[[S], S]:
    """Class decorator on a SectionFault subclass (with its from_scenario): the only registration
    of a scenario section that acts as a fault."""

    def register(cls: S) -> S:
        cls.stage = stage
        if cls not in SECTIONS:
            SECTIONS.append(cls)
        return cls

    return register


def load() -> None:
    """Import every module of simulator.faults.kinds and simulator.faults.sections, once."""
    global _loaded
    if _loaded:
        return
    from . import kinds, sections

    for package in (kinds, sections):
        for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            importlib.import_module(f"{package.__name__}.{module.name}")
    _loaded = True


def kind_names() -> list[str]:
    load()
    return sorted(KINDS)


def runtime_of(kind: str) -> type[Fault]:
    """The run-time class of a registered kind."""
    load()
    return KINDS[kind]


def sections() -> list[type[SectionFault]]:
    """The sections in stage order (by module name within a stage), whatever order they were imported in."""
    load()
    return sorted(SECTIONS, key=lambda cls: (cls.stage, cls.__module__))


def spec_adapter() -> TypeAdapter[Any]:
    """A validator of one `faults:` entry: the kinds' parameter models, told apart by `kind`."""
    global _adapter
    if _adapter is None:
        load()
        specs = tuple(cls.spec_type for cls in sorted(KINDS.values(), key=lambda cls: cls.__module__))
        union = Annotated[Union[specs], Field(discriminator="kind")]  # noqa: UP007
        entry: Any = specs[0] if len(specs) == 1 else union
        _adapter = TypeAdapter(entry)
    return _adapter


def validate_spec(data: Any) -> FaultSpec:
    """One `faults:` entry, validated by its kind's model. Raises pydantic's ValidationError."""
    return spec_adapter().validate_python(data)

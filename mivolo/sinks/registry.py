"""Every output the command line can ask for: the `SINK` spec of each module in this package.

A module is found by its presence; its spec adds its flags and builds its sink for a run.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from typing import List

from mivolo.sinks.base import OutputPlan, Sink, SinkSpec


def sink_specs() -> List[SinkSpec]:
    """The spec of every sink module, by name."""
    import mivolo.sinks as package

    specs = []
    for module in pkgutil.iter_modules(package.__path__):
        spec = getattr(importlib.import_module(f"{package.__name__}.{module.name}"), "SINK", None)
        if isinstance(spec, SinkSpec):
            specs.append(spec)
    return sorted(specs, key=lambda spec: spec.name)


def add_sink_arguments(group) -> None:
    for spec in sink_specs():
        spec.add_arguments(group)


def output_options(**values) -> argparse.Namespace:
    """The outputs' options with every flag at its default, then `values` (the Python API's way to
    ask for outputs, e.g. `output_options(draw=True, save_json=True)`)."""
    parser = argparse.ArgumentParser(add_help=False)
    add_sink_arguments(parser)
    options = parser.parse_args([])
    unknown = sorted(set(values) - set(vars(options)))
    if unknown:
        raise TypeError(f"unknown output options: {', '.join(unknown)}")
    for name, value in values.items():
        setattr(options, name, value)
    return options


def build_sinks(options: argparse.Namespace, plan: OutputPlan) -> List[Sink]:
    """The sinks the options ask for in this run, in closing order."""
    built = []
    for spec in sorted(sink_specs(), key=lambda spec: (spec.order, spec.name)):
        if plan.kind in spec.runs:
            sink = spec.build(options, plan)
            if sink is not None:
                built.append(sink)
    return built

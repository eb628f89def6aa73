"""Read flow files from ``ivr_flows/``: every error names ``file:line``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from callcenter.ivr.flow import Flow, FlowError
from callcenter.ivr.flowparse import parse_flow
from callcenter.yamlfile import ConfigFileError, load_located, parse_located

__all__ = ["ALERT_FLOW", "INBOUND_FLOW", "FlowSet", "load_flow", "load_flows"]

INBOUND_FLOW = "emergency_inbound"
ALERT_FLOW = "alert_outbound"
REQUIRED_FLOWS = (INBOUND_FLOW, ALERT_FLOW)


def load_flow(file: Path) -> Flow:
    flow = parse_located(file, parse_flow, FlowError, lambda e: getattr(e, "path", ()))
    if flow.name != file.stem:
        located = load_located(file)
        raise located.error(("flow",), f"flow {flow.name!r} must live in a file named {flow.name}.yaml")
    return flow


@dataclass(frozen=True)
class FlowSet:
    """Every flow of a directory by name; prompt ids are shared, so one id means one text everywhere."""

    flows: Mapping[str, Flow]
    files: Mapping[str, Path]

    def __getitem__(self, name: str) -> Flow:
        return self.flows[name]

    def __iter__(self) -> Iterator[Flow]:
        return iter(self.flows.values())

    def prompts(self) -> dict[str, str]:
        return {pid: text for flow in self for pid, text in flow.prompts.items()}


def load_flows(directory: Path, required: tuple[str, ...] = REQUIRED_FLOWS) -> FlowSet:
    if not directory.is_dir():
        raise ConfigFileError(directory, None, "flows directory not found")
    flows: dict[str, Flow] = {}
    files: dict[str, Path] = {}
    texts: dict[str, tuple[str, Path]] = {}
    for file in sorted(directory.glob("*.yaml")):
        flow = load_flow(file)
        flows[flow.name], files[flow.name] = flow, file
        for pid, text in flow.prompts.items():
            earlier = texts.setdefault(pid, (text, file))
            if earlier[0] != text:
                raise load_located(file).error(
                    ("prompts", pid), f"prompt {pid!r} has another text in {earlier[1].name}; give it a new id")
    for name in required:
        if name not in flows:
            raise ConfigFileError(directory / f"{name}.yaml", None, f"the {name} flow is missing")
    return FlowSet(flows, files)

"""The critical path of a ``terraform apply``: the longest chain of resources that waited for each other.

Timings come from terraform's own machine-readable output (``terraform apply -json``: one JSON object per
line; ``apply_start`` and ``apply_complete`` carry ``hook.resource.addr`` and an ``@timestamp`` with
microseconds; Terraform docs, "Machine-Readable UI"). Dependencies come from the configuration that was
applied (``cdk.tf.json``): every ``${...}`` reference to another resource or data source, with the attribute
it reads, and every ``depends_on``. Terraform starts a resource once everything it references is complete,
so walking back from the resource that finished last, each link's predecessor is the dependency that
completed last before it started; the link waited for the attribute named.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

# ${aws_sqs_queue.messaging_payments-dlq_1A2B.arn} or data.aws_iam_policy_document.x.json inside an expression
_REFERENCE = re.compile(r"\b(?P<address>(?:data\.)?aws_[a-z0-9_]+\.[A-Za-z0-9_-]+)(?:\.(?P<attribute>[a-z0-9_]+))?")
_INTERPOLATION = re.compile(r"\$\{(.*?)\}")


@dataclass(frozen=True)
class Span:
    """One resource's apply: seconds since the apply's first event (start, end)."""

    address: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class ApplyTimings:
    """Collects ``apply_start`` / ``apply_complete`` events from ``terraform apply -json`` lines."""

    origin: datetime | None = None
    started: dict[str, float] = field(default_factory=dict)
    spans: dict[str, Span] = field(default_factory=dict)

    def feed(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        if kind not in ("apply_start", "apply_complete"):
            return
        address = event.get("hook", {}).get("resource", {}).get("addr")
        stamp = event.get("@timestamp")
        if not isinstance(address, str) or not isinstance(stamp, str):
            return
        at = datetime.fromisoformat(stamp)
        if self.origin is None:
            self.origin = at
        seconds = (at - self.origin).total_seconds()
        if kind == "apply_start":
            self.started[address] = seconds
        elif address in self.started:
            self.spans[address] = Span(address, self.started[address], seconds)


@dataclass(frozen=True)
class Link:
    """One resource on the critical path, what it waited for (the predecessor and the attributes it read)."""

    span: Span
    waited_for: str | None
    attributes: tuple[str, ...]
    gap: float  # seconds between the predecessor's completion and this resource's start


def dependencies(config: Mapping[str, Any]) -> dict[str, dict[str, set[str]]]:
    """``address -> {referenced address -> attributes read}`` of a ``cdk.tf.json`` (``depends_on`` as ``*``).

    Addresses are ``type.name`` for resources and ``data.type.name`` for data sources.
    """
    graph: dict[str, dict[str, set[str]]] = {}
    for prefix, blocks in (("", config.get("resource", {})), ("data.", config.get("data", {}))):
        for kind, named in blocks.items():
            for name, body in named.items():
                found: dict[str, set[str]] = {}
                for text in _strings({k: v for k, v in body.items() if k != "depends_on"}):
                    for expression in _INTERPOLATION.findall(text):
                        for match in _REFERENCE.finditer(expression):
                            found.setdefault(match["address"], set()).add(match["attribute"] or "*")
                for explicit in body.get("depends_on", []):
                    found.setdefault(_INTERPOLATION.sub(r"\1", explicit), set()).add("depends_on")
                graph[f"{prefix}{kind}.{name}"] = found
    return graph


def _strings(value: object) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def critical_path(timings: ApplyTimings, graph: Mapping[str, Mapping[str, set[str]]]) -> list[Link]:
    """The chain that ends with the last resource to complete, first link first; [] without timings."""
    if not timings.spans:
        return []
    current: Span | None = max(timings.spans.values(), key=lambda span: span.end)
    chain: list[Link] = []
    while current is not None:
        done = [(timings.spans[dep], attrs) for dep, attrs in graph.get(current.address, {}).items()
                if dep in timings.spans and timings.spans[dep].end <= current.start + 0.5]  # fmt: skip
        if not done:
            chain.append(Link(current, None, (), current.start))
            break
        before, attributes = max(done, key=lambda found: found[0].end)
        chain.append(Link(current, before.address, tuple(sorted(attributes)), current.start - before.end))
        current = before
    return list(reversed(chain))


def render(chain: list[Link], total_seconds: float | None = None) -> list[str]:
    """The critical path as a table: start and duration (s), the address, what it waited for."""
    if not chain:
        return ["deploy critical path: no timings (terraform apply -json gave no apply events)"]
    end = chain[-1].span.end
    head = f"deploy critical path (terraform apply -json; {end:.1f} s from the first resource to the last"
    lines = [head + (f", apply {total_seconds:.1f} s)" if total_seconds is not None else ")")]
    lines.append(f"  {'start':>6} {'took':>6}  {'resource':<58} waited for")
    for link in chain:
        waited = (
            f"{link.waited_for} ({', '.join(link.attributes)}) +{link.gap:.1f} s"
            if link.waited_for
            else f"nothing (started {link.gap:.1f} s after the first resource)"
        )
        lines.append(f"  {link.span.start:6.1f} {link.span.seconds:6.1f}  {link.span.address:<58} {waited}")
    return lines


def read_config(stack_dir: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((stack_dir / "cdk.tf.json").read_text(encoding="utf-8"))
    return loaded

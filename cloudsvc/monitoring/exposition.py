"""The body of ``GET /metrics``: prometheus-client's encoders, with one fast path for bulk gauges.

A scrape of a large province carries a few hundred thousand quota and usage samples. prometheus-client
writes each through a ``Sample`` tuple, a labels dict sorted and escaped per sample, and a float
formatter: about 10 µs a sample (bench/metrics_scrape), seconds per scrape. A ``BulkGauge`` keeps its
rows as label text escaped once (and shared by the families of one database row) and writes its lines
itself. Its HELP and TYPE lines, and every other family, still come from prometheus-client.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import exposition
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

_EOF = b"# EOF\n"


def label_text(names: Sequence[str], values: Sequence[str]) -> str:
    """``name="value",…`` for a sample line, escaped as the text formats want."""
    return ",".join(f'{name}="{_escape(value)}"' for name, value in zip(names, values, strict=True))


def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value):
        return repr(value)
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")  # the formats' spellings


class BulkGauge(Metric):
    """A gauge family of many labelled samples, written straight to the exposition text.

    ``samples`` still gives prometheus-client's Sample tuples, for anything that reads families the
    usual way (built on demand; the scrape itself never asks)."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        super().__init__(name, documentation, "gauge")
        self.label_names = tuple(labels)
        self._rows: list[tuple[str, Sequence[str], float]] = []

    def add(self, labels: str, values: Sequence[str], value: float) -> None:
        """``labels`` is ``label_text(self.label_names, values)``, computed once by the caller."""
        self._rows.append((labels, values, value))

    @property  # Metric keeps a plain list; here it is derived from the rows
    def samples(self) -> list[Sample]:
        names = self.label_names
        return [
            Sample(self.name, dict(zip(names, values, strict=True)), value) for _, values, value in self._rows
        ]

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        if value:  # Metric.__init__ sets it to []; anything else would be lost
            raise TypeError("BulkGauge samples are added with add()")

    def lines(self) -> Iterator[str]:
        name = self.name
        for labels, _, value in self._rows:
            yield f"{name}{{{labels}}} {_number(value)}\n"


class _Families(Collector):
    def __init__(self, families: Sequence[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def encode(families: Iterable[Metric], accept: str) -> tuple[bytes, str]:
    """The body and content type prometheus-client would answer ``accept`` with (text format, or
    OpenMetrics when asked), for ``families``, with the sample lines of bulk gauges written here."""
    encoder, content_type = exposition.choose_encoder(accept)
    openmetrics_format = content_type.startswith("application/openmetrics-text")
    parts: list[bytes] = []
    plain: list[Metric] = []

    def flush() -> None:
        if plain:
            parts.append(_without_eof(encoder(_Families(plain)), openmetrics_format))
            plain.clear()

    for family in families:
        if isinstance(family, BulkGauge):
            flush()
            header = Metric(family.name, family.documentation, family.type)
            parts.append(_without_eof(encoder(_Families([header])), openmetrics_format))
            parts.append("".join(family.lines()).encode())
        else:
            plain.append(family)
    flush()
    if openmetrics_format:
        parts.append(_EOF)
    return b"".join(parts), content_type


def _without_eof(body: bytes, openmetrics_format: bool) -> bytes:
    return body.removesuffix(_EOF) if openmetrics_format else body

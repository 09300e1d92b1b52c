"""GET /metrics writes bulk gauges itself: what it writes must read back exactly as what prometheus-client
writes for the same samples, in both formats, whatever the label values hold."""

from __future__ import annotations

import math

import pytest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text
from prometheus_client.samples import Sample

from cloudsvc.monitoring.exposition import BulkGauge, encode, label_text

LABELS = ("department", "zone")
AWKWARD = ["plain", '引号"内', "back\\slash", "two\nlines", "", "省/市,县={}"]
VALUES: list[float] = [0, 7, 2**53 + 1, 0.1, 1e-300, 6.02e23, -3.5, math.inf, -math.inf]


def bulk() -> BulkGauge:
    family = BulkGauge("cloudsvc_example_bytes", 'Bytes "used", with a \\ and\na newline', LABELS)
    for i, department in enumerate(AWKWARD):
        for j, value in enumerate(VALUES):
            values = (department, f"z{i}-{j}")
            family.add(label_text(LABELS, values), values, value)
    return family


def the_same_samples_plain(family: BulkGauge) -> GaugeMetricFamily:
    plain = GaugeMetricFamily(family.name, family.documentation, labels=list(LABELS))
    for sample in family.samples:
        plain.add_metric([sample.labels[name] for name in LABELS], sample.value)
    return plain


def around(families: list[Metric]) -> list[Metric]:
    counter = CounterMetricFamily("cloudsvc_example", "A counter before", labels=["kind"])
    counter.add_metric(["server"], 3)
    gauge = GaugeMetricFamily("cloudsvc_example_after", "A gauge after", value=1)
    return [counter, *families, gauge]


Family = tuple[str, str, str, list[tuple[str, dict[str, str], float]]]


def read(body: bytes, openmetrics: bool) -> list[Family]:
    parser = parse_openmetrics if openmetrics else parse_text
    return [  # values as Prometheus keeps them: float64
        (f.name, f.type, f.documentation, [(s.name, s.labels, float(s.value)) for s in f.samples])
        for f in parser(body.decode())
    ]


@pytest.mark.parametrize(("accept", "openmetrics"), [("", False), ("application/openmetrics-text", True)])
def test_bulk_gauges_read_back_as_prometheus_clients_own_rendering(accept: str, openmetrics: bool) -> None:
    ours, content_type = encode(around([bulk()]), accept)
    theirs, their_type = encode(around([the_same_samples_plain(bulk())]), accept)  # no bulk gauge: all theirs
    assert content_type == their_type
    assert content_type.startswith("application/openmetrics-text" if openmetrics else "text/plain")
    assert read(ours, openmetrics) == read(theirs, openmetrics)
    assert len(read(ours, openmetrics)[1][3]) == len(AWKWARD) * len(VALUES)
    if openmetrics:
        assert ours.endswith(b"# EOF\n")
        assert ours.count(b"# EOF") == 1


def test_nan_is_written_as_the_formats_spell_it() -> None:
    family = BulkGauge("cloudsvc_example", "x", LABELS)
    family.add(label_text(LABELS, ("a", "b")), ("a", "b"), math.nan)
    [(_, _, _, [(_, _, value)])] = read(encode([family], "")[0], openmetrics=False)
    assert math.isnan(value)


def test_bulk_samples_are_there_for_whoever_reads_families_the_usual_way() -> None:
    family = BulkGauge("cloudsvc_example", "x", LABELS)
    family.add(label_text(LABELS, ("a", "b")), ("a", "b"), 2)
    assert family.samples == [Sample("cloudsvc_example", {"department": "a", "zone": "b"}, 2)]
    with pytest.raises(TypeError):
        family.samples = [Sample("cloudsvc_example", {}, 1)]

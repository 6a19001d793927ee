"""component.yml validation, type mapping, typed config and live config updates."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retriever.types.vision import Image
from retriever.worker import ComponentError, WorkerConfig, WorkerError, config, run
from retriever.worker.component import component_from_dict, load_component

COMPONENT = """\
name: scaler
worker:
  input_types:
    - value: Double
    - Image
  output_types: [Double, "List[Int]"]
config_schema:
  factor: {type: Double, default: 2}
  mean: {type: "(Double, Double, Double)", default: [0.5, 0.5, 0.5]}
  language: {type: String, default: en}
  steps: Int
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "component.yml"
    p.write_text(text)
    return p


def test_component_yml_declares_typed_ports_and_config(tmp_path: Path) -> None:
    comp = load_component(_write(tmp_path, COMPONENT))
    assert comp.name == "scaler"
    assert [(p.name, p.type) for p in comp.inputs] == [("value", float),
                                                        ("input_1", Image)]
    assert [p.name for p in comp.outputs] == ["output_0", "output_1"]
    assert comp.outputs[1].type == list[int]
    cfg = WorkerConfig(comp.config)
    assert cfg.factor == 2.0 and isinstance(cfg.factor, float)
    assert cfg.mean == (0.5, 0.5, 0.5) and isinstance(cfg.mean, tuple)
    assert cfg.language == "en" and cfg.steps is None


def test_registered_payload_type_and_import_path() -> None:
    from retriever.types.registry import lookup

    comp = component_from_dict({"worker": {
        "input_type": "retriever/spatial/v1/Pose",
        "output_type": "numpy:ndarray"}})
    assert comp.inputs[0].type is lookup("retriever/spatial/v1/Pose")
    assert comp.outputs[0].type is np.ndarray


@pytest.mark.parametrize(("doc", "pattern", "code"), [
    ({"worker": {"input_type": "Double", "input_types": ["Double"]}},
     "either input_type or input_types", "RET870"),
    ({"worker": {"input_type": "Double"}, "config_schem": {}},
     r"config_schem: Extra inputs are not permitted", "RET870"),
    ({}, r"worker: Field required", "RET870"),
    ({"worker": {"input_type": "Doubel"}}, r"unknown type 'Doubel'", "RET871"),
    ({"worker": {"input_type": "acme/v1/Nope"}}, "no type is registered", "RET871"),
    ({"worker": {"input_type": "no_such_module:Thing"}}, "cannot import type", "RET871"),
    ({"worker": {"input_types": [{"a": "Double"}, {"a": "Int"}]}}, "used twice", "RET870"),
    ({"worker": {"input_types": [{"a": "Double", "b": "Int"}]}}, "one 'port_name", "RET870"),
    ({"worker": {"input_type": "Double"}, "config_schema": {"k": {"type": "Nope"}}},
     r"config_schema.k: unknown type", "RET871"),
    (["worker"], "expected a mapping", "RET870"),
])
def test_component_errors_are_clear(doc: Any, pattern: str, code: str) -> None:
    with pytest.raises(ComponentError, match=pattern) as err:
        component_from_dict(doc, "component.yml")
    assert err.value.code == code


def test_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(ComponentError, match="cannot read") as err:
        load_component(tmp_path / "missing.yml")
    assert err.value.code == "RET872"
    with pytest.raises(ComponentError, match="not valid YAML"):
        load_component(_write(tmp_path, "worker: [unclosed\n"))


def test_config_values_are_converted_and_checked() -> None:
    comp = component_from_dict({"worker": {"input_type": "Double"}, "config_schema": {
        "n": "Int", "flag": "Bool", "mean": "(Double, Double)",
        "need": {"type": "String", "required": True}}})
    cfg = WorkerConfig(comp.config, {"n": "3", "flag": "true", "mean": [1, 2], "need": "x"})
    assert (cfg.n, cfg.flag, cfg.mean) == (3, True, (1.0, 2.0))
    with pytest.raises(WorkerError, match="required"):
        WorkerConfig(comp.config, {})
    with pytest.raises(WorkerError, match="expected 2 items") as err:
        WorkerConfig(comp.config, {"need": "x", "mean": [1, 2, 3]})
    assert err.value.code == "RET882"
    with pytest.raises(WorkerError, match="unknown config key 'nn'"):
        cfg.update({"nn": 1})
    with pytest.raises(WorkerError, match="not an integer"):
        cfg.update({"n": 1.5})
    with pytest.raises(AttributeError, match="declared keys"):
        _ = cfg.missing


def test_config_sync_returns_changed_keys_after_live_update() -> None:
    comp = {"worker": {"input_type": "Double", "output_type": "Double"},
            "config_schema": {"factor": {"type": "Double", "default": 1},
                              "label": {"type": "String", "default": "a"}}}
    seen: list[dict[str, Any]] = []

    def worker(x: float) -> float:
        seen.append(config.sync())
        if x == 2.0:  # an operator changes the config while the worker runs
            config.update({"factor": 10, "label": "a"})
        return float(x * config.factor)

    assert run(worker, inputs=[[1.0, 2.0, 3.0]], component=comp) == [1.0, 20.0, 30.0]
    assert seen == [{}, {}, {"factor": 10.0}]


def test_config_file_is_watched_for_live_updates(tmp_path: Path) -> None:
    comp = component_from_dict({"worker": {"input_type": "Double"},
                                "config_schema": {"factor": {"type": "Double",
                                                             "default": 1}}})
    live = tmp_path / "live.yml"
    live.write_text("factor: 2\n")
    cfg = WorkerConfig(comp.config, watch=live)
    assert cfg.factor == 2.0 and cfg.sync() == {}
    live.write_text("factor: 5.5\n")
    st = live.stat()
    os.utime(live, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert cfg.sync() == {"factor": 5.5} and cfg.factor == 5.5
    assert cfg.sync() == {}


def test_short_payload_names_and_image_arrays() -> None:
    from retriever.types.vision import BoundingBox
    from retriever.worker.typemap import coerce_output, resolve_type

    assert resolve_type("BoundingBox") is BoundingBox and resolve_type("Image") is Image
    assert resolve_type("List[BoundingBox]") == list[BoundingBox]
    frame = np.zeros((4, 6, 3), np.uint8)
    wrapped = coerce_output(Image, frame)
    assert isinstance(wrapped, Image) and wrapped.encoding == "bgr8"
    assert wrapped.data is frame and wrapped.validate() is wrapped
    assert coerce_output(Image, np.zeros((4, 6), np.uint16)).encoding == "mono16"
    with pytest.raises(WorkerError, match="not an image") as err:
        coerce_output(Image, np.zeros((4, 6, 3), np.int64), "detect.output_1")
    assert err.value.code == "RET867" and "detect.output_1" in str(err.value)
    box = BoundingBox(x=1.0)
    assert coerce_output(BoundingBox, box) is box

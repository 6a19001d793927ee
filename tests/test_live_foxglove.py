"""The Foxglove live view: a client speaking the Foxglove WebSocket protocol, as the app
does, sees the channels and receives the messages of a run on real worker processes."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import retriever  # noqa: F401
from retriever.contract.errors import ConfigError
from retriever.record.fox_live import FoxgloveHub, FoxgloveObserver

from .dora_flows import dora_installed
from .vision_flows import scene, scene_pipeline

websockets = pytest.importorskip("websockets")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _watch(port: int, want: set[str], limit: float = 30.0, connect: float = 10.0
                 ) -> tuple[dict[str, Any], dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Connect like the Foxglove app, subscribe to every channel, collect messages until
    every topic in ``want`` sent one (or ``limit`` seconds passed)."""
    deadline = time.monotonic() + connect
    while True:
        try:
            ws = await websockets.connect(f"ws://127.0.0.1:{port}",
                                          subprotocols=["foxglove.websocket.v1"])
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
    async with ws:
        assert ws.subprotocol == "foxglove.websocket.v1"
        info = json.loads(await ws.recv())
        adv = json.loads(await ws.recv())
        channels = {c["id"]: c for c in adv["channels"]}
        await ws.send(json.dumps({"op": "subscribe", "subscriptions": [
            {"id": 1000 + cid, "channelId": cid} for cid in channels]}))
        got: dict[str, list[dict[str, Any]]] = {}
        end = time.monotonic() + limit
        while time.monotonic() < end and not want <= set(got):
            try:
                frame = await asyncio.wait_for(ws.recv(), 0.25)
            except TimeoutError:
                continue
            assert isinstance(frame, bytes)
            opcode, sub, stamp = struct.unpack_from("<BIQ", frame)
            assert opcode == 1 and abs(stamp - time.time_ns()) < 60e9  # wall-clock time
            got.setdefault(channels[sub - 1000]["topic"], []).append(json.loads(frame[13:]))
    return info, adv, got


def test_client_receives_channels_and_messages_from_worker_processes() -> None:
    port = _free_port()
    pipe, _, _ = scene_pipeline()
    handle = pipe.run(backend="multiprocessing", duration=60.0, blocking=False,
                      visualize=f"foxglove:{port}")
    try:
        info, adv, got = asyncio.run(_watch(port, {"/flows/sensors/out/image",
                                                   "/flows/sensors/out/speed",
                                                   "/flows/sink/in/image"}))
    finally:
        report = handle.stop()
    assert info["op"] == "serverInfo" and adv["op"] == "advertise"
    schemas = {c["topic"]: c["schemaName"] for c in adv["channels"]}
    assert schemas["/flows/sensors/out/image"] == "foxglove.RawImage"
    assert schemas["/flows/sensors/out/tf"] == "foxglove.FrameTransform"
    assert all(c["encoding"] == "json" and c["schemaEncoding"] == "jsonschema"
               for c in adv["channels"])
    image = got["/flows/sensors/out/image"][0]
    assert (image["width"], image["height"], image["encoding"], image["step"]) == (8, 6,
                                                                                  "bgr8", 24)
    assert got["/flows/sensors/out/speed"][0]["value"] >= 0.5
    # the sink's input (it samples the image it is triggered by), from its own worker,
    # on the topic and with the schema the MCAP recording uses for it
    assert schemas["/flows/sink/in/image"] == "foxglove.RawImage"
    assert schemas["/flows/sink/in/tfs"] == "foxglove.FrameTransforms"
    sampled = got["/flows/sink/in/image"][0]
    assert (sampled["width"], sampled["height"], sampled["encoding"]) == (8, 6, "bgr8")
    assert sampled["frame_id"] == "camera"
    assert report.flows["sensors"].steps > 0
    with socket.socket() as s:  # the server was stopped with the run
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_in_process_runs_serve_the_same_view() -> None:
    port = _free_port()
    pipe, _, _ = scene_pipeline()
    handle = pipe.run(backend="in-process", duration=60.0, blocking=False,
                      visualize=f"foxglove:{port}")
    try:
        _, adv, got = asyncio.run(_watch(port, {"/flows/sensors/out/pose",
                                                "/flows/sink/in/image"}))
    finally:
        handle.stop()
    topics = [c["topic"] for c in adv["channels"]]
    assert len(topics) == 20  # ten outputs of sensors, ten inputs of sink
    assert {t for t in topics if "/in/" in t} == {t.replace("sensors/out", "sink/in")
                                                  for t in topics if "/out/" in t}
    assert got["/flows/sensors/out/pose"][0]["frame_id"] == "map"
    assert got["/flows/sink/in/image"][0]["encoding"] == "bgr8"


def test_dora_workers_feed_the_same_view() -> None:
    if not dora_installed():
        pytest.skip("dora-rs / dora-rs-cli / pyarrow not installed")
    port = _free_port()
    pipe, _, _ = scene_pipeline()
    handle = pipe.run(backend="dora", duration=60.0, blocking=False,
                      visualize=f"foxglove:{port}", echo=False)
    try:
        _, adv, got = asyncio.run(_watch(port, {"/flows/sensors/out/image",
                                                "/flows/sensors/out/pose",
                                                "/flows/sink/in/image"}, limit=60.0))
    finally:
        report = handle.stop()
    schemas = {c["topic"]: c["schemaName"] for c in adv["channels"]}
    assert schemas["/flows/sensors/out/pose"] == "foxglove.PoseInFrame"
    image = got["/flows/sensors/out/image"][0]
    assert (image["width"], image["height"], image["encoding"]) == (8, 6, "bgr8")
    assert got["/flows/sensors/out/pose"][0]["frame_id"] == "map"
    assert got["/flows/sink/in/image"][0]["frame_id"] == "camera"  # from the sink's node
    assert report.flows["sensors"].steps > 0


def test_the_demo_serves_its_camera_to_foxglove() -> None:
    port = _free_port()
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-m", "retriever.cli.main", "demo",
                             "--camera-mode", "mock", "--duration", "30", "--visualize",
                             "foxglove", "--foxglove-port", str(port)], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _, adv, got = asyncio.run(_watch(port, {"/flows/camera/out/image",
                                                "/flows/detector/out/x",
                                                "/flows/detector/out/box"}, connect=60.0))
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    schemas = {c["topic"]: c["schemaName"] for c in adv["channels"]}
    assert schemas["/flows/camera/out/image"] == "foxglove.RawImage", out[-2000:]
    frame = got["/flows/camera/out/image"][0]
    assert (frame["width"], frame["height"], frame["encoding"]) == (320, 240, "bgr8")
    assert got["/flows/detector/out/x"][0]["value"] > 0
    # the detector's lone box is drawn over the image too
    assert schemas["/flows/detector/out/box"] == "foxglove.ImageAnnotations"
    assert len(got["/flows/detector/out/box"][0]["points"]) == 1


def test_without_a_client_workers_encode_nothing() -> None:
    pipe, _, _ = scene_pipeline()
    hub = FoxgloveHub(pipe.validate(), port=0)
    try:
        observer = FoxgloveObserver(hub.relay_address)
        calls: list[str] = []

        def counting(name: str, encode: Any) -> Any:
            def run(v: Any) -> bytes:
                calls.append(name)
                return encode(v)  # type: ignore[no-any-return]
            return run

        observer._ids = {t: (cid, counting(t, enc)) for t, (cid, enc) in observer._ids.items()}
        for k in range(50):
            observer.on_step("sensors", k, k * 0.1, None, vars(scene(k)))
        assert calls == [] and observer.dropped == 0 and observer._queue.empty()
        observer._subscribed = frozenset({1})  # as if a client subscribed to channel 1
        observer.on_step("sensors", 50, 5.0, None, vars(scene(50)))
        assert calls == ["/flows/sensors/out/image"]
        observer.close()
    finally:
        hub.close()


def test_a_taken_port_is_a_config_error() -> None:
    pipe, _, _ = scene_pipeline()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(ConfigError, match="cannot listen"):
            FoxgloveHub(pipe.validate(), port=s.getsockname()[1])

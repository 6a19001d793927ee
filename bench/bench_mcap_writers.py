"""The ``mcap`` Python writer (what retriever records with) beside the official
``foxglove-sdk`` writer, on the same data: chunked, zstd, 4 MiB chunks, indexed.

Run: ``.venv/bin/python bench/bench_mcap_writers.py [--small N] [--frames N]``.

- small messages: ``N`` JSON messages ``{"value": float}`` over 8 channels, written in
  batches as the recorder's writer process does;
- 640x480 frames: ``N`` BGR camera frames as ``foxglove.RawImage``: JSON with base64
  pixels through retriever's writer and through the SDK's JSON channels, and protobuf
  through the SDK's typed ``RawImageChannel`` (the SDK's native form).

Printed: time per message, and the file size. Why retriever keeps the ``mcap`` writer
whatever the figures: the SDK assigns message sequence numbers itself (retriever stores
the step index there) and logs through a process-wide context; see docs/recording.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import row

from retriever.record.layout import ChannelSpec
from retriever.record.mcap_io import CHUNK_SIZE, McapWriter, channel_form
from retriever.types.vision import Image

ORIGIN = 1_700_000_000_000_000_000


def _specs(kind: str, n: int, tp: Any) -> tuple[list[ChannelSpec], dict[str, Any]]:
    specs = [ChannelSpec(f"/flows/f/out/{kind}{i}", "f", "out", f"{kind}{i}", "t")
             for i in range(n)]
    return specs, {s.topic: tp for s in specs}


def ours_small(path: Path, n: int) -> float:
    specs, types = _specs("p", 8, float)
    w = McapWriter(path, {"log_time_origin_ns": ORIGIN}, specs, types, flush_every_step=False)
    rows = [(specs[i % 8].topic, i // 8, i / 8 / 30, i * 0.5) for i in range(n)]
    t0 = time.perf_counter()
    for k in range(0, n, 1024):
        w.write_rows(rows[k:k + 1024])
    w.close()
    return time.perf_counter() - t0


def ours_frames(path: Path, frames: list[Image]) -> float:
    specs, types = _specs("image", 1, Image)
    w = McapWriter(path, {"log_time_origin_ns": ORIGIN}, specs, types, flush_every_step=False)
    t0 = time.perf_counter()
    for k, img in enumerate(frames):
        w.begin_step(k, k / 30)
        w.write(specs[0].topic, img)
        w.end_step()
    w.close()
    return time.perf_counter() - t0


def _sdk_writer(path: Path) -> tuple[Any, Any]:
    import foxglove
    from foxglove.mcap import MCAPCompression, MCAPWriteOptions

    ctx = foxglove.Context()
    options = MCAPWriteOptions(compression=MCAPCompression.Zstd, chunk_size=CHUNK_SIZE)
    return ctx, foxglove.open_mcap(path, allow_overwrite=True, context=ctx,
                                   writer_options=options)


def sdk_small(path: Path, n: int) -> float:
    import foxglove
    import msgspec

    specs, types = _specs("p", 8, float)
    ctx, writer = _sdk_writer(path)
    channels = []
    for s in specs:
        form = channel_form(s, types[s.topic])
        schema = foxglove.Schema(name=form.schema_name, encoding="jsonschema",
                                 data=json.dumps(form.schema).encode())
        channels.append(foxglove.Channel(s.topic, schema=schema, message_encoding="json",
                                         context=ctx))
    enc = msgspec.json.Encoder()
    t0 = time.perf_counter()
    for i in range(n):
        channels[i % 8].log(enc.encode({"value": i * 0.5}),
                            log_time=ORIGIN + round(i / 8 / 30 * 1e9))
    writer.close()
    return time.perf_counter() - t0


def sdk_frames_json(path: Path, frames: list[Image]) -> float:
    import foxglove
    import msgspec

    from retriever.record.fox_known import raw_image
    from retriever.record.fox_schemas import RAW_IMAGE

    ctx, writer = _sdk_writer(path)
    schema = foxglove.Schema(name="foxglove.RawImage", encoding="jsonschema",
                             data=json.dumps(RAW_IMAGE).encode())
    channel = foxglove.Channel("/image", schema=schema, message_encoding="json", context=ctx)
    enc = msgspec.json.Encoder()
    t0 = time.perf_counter()
    for k, img in enumerate(frames):
        channel.log(enc.encode(raw_image(img)), log_time=ORIGIN + round(k / 30 * 1e9))
    writer.close()
    return time.perf_counter() - t0


def sdk_frames_protobuf(path: Path, frames: list[Image]) -> float:
    from foxglove.channels import RawImageChannel
    from foxglove.messages import RawImage, Timestamp

    ctx, writer = _sdk_writer(path)
    channel = RawImageChannel("/image", context=ctx)
    t0 = time.perf_counter()
    for k, img in enumerate(frames):
        msg = RawImage(timestamp=Timestamp(sec=k, nsec=0), frame_id="camera", width=img.width,
                       height=img.height, encoding=img.encoding, step=img.step,
                       data=img.data.tobytes())
        channel.log(msg, log_time=ORIGIN + round(k / 30 * 1e9))
    writer.close()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", type=int, default=40_000)
    ap.add_argument("--frames", type=int, default=90)
    args = ap.parse_args()
    try:
        import foxglove  # noqa: F401
    except ImportError:
        sys.exit("foxglove-sdk is not installed (pip install foxglove-sdk)")
    rng = np.random.default_rng(0)
    # camera-like frames: smooth content plus noise, so compression sees real work
    base = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    frames = [Image.from_bgr(np.clip(base.astype(np.int16) + rng.integers(
        -6, 7, base.shape), 0, 255).astype(np.uint8), "camera") for _ in range(args.frames)]
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        ours = ours_small(t / "a.mcap", args.small)
        sdk = sdk_small(t / "b.mcap", args.small)
        row(f"{args.small} small JSON messages: mcap writer",
            f"{ours / args.small * 1e6:6.2f} us/msg", "foxglove-sdk",
            f"{sdk / args.small * 1e6:6.2f} us/msg",
            f"files {(t / 'a.mcap').stat().st_size / 1e3:.0f} kB vs "
            f"{(t / 'b.mcap').stat().st_size / 1e3:.0f} kB")
        ours = ours_frames(t / "c.mcap", frames)
        sdk = sdk_frames_json(t / "d.mcap", frames)
        proto = sdk_frames_protobuf(t / "e.mcap", frames)
        n = args.frames
        row(f"{n} 640x480 RawImage, JSON: mcap writer", f"{ours / n * 1e3:6.2f} ms/frame",
            "foxglove-sdk JSON", f"{sdk / n * 1e3:6.2f} ms/frame",
            f"files {(t / 'c.mcap').stat().st_size / 1e6:.1f} MB vs "
            f"{(t / 'd.mcap').stat().st_size / 1e6:.1f} MB")
        row(f"{n} 640x480 RawImage: mcap writer (JSON)", f"{ours / n * 1e3:6.2f} ms/frame",
            "foxglove-sdk protobuf", f"{proto / n * 1e3:6.2f} ms/frame",
            f"files {(t / 'c.mcap').stat().st_size / 1e6:.1f} MB vs "
            f"{(t / 'e.mcap').stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()

"""Payload types: versioned spatial and data types, the type registry and JSON Schemas.

* :mod:`retriever.types.registry` - versioned names, lookup, ``json_schema``, JSON form.
* :mod:`retriever.types.spatial` - poses, transforms, twists, joint states (v1).
* :mod:`retriever.types.data` - events with lineage, event buffers, dataset export.
* :mod:`retriever.types.vision` - images with their encoding, compressed images, boxes,
  camera calibration (v1).
* :mod:`retriever.types.pointcloud` - point clouds with optional colours (v1).

Import the submodule you need; this package imports nothing heavy.
"""

"""Named registries of things built elsewhere: pipelines (``register_pipeline``)."""

from .pipeline import (
    PipelineEntry,
    RegistryError,
    build_ir,
    get_pipeline,
    list_pipelines,
    register_pipeline,
    unregister_pipeline,
)

__all__ = [
    "PipelineEntry",
    "RegistryError",
    "build_ir",
    "get_pipeline",
    "list_pipelines",
    "register_pipeline",
    "unregister_pipeline",
]

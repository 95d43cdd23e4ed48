"""A model atlas: OpenAI Microscope for your own model, as a static site that
opens from disk (a model page, a page per layer, a page per channel at
``layers/<layer>/<channel>.html``, a class index), built from the library's
own computations and resumable."""
from .build import AtlasReport, build_atlas, find_atlas, read_manifest, unit_page
from .pages import unit_path

__all__ = ["AtlasReport", "build_atlas", "find_atlas", "read_manifest", "unit_page", "unit_path"]

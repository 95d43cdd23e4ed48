"""What a network computes, layer by layer: receptive fields,
the layer table, activation maps, filter weights, top-activating dataset
patches and interval bounds of every unit."""
from .activations import ChannelHistograms, activations, channel_histograms, normalize_maps, spatial_layers
from .bounds import dead_channels, layer_bounds
from .filters import FilterWeights, filter_weights
from .receptive import effective_receptive_field, receptive_field, receptive_fields, unit_box
from .summary import Summary, format_summary, summarize
from .top_patches import (
           ContextCrops,
           TopPatches,
           context_crops,
           file_crops,
           patch_crops,
           top_patches,
           top_patches_files,
)

__all__ = ["ChannelHistograms", "channel_histograms", "activations",
           "normalize_maps", "spatial_layers", "dead_channels", "layer_bounds", "FilterWeights",
           "filter_weights", "effective_receptive_field", "receptive_field", "receptive_fields", "unit_box", "Summary",
           "format_summary", "summarize", "ContextCrops", "TopPatches", "context_crops", "file_crops", "patch_crops",
           "top_patches", "top_patches_files"]

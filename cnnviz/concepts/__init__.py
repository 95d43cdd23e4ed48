"""Concepts: whether a layer uses concepts a person names (TCAV, Kim et al.
2018) and which concepts a model found by itself for a class (CRAFT, Fel et
al. 2023). Concept and class images are uint8 pixels or image folders."""
from .craft import CraftResult, concept_maps, craft
from .maps import craft_maps
from .sets import ImageSet, class_images, image_set
from .tcav import TcavResult, tcav

__all__ = ["CraftResult", "ImageSet", "TcavResult", "class_images", "concept_maps", "craft", "craft_maps", "image_set",
           "tcav"]

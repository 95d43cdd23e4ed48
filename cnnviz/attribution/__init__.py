"""Attribution methods, one call shape ``method(model, images, target, **options)``
returning an :class:`Attribution` in the input's frame: the gradient family,
CAM and Score-CAM, occlusion, RISE and LIME, declared in :mod:`.registry`,
and their faithfulness (deletion and insertion)."""
from .base import Attribution
from .cam import gradcam, gradcam_plus_plus, guided_gradcam
from .faithfulness import Ranking, compare, curves
from .gradients import deconvnet, gradient_x_input, guided_backprop, integrated_gradients, saliency, smoothgrad
from .lime import lime
from .occlusion import occlusion
from .registry import DEFAULT_METHODS, METHODS, Method, Option, explain, explain_one, method
from .rise import rise
from .scorecam import scorecam

__all__ = ["Attribution", "deconvnet", "gradient_x_input", "guided_backprop", "integrated_gradients", "saliency",
           "smoothgrad", "gradcam", "gradcam_plus_plus", "guided_gradcam", "occlusion", "rise", "scorecam", "lime",
           "DEFAULT_METHODS", "METHODS", "Method", "Option", "explain", "explain_one", "method", "Ranking", "compare",
           "curves"]

"""The one Figure class cnnviz draws on: matplotlib's, with every text drawn
as written. File, folder and class names and titles come from users, and a
name such as ``a$\\b0$.png`` would be parsed as mathtext (and fail, or show
something else); cnnviz's own labels use no mathtext."""
from __future__ import annotations

from matplotlib import figure, text


class Figure(figure.Figure):
    def draw(self, renderer):
        for item in self.findobj(text.Text):
            item.set_parse_math(False)
        super().draw(renderer)

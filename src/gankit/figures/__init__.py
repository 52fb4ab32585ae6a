"""Figures: sample grids and scatter plots, training curves."""

from .curves import plot_curves
from .samples import image_grid, save_samples

__all__ = ["image_grid", "plot_curves", "save_samples"]

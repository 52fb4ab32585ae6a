"""Figures: sample grids and scatter plots, training curves."""

from gankit.figures.curves import plot_curves
from gankit.figures.samples import image_grid, save_samples

__all__ = ["image_grid", "plot_curves", "save_samples"]

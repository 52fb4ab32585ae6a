"""What loading an image folder used, skipped and left out: the report printed on stderr and the
full list written beside the cache (``KEY.files.tsv``, copied into each run as ``data-files.tsv``)."""

from __future__ import annotations

from dataclasses import dataclass, field

_MAX_LISTED = 20   # skipped files printed one per line; the rest are counted (all are in the list file)


@dataclass
class FolderReport:
    """What :func:`gankit.data.folder.load_folder` used, skipped and left out as duplicates (paths
    relative to the folder), how many images were upscaled or had transparency, and where the
    full list is."""

    root: str
    used: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (file, "same ... as X")
    upscaled: list[str] = field(default_factory=list)  # used images smaller than image_size
    transparent: list[str] = field(default_factory=list)  # used images with transparent pixels
    channels: str = "gray"
    image_size: int = 32
    alpha: str = "white"
    cache_file: str | None = None
    list_file: str | None = None
    from_cache: bool = False

    def summary(self) -> str:
        """A few lines for stderr: counts, each skipped file and why (the first 20), duplicates,
        upscaling, the alpha policy, and where the full list is."""
        mode = "grayscale" if self.channels == "gray" else "RGB"
        source = f" (cached in {self.cache_file})" if self.from_cache else ""
        lines = [f"gankit: folder {self.root}: {len(self.used)} images as {mode} "
                 f"{self.image_size}x{self.image_size}{source}; {len(self.skipped)} files skipped"
                 + (":" if self.skipped else "")]
        lines += [f"  skipped {name}: {why}" for name, why in self.skipped[:_MAX_LISTED]]
        if len(self.skipped) > _MAX_LISTED:
            lines.append(f"  ... and {len(self.skipped) - _MAX_LISTED} more (all in the list "
                         f"file below)")
        if self.duplicates:
            links = sum(why.startswith("same file") for _, why in self.duplicates)
            lines.append(f"gankit: folder: {len(self.duplicates)} duplicates left out ({links} "
                         f"paths to a file already used, e.g. links; "
                         f"{len(self.duplicates) - links} files with the same bytes as another)")
        if self.upscaled:
            lines.append(f"gankit: folder: {len(self.upscaled)} of {len(self.used)} images are "
                         f"smaller than {self.image_size}x{self.image_size} and were upscaled "
                         f"(blurry); a smaller --image-size avoids it")
        if self.transparent:
            what = {"white": "composited over white", "black": "composited over black"}
            lines.append(f"gankit: folder: {len(self.transparent)} images have transparent "
                         f"pixels, {what.get(self.alpha, 'left out')} (--image-alpha "
                         f"{self.alpha}; choose white, black or skip)")
        elif self.alpha == "skip":
            n = sum(why.startswith("has transparent") for _, why in self.skipped)
            if n:
                lines.append(f"gankit: folder: {n} images with transparent pixels left out "
                             f"(--image-alpha skip)")
        if self.list_file:
            lines.append(f"gankit: folder: full list of used, skipped and duplicate files: "
                         f"{self.list_file}")
        return "\n".join(lines)

    def table(self) -> str:
        """The full list, one file a line: ``status<TAB>path<TAB>detail`` (tab-separated)."""
        up, clear = set(self.upscaled), set(self.transparent)
        rows = [f"# gankit image folder {self.root}: {len(self.used)} used, {len(self.skipped)} "
                f"skipped, {len(self.duplicates)} duplicates; {len(self.upscaled)} upscaled to "
                f"{self.image_size}x{self.image_size}; {len(self.transparent)} with transparency "
                f"(image_alpha {self.alpha})", "# status\tfile\tdetail"]
        for name in self.used:
            notes = (["upscaled"] if name in up else []) + (
                [f"transparency: {self.alpha}"] if name in clear else [])
            rows.append(f"used\t{_tsv(name)}\t{'; '.join(notes)}")
        rows += [f"skipped\t{_tsv(name)}\t{_tsv(why)}" for name, why in self.skipped]
        rows += [f"duplicate\t{_tsv(name)}\t{_tsv(why)}" for name, why in self.duplicates]
        return "\n".join(rows) + "\n"


def _tsv(text: str) -> str:
    return text.replace("\t", " ").replace("\n", " ").replace("\r", " ")
